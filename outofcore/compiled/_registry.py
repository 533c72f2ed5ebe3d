"""Which fitted objects compile, and how: an explicit dict from class to converter.

A converter is ``converter(estimator, ctx) -> list of Node`` (see :class:`Context`); it reads the
estimator's fitted attributes only, so another class with scikit-learn's attribute names (such as
outofcore's own scalers and encoders) registers with the same converter: :func:`register`.

The registry is built on first use, importing scikit-learn and outofcore's estimators inside the
builder: a serving process that only loads saved models imports neither.
"""

import numpy as np

from . import _convert_encoders as enc
from . import _convert_linear as lin
from . import _convert_neural as neural
from . import _convert_preprocessing as pre
from . import _convert_trees as trees
from ._spec import Graph, Node

HEAD_OPS = frozenset({"linear_model", "gaussian_nb", "kmeans", "mlp", "trees"})
# Converters that read input columns themselves (categories), not numbers.
_READS_RAW = (enc.one_hot_encoder, enc.ordinal_encoder)
_REGISTRY = {}


# outofcore's own estimators, by module: the only names compiled/ uses from outside itself
# besides the helpers of _dask.py and _scores.py.
_OUTOFCORE = "outofcore.scalers", "outofcore.incremental"


def _table():
    """(converter, module, class names) of every supported class.

    Classes are looked up by name: one that a scikit-learn version no longer has (the
    PassiveAggressive estimators, removed in 1.10) is simply not registered.
    """
    scalers, incremental = _OUTOFCORE
    return [
        (pre.standard_scaler, "preprocessing", ["StandardScaler"]),
        (pre.minmax_scaler, "preprocessing", ["MinMaxScaler"]),
        (pre.maxabs_scaler, "preprocessing", ["MaxAbsScaler"]),
        (pre.robust_scaler, "preprocessing", ["RobustScaler"]),
        (pre.normalizer, "preprocessing", ["Normalizer"]),
        (pre.polynomial_features, "preprocessing", ["PolynomialFeatures"]),
        (pre.function_transformer, "preprocessing", ["FunctionTransformer"]),
        (pre.simple_imputer, "impute", ["SimpleImputer"]),
        (enc.one_hot_encoder, "preprocessing", ["OneHotEncoder"]),
        (enc.ordinal_encoder, "preprocessing", ["OrdinalEncoder"]),
        (pre.pca, "decomposition", ["PCA", "IncrementalPCA"]),
        (lin.linear_classifier, "linear_model", [
            "SGDClassifier", "Perceptron", "PassiveAggressiveClassifier", "LogisticRegression",
            "LogisticRegressionCV", "RidgeClassifier", "RidgeClassifierCV"]),
        (lin.linear_classifier, "svm", ["LinearSVC"]),
        (lin.linear_regressor, "linear_model", [
            "SGDRegressor", "PassiveAggressiveRegressor", "LinearRegression", "Ridge", "RidgeCV",
            "Lasso", "LassoCV", "ElasticNet", "ElasticNetCV"]),
        (lin.linear_regressor, "svm", ["LinearSVR"]),
        (lin.multinomial_nb, "naive_bayes", ["MultinomialNB"]),
        (lin.bernoulli_nb, "naive_bayes", ["BernoulliNB"]),
        (lin.gaussian_nb, "naive_bayes", ["GaussianNB"]),
        (lin.kmeans, "cluster", ["KMeans", "MiniBatchKMeans"]),
        (neural.mlp, "neural_network", ["MLPClassifier", "MLPRegressor"]),
        (trees.forest_classifier, "tree", ["DecisionTreeClassifier", "ExtraTreeClassifier"]),
        (trees.forest_classifier, "ensemble", ["RandomForestClassifier", "ExtraTreesClassifier"]),
        (trees.forest_regressor, "tree", ["DecisionTreeRegressor", "ExtraTreeRegressor"]),
        (trees.forest_regressor, "ensemble", ["RandomForestRegressor", "ExtraTreesRegressor"]),
        (trees.gradient_boosting, "ensemble", ["GradientBoostingClassifier",
                                               "GradientBoostingRegressor"]),
        (trees.hist_gradient_boosting, "ensemble", ["HistGradientBoostingClassifier",
                                                    "HistGradientBoostingRegressor"]),
        (_pipeline, "pipeline", ["Pipeline"]),
        (_column_transformer, "compose", ["ColumnTransformer"]),
        (pre.standard_scaler, scalers, ["StandardScaler"]),
        (pre.minmax_scaler, scalers, ["MinMaxScaler"]),
        (pre.maxabs_scaler, scalers, ["MaxAbsScaler"]),
        (_incremental, incremental, ["Incremental"]),
    ]


