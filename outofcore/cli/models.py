"""The pipelines the ``outofcore`` command trains: model and scaler tables, ``--param`` values.

``MODELS`` maps each ``--model`` name to a scikit-learn class and its default parameters,
``SCALERS`` each ``--scaler`` name to an out-of-core scaler. :func:`parse_params` types
``--param key=value`` items without importing anything; :func:`check_params` validates them
against the estimator's own parameter constraints, before any data is read; and
:func:`build_pipeline` puts the steps together as ``Pipeline([preprocess, model])``. Each raises
``UsageError`` (exit code 2 in the command) in the words of the command line.
"""

# --model name -> (module, class, parameters). ``pa`` is the replacement scikit-learn documents
# for the deprecated PassiveAggressiveClassifier/Regressor.
MODELS = {
    "sgd": ("sklearn.linear_model", "SGDClassifier", {}),
    "sgd-regressor": ("sklearn.linear_model", "SGDRegressor", {}),
    "perceptron": ("sklearn.linear_model", "Perceptron", {}),
    "pa": ("sklearn.linear_model", "SGDClassifier",
           {"loss": "hinge", "penalty": None, "learning_rate": "pa1", "eta0": 1.0}),
    "pa-regressor": ("sklearn.linear_model", "SGDRegressor",
                     {"loss": "epsilon_insensitive", "penalty": None, "learning_rate": "pa1",
                      "eta0": 1.0}),
    "kmeans": ("sklearn.cluster", "MiniBatchKMeans", {"n_init": "auto"}),
    "mlp": ("sklearn.neural_network", "MLPClassifier", {}),
    "mlp-regressor": ("sklearn.neural_network", "MLPRegressor", {}),
    "nb": ("sklearn.naive_bayes", "MultinomialNB", {}),
    "bernoulli-nb": ("sklearn.naive_bayes", "BernoulliNB", {}),
}
UNSUPERVISED = {"kmeans"}
SCALERS = {"standard": "StandardScaler", "minmax": "MinMaxScaler", "maxabs": "MaxAbsScaler",
           "none": None}
# MultinomialNB takes counts (non-negative features): scale into [0, 1] unless told otherwise.
DEFAULT_SCALER = {"nb": "minmax"}


class UsageError(Exception):
    """A bad command line: exit code 2."""


def _typed(text):
    """One --param value: int, float, bool, None, or the string itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_params(items):
    """``["alpha=1e-4", "hidden_layer_sizes=32,16"]`` -> ``{"alpha": 0.0001,
    "hidden_layer_sizes": (32, 16)}``: int, float, bool, None, str, or a tuple of them for a
    comma-separated list."""
    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UsageError(f"--param {item!r} is not key=value, e.g. --param alpha=1e-4 or "
                             f"--param hidden_layer_sizes=32,16")
        if key in params:
            raise UsageError(f"--param {key} is given twice; give each parameter once")
        parts = [p.strip() for p in value.split(",")]
        if "," in value and not all(parts):
            raise UsageError(f"--param {item!r} has an empty item; write a list as 32,16")
        params[key] = tuple(_typed(p) for p in parts) if "," in value else _typed(value)
    return params


def estimator_class(model):
    """The scikit-learn class of ``--model model`` (imports its module)."""
    from importlib import import_module

    if model not in MODELS:
        raise UsageError(f"--model {model!r} is not one of {sorted(MODELS)}")
    module, name, _ = MODELS[model]
    return getattr(import_module(module), name)


def _shown(value):
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def check_params(model, params):
    """Raise UsageError for a ``--param`` the estimator of ``model`` does not take, or a value
    its parameter constraints refuse; the message names the flag, the value and what is
    accepted. A list (``32,16``) for a parameter that also takes one value is checked item by
    item against that value's constraints as well."""
    from difflib import get_close_matches

    # scikit-learn validates parameters only when fitting, and keeps the rules it validates
    # with in these two private names; checking here stops a typo before the data are read.
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        validate_parameter_constraints,
    )

    cls = estimator_class(model)
    known = sorted(cls().get_params())
    constraints = getattr(cls, "_parameter_constraints", {})
    for key, value in params.items():
        if key not in known:
            close = get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise UsageError(f"--param {key}: {cls.__name__} has no parameter {key!r}; {hint}"
                             f"its parameters: {', '.join(known)}")
        rules = constraints.get(key)
        if rules is None:
            continue
        checks = [(value, rules)]
        if isinstance(value, tuple) and "array-like" in rules:
            single = [r for r in rules if r != "array-like"]
            checks += [(item, single) for item in value] if single else []
        for item, item_rules in checks:
            try:
                validate_parameter_constraints({key: item_rules}, {key: item},
                                               caller_name=cls.__name__)
            except InvalidParameterError as e:
                accepted = str(e).split(" must be ", 1)[-1].rsplit(". Got ", 1)[0]
                item_text = "" if item is value else f" (item {item!r})"
                raise UsageError(f"--param {key}={_shown(value)}{item_text} is refused by "
                                 f"{cls.__name__}: {key} must be {accepted}") from None


def build_pipeline(model, *, scaler=None, params=None, epochs=1, early_stopping=False, seed=0,
                   verbose="auto", callback=None, preprocess=None):
    """The Pipeline ``fit`` trains: preprocessing, then ``Incremental(estimator)``.

    Parameters
    ----------
    model : str
        A key of :data:`MODELS` (``"sgd"``, ``"kmeans"``, ...).
    scaler : {"standard", "minmax", "maxabs", "none"}, optional
        The preprocessing of numeric features when ``preprocess`` is not given. Default:
        ``"minmax"`` for ``nb``, ``"standard"`` otherwise.
    params : dict, optional
        Estimator parameters, on top of the model's defaults (checked by :func:`check_params`).
    epochs, early_stopping, seed, verbose, callback
        Passed to :class:`~outofcore.Incremental` (``seed`` also seeds the estimator).
    preprocess : estimator, optional
        The step before the model, such as an ``ooc.ColumnTransformer`` built from a table's
        schema; replaces the scaler.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``"scale"`` (or ``"preprocess"``, or none for ``scaler="none"``) and ``"model"``.

    Examples
    --------
    >>> build_pipeline("sgd", params={"alpha": 1e-5}, epochs=3)[-1].epochs
    3
    """
    from sklearn.pipeline import Pipeline

    import outofcore

    params = dict(params or {})
    check_params(model, params)
    cls = estimator_class(model)
    kwargs = {**MODELS[model][2], **params}
    if "random_state" in cls().get_params():
        kwargs.setdefault("random_state", seed)
    steps = []
    if preprocess is not None:
        steps.append(("preprocess", preprocess))
    else:
        scaler = scaler or DEFAULT_SCALER.get(model, "standard")
        if SCALERS[scaler] is not None:
            steps.append(("scale", getattr(outofcore, SCALERS[scaler])()))
    steps.append(("model", outofcore.Incremental(
        cls(**kwargs), epochs=epochs, early_stopping=early_stopping, random_state=seed,
        verbose=verbose, callback=callback)))
    return Pipeline(steps)
