"""Converters for decision trees and tree ensembles.

Every supported model becomes one flat "forest" record: the nodes of all trees concatenated, each
node with ``feature``, ``threshold``, ``left``/``right`` child (-1 at a leaf), ``missing_left``
(where a NaN goes) and a ``value`` row that already carries the ensemble's scaling (1/n_trees for
averaging forests, the learning rate for gradient boosting). A compiled forest therefore only sums
leaf rows, adds ``base`` and applies the link named in ``attrs["link"]``.

HistGradientBoosting keeps its trees in ``_predictors`` and its intercept in
``_baseline_prediction``; scikit-learn has no public attribute for either, so those two private
names are read here (and only here).
"""

import numpy as np

from ._spec import Node, labels_to_json


def _depth(left, right):
    depth = np.zeros(len(left), dtype=np.int64)
    for node in range(len(left)):  # children always have larger indices than their parent
        if left[node] >= 0:
            depth[left[node]] = depth[right[node]] = depth[node] + 1
    return int(depth.max())


def _sklearn_tree(tree, value):
    """Arrays of one ``sklearn.tree._tree.Tree`` with the given per-node output rows."""
    left = tree.children_left.astype(np.int64)
    right = tree.children_right.astype(np.int64)
    leaf = left < 0
    return {
        "feature": np.where(leaf, 0, tree.feature).astype(np.int64),
        "threshold": np.where(leaf, 0.0, tree.threshold).astype(np.float64),
        "left": left,
        "right": right,
        "missing_left": np.asarray(tree.missing_go_to_left, dtype=bool) & ~leaf,
        "value": np.asarray(value, dtype=np.float64),
        "depth": int(tree.max_depth),
    }


def _forest(trees, n_out, attrs, base):
    offsets = np.cumsum([0] + [len(t["left"]) for t in trees])
    arrays = {"roots": offsets[:-1].astype(np.int64), "base": np.asarray(base, dtype=np.float64)}
    for key in ("feature", "threshold", "missing_left", "value"):
        arrays[key] = np.concatenate([t[key] for t in trees])
    for key in ("left", "right"):
        # Child indices become global positions in the concatenated arrays; leaves keep -1.
        arrays[key] = np.concatenate(
            [np.where(t[key] >= 0, t[key] + off, -1) for t, off in zip(trees, offsets)]
        )
    attrs = dict(attrs, n_out=int(n_out), n_trees=len(trees), max_depth=max(t["depth"] for t in trees))
    return Node("trees", attrs, arrays)


def _classifier_proba(tree, n_classes, weight):
    value = tree.value
    if value.shape[1] != 1:
        raise ValueError("multi-output tree classifiers are not supported by compiled models")
    value = value[:, 0, :n_classes].astype(np.float64)
    total = value.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0  # sklearn's predict_proba leaves all-zero rows at zero
    return value / total * weight


def _classifier_attrs(est, output, methods):
    return {
        "task": "classifier",
        "classes": labels_to_json(est.classes_),
        "output": output,
        "float32_input": True,
        "methods": [m for m in methods if hasattr(est, m)],
    }


def forest_classifier(est, final=True):
    """DecisionTreeClassifier, RandomForestClassifier, ExtraTreesClassifier: mean class proportions."""
    members = getattr(est, "estimators_", [est])
    n_classes = len(est.classes_)
    if np.ndim(est.classes_[0]) != 0:
        raise ValueError(f"multi-output {type(est).__name__} is not supported by compiled models")
    trees = [_sklearn_tree(m.tree_, _classifier_proba(m.tree_, n_classes, 1.0 / len(members)))
             for m in members]
    attrs = _classifier_attrs(est, "proba", ["predict", "predict_proba", "score"])
    return _forest(trees, n_classes, attrs, np.zeros(n_classes))


def forest_regressor(est, final=True):
    """DecisionTreeRegressor, RandomForestRegressor, ExtraTreesRegressor: mean leaf values."""
    members = getattr(est, "estimators_", [est])
    n_out = members[0].tree_.value.shape[1]
    trees = [_sklearn_tree(m.tree_, m.tree_.value[:, :, 0] / len(members)) for m in members]
    attrs = {"task": "regressor", "output": "value", "ravel": bool(n_out == 1),
             "float32_input": True, "methods": ["predict", "score"]}
    return _forest(trees, n_out, attrs, np.zeros(n_out))