def _build():
    import importlib

    table = {}
    for converter, module, names in _table():
        mod = importlib.import_module(module if "." in module else f"sklearn.{module}")
        table.update({getattr(mod, n): converter for n in names if hasattr(mod, n)})
    return table


def registry():
    """The class-to-converter dict (built once)."""
    if not _REGISTRY:
        _REGISTRY.update(_build())
    return _REGISTRY


def register(cls, converter):
    """Compile instances of ``cls`` with ``converter`` (one of the converters above, or any
    ``converter(estimator, ctx) -> list of Node``)."""
    registry()[cls] = converter


def converter_of(name):
    """The converter registered for the class named ``name`` (to register a look-alike class)."""
    return next(conv for cls, conv in registry().items() if cls.__name__ == name)


class Context:
    """What a converter knows about where its estimator sits.

    Attributes
    ----------
    final : bool
        The estimator is the last step (its predictions are the model's).
    raw : list of int or None
        Input columns the estimator reads directly, or None when it reads another step's output.
    imputer : estimator or None
        A SimpleImputer just before an encoder, folded into its lookups.
    where : str
        Where the estimator sits, for messages.
    reads : list of int or None
        Set by converters of ``raw`` columns: the tensor columns (see :func:`convert`) they read.
    """

    def __init__(self, builder, raw, final, where, imputer=None):
        self.builder, self.raw, self.final, self.where, self.imputer = builder, raw, final, where, imputer
        self.reads = None

    def lookup(self, column, spec):
        """Add a tensor column holding input ``column`` mapped by ``spec``; returns its index."""
        self.builder.append({"source": int(column), "lookup": spec})
        return len(self.builder) - 1

    def convert(self, est):
        """Nodes of ``est`` placed where this estimator is (for estimators holding others)."""
        steps, head = _convert(est, self)
        return steps + ([head] if head is not None else [])


def _numeric(ctx):
    """The tensor columns of the raw input columns as numbers (shared between readers)."""
    found = {spec["source"]: i for i, spec in reversed(list(enumerate(ctx.builder)))
             if "lookup" not in spec}
    out = []
    for column in ctx.raw:
        if column not in found:
            ctx.builder.append({"source": int(column)})
            found[column] = len(ctx.builder) - 1
        out.append(found[column])
    return out


def _check_fitted(est, where):
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except Exception as exc:  # NotFittedError, or sklearn's TypeError for non-estimators
        raise ValueError(f"{where}{type(est).__name__} is not fitted; call fit before compiling it") from exc


def _convert(est, ctx):
    """``(steps, head)`` of one estimator; sets ``ctx.reads`` when it reads raw columns."""
    converter = registry().get(type(est))
    if converter is None:
        names = sorted({cls.__name__ for cls in registry()})
        raise TypeError(
            f"{ctx.where}cannot compile {type(est).__module__}.{type(est).__name__}: no converter for "
            f"it. Supported: {', '.join(names)} (and 'passthrough'/'drop' steps)."
        )
    _check_fitted(est, ctx.where)
    nodes = converter(est, ctx)
    if ctx.raw is not None and ctx.reads is None:
        ctx.reads = _numeric(ctx)
    head = nodes.pop() if nodes and nodes[-1].op in HEAD_OPS else None
    if head is not None and not ctx.final:
        raise TypeError(f"{ctx.where}{type(est).__name__} predicts but does not transform, so it can "
                        "only be the last step of a pipeline")
    return nodes, head


