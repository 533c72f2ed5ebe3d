"""The pipelines the ``outofcore`` command trains: model and scaler tables, --param parsing.

``MODELS`` maps each ``--model`` name to a scikit-learn class and its default parameters,
``SCALERS`` each ``--scaler`` name to an out-of-core scaler; ``build_pipeline`` puts them together
as ``Pipeline([scaler, Incremental(estimator)])``. ``parse_params`` types ``--param key=value``
items. Both raise ``UsageError`` (exit code 2 in the command) for a name or item they do not
know. All of these are also importable from ``outofcore.cli``.
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
    """A --param value: int, float, bool, None, or the string itself."""
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
    """``["alpha=1e-4", "hidden_layer_sizes=64"]`` -> ``{"alpha": 0.0001, ...}`` (typed values)."""
    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r} is not key=value, e.g. --param alpha=1e-4")
        params[key.strip()] = _typed(value.strip())
    return params


def build_pipeline(model, *, scaler=None, params=None, epochs=1, early_stopping=False, seed=0,
                   verbose="auto", callback=None):
    """The Pipeline ``fit`` trains: an out-of-core scaler, then ``Incremental(estimator)``.

    Parameters
    ----------
    model : str
        A key of :data:`MODELS` (``"sgd"``, ``"kmeans"``, ...).
    scaler : {"standard", "minmax", "maxabs", "none"}, optional
        Default: ``"minmax"`` for ``nb``, ``"standard"`` otherwise.
    params : dict, optional
        Estimator parameters, on top of the model's defaults.
    epochs, early_stopping, seed, verbose, callback
        Passed to :class:`~outofcore.Incremental` (``seed`` also seeds the estimator).

    Returns
    -------
    sklearn.pipeline.Pipeline

    Examples
    --------
    >>> build_pipeline("sgd", params={"alpha": 1e-5}, epochs=3)[-1].epochs
    3
    """
    from importlib import import_module

    from sklearn.pipeline import Pipeline

    import outofcore

    if model not in MODELS:
        raise UsageError(f"--model {model!r} is not one of {sorted(MODELS)}")
    module, name, defaults = MODELS[model]
    cls = getattr(import_module(module), name)
    known = cls().get_params()
    unknown = sorted(set(params or {}) - set(known))
    if unknown:
        raise UsageError(f"--param {unknown} not parameters of {name}; it takes {sorted(known)}")
    kwargs = {**defaults, **(params or {})}
    if "random_state" in known:
        kwargs.setdefault("random_state", seed)
    estimator = cls(**kwargs)
    steps = []
    scaler = scaler or DEFAULT_SCALER.get(model, "standard")
    if SCALERS[scaler] is not None:
        steps.append(("scale", getattr(outofcore, SCALERS[scaler])()))
    steps.append(("model", outofcore.Incremental(
        estimator, epochs=epochs, early_stopping=early_stopping, random_state=seed,
        verbose=verbose, callback=callback)))
    return Pipeline(steps)
