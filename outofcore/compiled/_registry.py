"""Which fitted objects compile, and how: an explicit dict from class to converter.

A converter is ``converter(estimator, ctx) -> list of Node`` (see :class:`Context`) and reads
fitted attributes only, so a class with scikit-learn's attribute names (outofcore's scalers and
encoders) registers with the same converter (:func:`register`). Built on first use: a serving
process that only loads saved models imports neither scikit-learn nor outofcore's estimators.
"""

import importlib

import numpy as np

from . import _convert_encoders as enc
from . import _convert_models as lin
from . import _convert_preprocessing as pre
from . import _convert_trees as trees
from ._spec import Graph, Node

HEAD_OPS = frozenset({"linear_model", "gaussian_nb", "kmeans", "mlp", "trees"})
# Converters that read input columns themselves (categories), not numbers.
_READS_RAW = (enc.one_hot_encoder, enc.ordinal_encoder)
_REGISTRY = {}


def _table():
    """(converter, classes) of every supported class: ``module.Class`` names, scikit-learn's
    relative to ``sklearn``, looked up by name: one that a scikit-learn version no longer has (the
    PassiveAggressive estimators, removed in 1.10) is simply not registered."""
    return [
        (pre.standard_scaler, "preprocessing.StandardScaler outofcore.preprocessing.scalers.StandardScaler"),
        (pre.minmax_scaler, "preprocessing.MinMaxScaler outofcore.preprocessing.scalers.MinMaxScaler"),
        (pre.maxabs_scaler, "preprocessing.MaxAbsScaler outofcore.preprocessing.scalers.MaxAbsScaler"),
        (pre.robust_scaler, "preprocessing.RobustScaler"),
        (pre.normalizer, "preprocessing.Normalizer"),
        (pre.polynomial_features, "preprocessing.PolynomialFeatures"),
        (pre.function_transformer, "preprocessing.FunctionTransformer"),
        (pre.date_time_features, "outofcore.preprocessing.dates.DateTimeFeatures"),
        (pre.simple_imputer, "impute.SimpleImputer outofcore.preprocessing.impute.SimpleImputer"),
        (enc.one_hot_encoder, "preprocessing.OneHotEncoder outofcore.preprocessing.encoders.OneHotEncoder"),
        (enc.ordinal_encoder, "preprocessing.OrdinalEncoder outofcore.preprocessing.encoders.OrdinalEncoder"),
        (pre.pca, "decomposition.PCA decomposition.IncrementalPCA"),
        (lin.linear_model, "linear_model.SGDClassifier linear_model.Perceptron "
         "linear_model.PassiveAggressiveClassifier linear_model.LogisticRegression "
         "linear_model.LogisticRegressionCV linear_model.RidgeClassifier linear_model.RidgeClassifierCV "
         "svm.LinearSVC linear_model.SGDRegressor linear_model.PassiveAggressiveRegressor "
         "linear_model.LinearRegression linear_model.Ridge linear_model.RidgeCV linear_model.Lasso "
         "linear_model.LassoCV linear_model.ElasticNet linear_model.ElasticNetCV svm.LinearSVR"),
        (lin.multinomial_nb, "naive_bayes.MultinomialNB"),
        (lin.bernoulli_nb, "naive_bayes.BernoulliNB"),
        (lin.gaussian_nb, "naive_bayes.GaussianNB"),
        (lin.kmeans, "cluster.KMeans cluster.MiniBatchKMeans"),
        (lin.mlp, "neural_network.MLPClassifier neural_network.MLPRegressor"),
        (trees.forest, "tree.DecisionTreeClassifier tree.ExtraTreeClassifier ensemble.RandomForestClassifier "
         "ensemble.ExtraTreesClassifier tree.DecisionTreeRegressor tree.ExtraTreeRegressor "
         "ensemble.RandomForestRegressor ensemble.ExtraTreesRegressor"),
        (trees.gradient_boosting, "ensemble.GradientBoostingClassifier ensemble.GradientBoostingRegressor"),
        (trees.hist_gradient_boosting, "ensemble.HistGradientBoostingClassifier "
         "ensemble.HistGradientBoostingRegressor"),
        (_pipeline, "pipeline.Pipeline"),
        (_column_transformer, "compose.ColumnTransformer outofcore.preprocessing.compose.ColumnTransformer"),
        (_incremental, "outofcore.training.incremental.Incremental"),
    ]