def _is_identity(est):
    return est is None or (isinstance(est, str) and est == "passthrough") or (
        type(est).__name__ == "FunctionTransformer" and est.func is None)


def _pipeline(pipe, ctx):
    named = [(name, est) for name, est in pipe.steps if not _is_identity(est)]
    nodes, raw, reads, head = [], ctx.raw, None, None
    skip = False
    for i, (name, est) in enumerate(named):
        if skip:
            skip = False
            continue
        last = ctx.final and i == len(named) - 1
        nxt = named[i + 1][1] if i + 1 < len(named) else None
        imputer = None
        if (raw is not None and type(est).__name__ == "SimpleImputer" and nxt is not None
                and registry().get(type(nxt)) in _READS_RAW and not est.add_indicator):
            imputer, est, name, skip = est, nxt, named[i + 1][0], True
            last = ctx.final and i + 1 == len(named) - 1
        sub = Context(ctx.builder, raw, last, f"{ctx.where}step {name!r} of the Pipeline: ", imputer)
        steps, sub_head = _convert(est, sub)
        if raw is not None:
            reads, raw = sub.reads, None
        nodes += steps
        head = sub_head if last else head
    ctx.reads = reads if reads is not None or ctx.raw is None else _numeric(ctx)
    return nodes + ([head] if head is not None else [])


def _incremental(model, ctx):
    sub = Context(ctx.builder, ctx.raw, ctx.final, f"{ctx.where}Incremental.estimator_: ")
    nodes = sub.convert(model.estimator_)
    ctx.reads = sub.reads
    return nodes


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


def _column_transformer(ct, ctx):
    """ColumnTransformer: each branch reads its columns; outputs side by side (``columns`` node).

    As the first step its branches read input columns, so they may hold encoders; the branch
    columns are then tensor columns (numbers, or the codes of a lookup).
    """
    branches, width = [], 0
    for name, trans, columns in ct.transformers_:
        idx = _column_indices(ct, columns)
        if (isinstance(trans, str) and trans == "drop") or not idx:
            continue
        raw = None if ctx.raw is None else [ctx.raw[i] for i in idx]
        sub = Context(ctx.builder, raw, False, f"{ctx.where}transformer {name!r} of the ColumnTransformer: ")
        if _is_identity(trans):
            chain, reads = [], (None if raw is None else _numeric(sub))
        else:
            chain, _ = _convert(trans, sub)
            reads = sub.reads
        n = len(idx)
        for node in chain:
            n = node.width(n)
        # A branch that is itself a ColumnTransformer reads every tensor column ("all": None).
        columns = idx if raw is None else (None if reads == "all" else reads)
        branches.append(Node("chain", {"columns": columns, "n_out": n}, children=chain))
        width += n
    ctx.reads = None if ctx.raw is None else "all"
    return [Node("columns", {"n_out": width, "mode": "concat"}, children=branches)]


def convert(model):
    """Convert a fitted model into a :class:`Graph` (input columns, transform steps, head)."""
    builder = []
    names = getattr(model, "feature_names_in_", None)
    _check_fitted(model, "")
    n_in = _n_features_in(model)
    ctx = Context(builder, list(range(n_in)), True, "")
    steps, head = _convert(model, ctx)
    if ctx.reads not in (None, "all"):
        builder[:] = [builder[i] for i in ctx.reads]  # the first step reads these, in this order
    if builder == [{"source": i} for i in range(n_in)]:
        builder = None
    return Graph(steps=steps, head=head, n_features_in=n_in,
                 feature_names_in=None if names is None else [str(n) for n in names],
                 source=type(model).__name__, inputs=builder)


def _n_features_in(model):
    # A Pipeline reads n_features_in_ from its first step, which may be 'passthrough'.
    for est in [model] + [est for _, est in getattr(model, "steps", [])]:
        if hasattr(est, "n_features_in_"):
            return int(est.n_features_in_)
    raise ValueError(f"{type(model).__name__} does not record its number of input features "
                     "(n_features_in_); fit it on a 2-D array or DataFrame")