def _gb_base(est, trees, n_out):
    """The constant raw prediction of a GradientBoosting model's ``init_`` estimator.

    Only a constant init (the default dummy estimator, or ``'zero'``) compiles. Its value is read
    back through public methods: the decision function of one row minus what the trees add to it.
    """
    if isinstance(est.init_, str) and est.init_ == "zero":
        return np.zeros(n_out)
    if type(est.init_).__name__ not in ("DummyClassifier", "DummyRegressor"):
        raise ValueError(
            f"{type(est).__name__}(init={type(est.init_).__name__}(...)) cannot be compiled: the init "
            "estimator must be constant (the default, or init='zero')"
        )
    row = np.zeros((1, est.n_features_in_), dtype=np.float32)
    raw = np.asarray(est.decision_function(row) if hasattr(est, "classes_") else est.predict(row),
                     dtype=np.float64).reshape(n_out)
    added = np.zeros(n_out)
    for stage in est.estimators_:
        for k, member in enumerate(stage):
            added[k] += est.learning_rate * member.predict(row)[0]
    return raw - added


def gradient_boosting(est, final=True):
    """GradientBoostingClassifier and GradientBoostingRegressor: init + learning_rate * sum of trees."""
    n_out = est.estimators_.shape[1]
    trees = []
    for stage in est.estimators_:
        for k, member in enumerate(stage):
            value = np.zeros((member.tree_.node_count, n_out))
            value[:, k] = member.tree_.value[:, 0, 0] * est.learning_rate
            trees.append(_sklearn_tree(member.tree_, value))
    if hasattr(est, "classes_"):
        link = "softmax" if n_out > 1 else ("exp_logistic" if est.loss == "exponential" else "logistic")
        attrs = _classifier_attrs(est, "raw", ["predict", "predict_proba", "decision_function", "score"])
        attrs.update(link=link, binary_rule="ge")
    else:
        attrs = {"task": "regressor", "output": "raw", "link": "identity", "ravel": True,
                 "float32_input": True, "methods": ["predict", "score"]}
    # The init estimator is read through predict, which needs every tree: done last, on the record.
    return _forest(trees, n_out, attrs, _gb_base(est, trees, n_out))


def _hgb_tree(nodes):
    leaf = nodes["is_leaf"].astype(bool)
    left = np.where(leaf, -1, nodes["left"].astype(np.int64))
    right = np.where(leaf, -1, nodes["right"].astype(np.int64))
    return {
        "feature": np.where(leaf, 0, nodes["feature_idx"]).astype(np.int64),
        "threshold": np.where(leaf, 0.0, nodes["num_threshold"]).astype(np.float64),
        "left": left,
        "right": right,
        "missing_left": nodes["missing_go_to_left"].astype(bool) & ~leaf,
        "depth": _depth(left, right),
    }


def hist_gradient_boosting(est, final=True):
    """HistGradientBoostingClassifier and Regressor, predicting from raw (unbinned) features."""
    categorical = getattr(est, "is_categorical_", None)
    if categorical is not None and np.any(categorical):
        raise ValueError(
            f"{type(est).__name__} was fitted with categorical features (columns "
            f"{np.flatnonzero(categorical).tolist()}); compiled models support numeric splits only: "
            "encode those columns before the model (e.g. one-hot) or refit without categorical_features"
        )
    n_out = est.n_trees_per_iteration_
    trees = []
    for stage in est._predictors:
        for k, predictor in enumerate(stage):
            tree = _hgb_tree(predictor.nodes)
            tree["value"] = np.zeros((len(predictor.nodes), n_out))
            # Leaf values already include the learning rate (sklearn applies it while growing).
            tree["value"][:, k] = np.where(predictor.nodes["is_leaf"], predictor.nodes["value"], 0.0)
            trees.append(tree)
    base = np.asarray(est._baseline_prediction, dtype=np.float64).reshape(n_out)
    if hasattr(est, "classes_"):
        attrs = _classifier_attrs(est, "raw", ["predict", "predict_proba", "decision_function", "score"])
        attrs.update(link="softmax" if n_out > 1 else "logistic", binary_rule="gt", float32_input=False)
    else:
        link = "exp" if est.loss in ("poisson", "gamma") else "identity"
        attrs = {"task": "regressor", "output": "raw", "link": link, "ravel": True,
                 "float32_input": False, "methods": ["predict", "score"]}
    return _forest(trees, n_out, attrs, base)