def registry():
    """The class-to-converter dict, built on first use."""
    if not _REGISTRY:
        table = {}
        for converter, names in _table():
            for name in names.split():
                module, cls = (name if name.startswith("outofcore") else f"sklearn.{name}").rsplit(".", 1)
                mod = importlib.import_module(module)
                if hasattr(mod, cls):
                    table[getattr(mod, cls)] = converter
        _REGISTRY.update(table)
    return _REGISTRY


def register(cls, converter):
    """Compile instances of ``cls`` with ``converter``: any ``converter(estimator, ctx) -> list of
    Node``, such as the one of a scikit-learn class whose fitted attributes ``cls`` shares:
    ``register(ooc.OneHotEncoder, registry()[sklearn.preprocessing.OneHotEncoder])``."""
    registry()[cls] = converter


class Context:
    """Where an estimator sits: ``final`` (it is the last step), ``raw`` (the input columns it
    reads directly, or None after another step), ``imputer`` (a SimpleImputer just before an
    encoder, folded into its lookups), ``where`` (for messages). Converters of ``raw`` columns
    set ``reads``: the tensor columns (see :func:`convert`) they read, each made by :meth:`add`."""

    def __init__(self, builder, raw, final, where, imputer=None):
        self.builder, self.raw, self.final, self.where, self.imputer = builder, raw, final, where, imputer
        self.reads = None

    def add(self, spec):
        """Add the tensor column ``spec`` (an input spec of :class:`Graph`); returns its index."""
        self.builder.append(spec)
        return len(self.builder) - 1

    def convert(self, est):
        """Nodes of ``est`` placed where this estimator is (for estimators holding others)."""
        return _convert(est, self)


def _numeric(ctx):
    """The tensor columns of the raw input columns as numbers (shared between readers)."""
    found = {spec["source"]: i for i, spec in reversed(list(enumerate(ctx.builder)))
             if len(spec) == 1}  # {"source": i} alone: the column as numbers
    for column in ctx.raw:
        if column not in found:
            found[column] = ctx.add({"source": int(column)})
    return [found[column] for column in ctx.raw]


def _check_fitted(est, where):
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except Exception as exc:  # NotFittedError, or sklearn's TypeError for non-estimators
        raise ValueError(f"{where}{type(est).__name__} is not fitted; call fit before compiling it") from exc


def _convert(est, ctx):
    """Nodes of one estimator, its head last; sets ``ctx.reads`` when it reads raw columns."""
    converter = registry().get(type(est))
    if converter is None:
        names = sorted({cls.__name__ for cls in registry()})
        raise TypeError(
            f"{ctx.where}cannot compile {type(est).__module__}.{type(est).__name__}: no converter for "
            f"it. Supported: {', '.join(names)} (and 'passthrough'/'drop' steps).")
    _check_fitted(est, ctx.where)
    nodes = converter(est, ctx)
    if ctx.raw is not None and ctx.reads is None:
        ctx.reads = _numeric(ctx)
    if nodes and nodes[-1].op in HEAD_OPS and not ctx.final:
        raise TypeError(f"{ctx.where}{type(est).__name__} predicts but does not transform, so it can "
                        "only be the last step of a pipeline")
    return nodes


def _is_identity(est):
    return est in (None, "passthrough") or (type(est).__name__ == "FunctionTransformer" and est.func is None)


