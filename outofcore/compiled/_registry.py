"""Which fitted objects compile, and how: an explicit dict from class to converter.

The registry is built on first use, importing scikit-learn and our own estimators inside the
builder: a serving process that only loads saved models never imports either.
"""

import numpy as np

from . import _convert_linear as lin
from . import _convert_neural as nn
from . import _convert_trees as trees
from ._spec import Graph, Node

HEAD_OPS = frozenset({"linear_model", "gaussian_nb", "kmeans", "mlp", "trees"})

_REGISTRY = {}


def _build_registry():
    from sklearn import cluster, decomposition, ensemble, linear_model, naive_bayes, neural_network
    from sklearn import preprocessing, svm, tree

    from outofcore.preprocessing import scalers

    table = {
        lin.standard_scaler: [preprocessing.StandardScaler, scalers.StandardScaler],
        lin.minmax_scaler: [preprocessing.MinMaxScaler, scalers.MinMaxScaler],
        lin.maxabs_scaler: [preprocessing.MaxAbsScaler, scalers.MaxAbsScaler],
        lin.function_transformer: [preprocessing.FunctionTransformer],
        lin.pca: [decomposition.PCA, decomposition.IncrementalPCA],
        lin.linear_classifier: [
            linear_model.SGDClassifier, linear_model.Perceptron,
            linear_model.PassiveAggressiveClassifier,
            linear_model.LogisticRegression, linear_model.LogisticRegressionCV,
            linear_model.RidgeClassifier, linear_model.RidgeClassifierCV, svm.LinearSVC,
        ],
        lin.linear_regressor: [
            linear_model.SGDRegressor, linear_model.PassiveAggressiveRegressor,
            linear_model.LinearRegression, linear_model.Ridge, linear_model.RidgeCV,
            linear_model.Lasso, linear_model.ElasticNet, svm.LinearSVR,
        ],
        lin.multinomial_nb: [naive_bayes.MultinomialNB],
        lin.gaussian_nb: [naive_bayes.GaussianNB],
        lin.kmeans: [cluster.KMeans, cluster.MiniBatchKMeans],
        nn.mlp: [neural_network.MLPClassifier, neural_network.MLPRegressor],
        trees.forest_classifier: [
            tree.DecisionTreeClassifier, tree.ExtraTreeClassifier,
            ensemble.RandomForestClassifier, ensemble.ExtraTreesClassifier,
        ],
        trees.forest_regressor: [
            tree.DecisionTreeRegressor, tree.ExtraTreeRegressor,
            ensemble.RandomForestRegressor, ensemble.ExtraTreesRegressor,
        ],
        trees.gradient_boosting: [
            ensemble.GradientBoostingClassifier, ensemble.GradientBoostingRegressor,
        ],
        trees.hist_gradient_boosting: [
            ensemble.HistGradientBoostingClassifier, ensemble.HistGradientBoostingRegressor,
        ],
    }
    registry = {cls: converter for converter, classes in table.items() for cls in classes}
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from outofcore.training.incremental import Incremental

    registry[Pipeline] = _pipeline
    registry[ColumnTransformer] = _column_transformer
    registry[Incremental] = _incremental
    return registry


def registry():
    """The class-to-converter dict (built once)."""
    if not _REGISTRY:
        _REGISTRY.update(_build_registry())
    return _REGISTRY


def supported_names():
    """Sorted class names that :func:`convert` accepts."""
    return sorted({cls.__name__ for cls in registry()})


def _check_fitted(est, where):
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except Exception as exc:  # NotFittedError, or sklearn's TypeError for non-estimators
        raise ValueError(
            f"{where}{type(est).__name__} is not fitted; call fit before compiling it"
        ) from exc


def _convert_one(est, final, where):
    """Nodes for one object: a list of transform steps and, when it predicts, a head node."""
    converter = registry().get(type(est))
    if converter is None:
        raise TypeError(
            f"{where}cannot compile {type(est).__module__}.{type(est).__name__}: no converter for it. "
            f"Supported: {', '.join(supported_names())} (and 'passthrough'/'drop' steps)."
        )
    _check_fitted(est, where)
    out = converter(est, final)
    steps, head = out if isinstance(out, tuple) else ([out], None)
    if head is None and steps and steps[-1].op in HEAD_OPS:
        head = steps.pop()
    if head is not None and not final:
        raise TypeError(
            f"{where}{type(est).__name__} predicts but does not transform, so it can only be the last "
            "step of a pipeline"
        )
    return steps, head


def _pipeline(pipe, final):
    steps, head = [], None
    named = [(name, est) for name, est in pipe.steps if est is not None and est != "passthrough"]
    for i, (name, est) in enumerate(named):
        last = final and i == len(named) - 1
        sub_steps, sub_head = _convert_one(est, last, f"step {name!r} of the Pipeline: ")
        steps += sub_steps
        head = sub_head if last else head
    return steps, head


def _incremental(model, final):
    return _convert_one(model.estimator_, final, "Incremental.estimator_: ")


def _column_indices(ct, columns):
    n = ct.n_features_in_
    spec = columns
    if isinstance(spec, (str, int, np.integer)):
        spec = [spec]
    if isinstance(spec, slice) and isinstance(spec.start or spec.stop, str):
        names = list(ct.feature_names_in_)
        stop = None if spec.stop is None else names.index(spec.stop) + 1  # label slices include stop
        spec = slice(None if spec.start is None else names.index(spec.start), stop)
    if not isinstance(spec, slice):
        spec = list(spec)
        if spec and isinstance(spec[0], str):
            names = list(ct.feature_names_in_)
            return [names.index(c) for c in spec]
        if spec and isinstance(spec[0], (bool, np.bool_)):
            return np.flatnonzero(spec).tolist()
    return np.arange(n)[spec].tolist()


def _column_transformer(ct, final):
    branches = []
    for name, trans, columns in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        idx = _column_indices(ct, columns)
        if not idx:
            continue
        if isinstance(trans, str) and trans == "passthrough":
            chain = []
        else:
            chain, head = _convert_one(trans, False, f"transformer {name!r} of the ColumnTransformer: ")
        n_out = _chain_width(chain, len(idx))
        branches.append(Node("chain", {"columns": idx, "n_out": n_out}, children=chain))
    n_out = sum(b.attrs["n_out"] for b in branches)
    return [Node("columns", {"n_out": n_out}, children=branches)], None


def _chain_width(chain, width):
    for node in chain:
        width = node.n_out
    return width


def _n_features_in(model):
    # A Pipeline reads n_features_in_ from its first step, which may be 'passthrough'.
    for est in [model] + [est for _, est in getattr(model, "steps", [])]:
        if hasattr(est, "n_features_in_"):
            return int(est.n_features_in_)
    raise ValueError(f"{type(model).__name__} does not record its number of input features "
                     "(n_features_in_); fit it on a 2-D array or DataFrame")


def convert(model):
    """Convert a fitted model into a :class:`Graph` (transform steps + final head)."""
    steps, head = _convert_one(model, True, "")
    names = getattr(model, "feature_names_in_", None)
    return Graph(
        steps=steps,
        head=head,
        n_features_in=_n_features_in(model),
        feature_names_in=None if names is None else [str(n) for n in names],
        source=type(model).__name__,
    )
