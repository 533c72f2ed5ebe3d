"""Converters for decision trees and tree ensembles: one flat node table per model.

Trees are renumbered breadth first, so a node's children are neighbours, and concatenated. Per
node: ``feature``, ``threshold``, ``left`` (the first child; a leaf points to itself, threshold
+inf), ``nan_right`` (NaN takes the second child), ``cat`` (the ``bitsets`` row of a categorical
split, else -1) and a ``value`` row carrying the ensemble's scaling. A walk is
``node = left[node] + goes_right``; a prediction, the leaf rows summed plus ``base``, then the link.

HistGradientBoosting keeps its trees in ``_predictors``, its intercept in
``_baseline_prediction`` and its categorical encoding in ``_preprocessor``: no public attribute
holds them, so these private names are read here, and only here.
"""

import numpy as np

from ._convert_models import head_attrs
from ._spec import Node


def _breadth_first(left, right):
    """The nodes in breadth-first order, the new position of each node, and the depth."""
    levels, frontier = [np.zeros(1, np.int64)], np.zeros(1, np.int64)
    while True:
        inner = frontier[left[frontier] >= 0]
        if not len(inner):
            break
        frontier = np.stack([left[inner], right[inner]], axis=1).ravel()
        levels.append(frontier)
    order = np.concatenate(levels)
    position = np.empty(len(left), np.int64)
    position[order] = np.arange(len(order))
    return order, position, len(levels) - 1


def _tree(left, right, feature, threshold, nan_left, value, cat=None):
    left, right = np.asarray(left, np.int64), np.asarray(right, np.int64)
    new, position, depth = _breadth_first(left, right)
    is_leaf = left[new] < 0
    return {"depth": depth,
            "left": np.where(is_leaf, np.arange(len(left)), position[np.maximum(left[new], 0)]),
            "feature": np.where(is_leaf, 0, np.asarray(feature)[new]),
            "threshold": np.where(is_leaf, np.inf, np.asarray(threshold, np.float64)[new]),
            "nan_right": ~np.asarray(nan_left, bool)[new] & ~is_leaf,
            "cat": np.full(len(left), -1) if cat is None else np.where(is_leaf, -1, np.asarray(cat)[new]),
            "value": np.asarray(value, np.float64)[new]}


def _forest(trees, n_out, attrs, base, bitsets=None):
    sizes = [len(t["left"]) for t in trees]
    offsets = np.cumsum([0] + sizes)[:-1]
    arrays = {"roots": offsets.astype(np.int32),
              "depth": np.array([t["depth"] for t in trees], np.int32),
              "base": np.asarray(base, np.float64),
              "left": np.concatenate([t["left"] + o for t, o in zip(trees, offsets)]).astype(np.int32),
              "feature": np.concatenate([t["feature"] for t in trees]).astype(np.int32),
              "threshold": np.concatenate([t["threshold"] for t in trees]),
              "nan_right": np.concatenate([t["nan_right"] for t in trees]),
              "cat": np.concatenate([t["cat"] for t in trees]).astype(np.int32),
              "value": np.concatenate([t["value"] for t in trees]),
              "bitsets": np.zeros((1, 8), np.uint32) if bitsets is None else bitsets}
    attrs = dict(attrs, n_out=int(n_out), max_depth=int(arrays["depth"].max()),
                 categorical=bitsets is not None)
    return Node("trees", attrs, arrays)


def _sklearn_tree(tree, value):
    return _tree(tree.children_left, tree.children_right, tree.feature, tree.threshold,
                 tree.missing_go_to_left, value)


def _attrs(est, n_out, output, accepts, compare="float32", **more):
    """Head attrs of a tree model. Classic scikit-learn trees compare float32(x) with float64
    thresholds (``compare="float32"``)."""
    return head_attrs(est, ("predict", "predict_proba", "decision_function", "score"), n_out == 1,
                      output=output, compare=compare, accepts=accepts, **more)


def forest(est, ctx):
    """DecisionTree, RandomForest and ExtraTrees: mean leaf values (regressors) or mean class
    proportions (classifiers)."""
    members = getattr(est, "estimators_", [est])
    n_out, proba = members[0].tree_.value.shape[1], hasattr(est, "classes_")
    if proba and (np.ndim(est.classes_[0]) != 0 or n_out != 1):
        raise ValueError(f"multi-output {type(est).__name__} is not supported by compiled models")
    n_out = len(est.classes_) if proba else n_out
    trees = []
    for m in members:
        value = m.tree_.value[:, 0, :n_out] if proba else m.tree_.value[:, :, 0]
        if proba:  # class proportions; scikit-learn's predict_proba leaves all-zero rows at zero
            total = value.sum(axis=1, keepdims=True)
            value = value / np.where(total == 0, 1.0, total)
        trees.append(_sklearn_tree(m.tree_, value / len(members)))
    return [_forest(trees, n_out, _attrs(est, n_out, "proba" if proba else "value", "nan"), np.zeros(n_out))]