def _pipeline(pipe, ctx):
    named = [(name, est) for name, est in pipe.steps if not _is_identity(est)]
    nodes, raw, i = [], ctx.raw, 0
    while i < len(named):
        (name, est), imputer = named[i], None
        if (raw is not None and type(est).__name__ == "SimpleImputer" and i + 1 < len(named)
                and registry().get(type(named[i + 1][1])) in _READS_RAW and not est.add_indicator):
            imputer, (name, est), i = est, named[i + 1], i + 1  # folds into the encoder's lookups
        last = ctx.final and i == len(named) - 1
        sub = Context(ctx.builder, raw, last, f"{ctx.where}step {name!r} of the Pipeline: ", imputer)
        nodes += sub.convert(est)  # only the last step may end in a head
        if raw is not None:  # the first step reads the input columns
            ctx.reads, raw = sub.reads, None
        i += 1
    return nodes


def _incremental(model, ctx):
    ctx.where += "Incremental.estimator_: "  # the wrapped estimator converts in its place
    return ctx.convert(model.estimator_)


def _column_indices(ct, spec):
    """Input column indices of a ColumnTransformer's column selection (names, indices, a slice
    of either, or a boolean mask)."""
    names = list(getattr(ct, "feature_names_in_", []))
    spec = [spec] if isinstance(spec, (str, int, np.integer)) else spec
    if isinstance(spec, slice) and isinstance(spec.start or spec.stop, str):
        stop = None if spec.stop is None else names.index(spec.stop) + 1  # label slices include stop
        spec = slice(None if spec.start is None else names.index(spec.start), stop)
    if not isinstance(spec, slice):
        spec = list(spec)
        if spec and isinstance(spec[0], str):
            return [names.index(c) for c in spec]
        if spec and isinstance(spec[0], (bool, np.bool_)):
            return np.flatnonzero(spec).tolist()
    return np.arange(ct.n_features_in_)[spec].tolist()


def _column_transformer(ct, ctx):
    """ColumnTransformer: each branch reads its columns; outputs side by side (``columns`` node).
    As the first step its branches read input columns, so they may hold encoders; the branch
    columns are then tensor columns (numbers, or the codes of a lookup)."""
    branches, width = [], 0
    for name, trans, columns in ct.transformers_:
        idx = _column_indices(ct, columns)
        if trans == "drop" or not idx:
            continue
        raw = None if ctx.raw is None else [ctx.raw[i] for i in idx]
        sub = Context(ctx.builder, raw, False, f"{ctx.where}transformer {name!r} of the ColumnTransformer: ")
        chain = [] if _is_identity(trans) else _convert(trans, sub)
        reads = _numeric(sub) if raw is not None and sub.reads is None else sub.reads
        n = len(reads) if isinstance(reads, list) else len(idx)  # lookups may widen (dates)
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
    names = getattr(model, "feature_names_in_", None)
    _check_fitted(model, "")
    n_in = _n_features_in(model)
    ctx = Context([], list(range(n_in)), True, "")
    steps = _convert(model, ctx)
    head = steps.pop() if steps and steps[-1].op in HEAD_OPS else None
    # The first step reads these tensor columns, in this order.
    inputs = ctx.builder if ctx.reads == "all" else [ctx.builder[i] for i in ctx.reads]
    return Graph(steps=steps, head=head, n_features_in=n_in,
                 feature_names_in=None if names is None else [str(n) for n in names], source=type(model).__name__,
                 inputs=None if inputs == [{"source": i} for i in range(n_in)] else inputs)


def _n_features_in(model):
    # A Pipeline reads n_features_in_ from its first step, which may be 'passthrough'.
    for est in [model] + [est for _, est in getattr(model, "steps", [])]:
        if hasattr(est, "n_features_in_"):
            return int(est.n_features_in_)
    raise ValueError(f"{type(model).__name__} does not record its number of input features "
                     "(n_features_in_); fit it on a 2-D array or DataFrame")