def _gb_base(est, n_out):
    """The constant raw prediction of a GradientBoosting model's ``init_`` estimator.

    Only a constant init (the default dummy estimator, or ``'zero'``) compiles. Its value is read
    back through public methods: the decision function of one row minus what the trees add to it.
    """
    if isinstance(est.init_, str) and est.init_ == "zero":
        return np.zeros(n_out)
    if type(est.init_).__name__ not in ("DummyClassifier", "DummyRegressor"):
        raise ValueError(
            f"{type(est).__name__}(init={type(est.init_).__name__}(...)) cannot be compiled: the init "
            "estimator must be constant (the default, or init='zero')")
    row = np.zeros((1, est.n_features_in_), dtype=np.float32)
    raw = np.asarray(est.decision_function(row) if hasattr(est, "classes_") else est.predict(row),
                     dtype=np.float64).reshape(n_out)
    added = np.zeros(n_out)
    for stage in est.estimators_:
        for k, member in enumerate(stage):
            added[k] += est.learning_rate * member.predict(row)[0]
    return raw - added


def gradient_boosting(est, ctx):
    """GradientBoosting classifier and regressor: init + learning_rate * sum of trees."""
    n_out = est.estimators_.shape[1]
    trees = []
    for stage in est.estimators_:
        for k, member in enumerate(stage):
            value = np.zeros((member.tree_.node_count, n_out))
            value[:, k] = member.tree_.value[:, 0, 0] * est.learning_rate
            trees.append(_sklearn_tree(member.tree_, value))
    link = "identity"
    if hasattr(est, "classes_"):
        link = "softmax" if n_out > 1 else ("exp_logistic" if est.loss == "exponential" else "logistic")
    attrs = _attrs(est, n_out, "raw", "finite", link=link, binary_rule="ge")
    return [_forest(trees, n_out, attrs, _gb_base(est, n_out))]


def hist_gradient_boosting(est, ctx):
    """HistGradientBoosting classifier and regressor, on raw (unbinned) features.

    With categorical features scikit-learn ordinal-encodes them first (unknown and missing
    categories become NaN) and puts them before the numeric columns; that encoder compiles like
    any ColumnTransformer, and each categorical split sends the categories in its bitset left.
    """
    steps = [] if est._preprocessor is None else ctx.convert(est._preprocessor)
    n_out = est.n_trees_per_iteration_
    trees, bitsets = [], []
    for stage in est._predictors:
        for k, predictor in enumerate(stage):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            value = np.zeros((len(nodes), n_out))
            # Leaf values already include the learning rate (scikit-learn applies it while growing).
            value[:, k] = np.where(leaf, nodes["value"], 0.0)
            cat = np.where(nodes["is_categorical"].astype(bool),
                           nodes["bitset_idx"].astype(np.int64) + sum(len(b) for b in bitsets), -1)
            bitsets.append(np.asarray(predictor.raw_left_cat_bitsets, np.uint32).reshape(-1, 8))
            # A NaN threshold (a bin edge between -inf and inf) sends every number right (``x <= nan``
            # is false): children swapped and the threshold +inf send them to the same child.
            flip = ~leaf & (cat < 0) & np.isnan(nodes["num_threshold"])
            left, right = nodes["left"].astype(np.int64), nodes["right"].astype(np.int64)
            trees.append(_tree(np.where(leaf, -1, np.where(flip, right, left)),
                               np.where(leaf, -1, np.where(flip, left, right)), nodes["feature_idx"],
                               np.where(flip, np.inf, nodes["num_threshold"]),
                               nodes["missing_go_to_left"].astype(bool) ^ flip, value, cat))
    bitsets = np.concatenate(bitsets) if est._preprocessor is not None else None
    base = np.asarray(est._baseline_prediction, dtype=np.float64).reshape(n_out)
    # HistGradientBoosting compares float64 input with float64 thresholds: "input" compares in
    # the dtype the input arrives in, exactly.
    link = "exp" if est.loss in ("poisson", "gamma") else "identity"
    if hasattr(est, "classes_"):
        link = "softmax" if n_out > 1 else "logistic"
    attrs = _attrs(est, n_out, "raw", "any", "input", link=link, binary_rule="gt")
    return steps + [_forest(trees, n_out, attrs, base, bitsets)]
