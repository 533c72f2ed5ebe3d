"""outofcore: scikit-learn pipelines on data larger than memory, and compiled to tensor programs.

Names are imported lazily so that a serving process can ``import outofcore`` and load a compiled
model without scikit-learn or dask installed (PEP 562 module ``__getattr__``).
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "read_parquet": "outofcore.io.readers",
    "read_csv": "outofcore.io.readers",
    "Table": "outofcore.io.table",
    "StandardScaler": "outofcore.preprocessing.scalers",
    "MinMaxScaler": "outofcore.preprocessing.scalers",
    "MaxAbsScaler": "outofcore.preprocessing.scalers",
    "OneHotEncoder": "outofcore.preprocessing.encoders",
    "OrdinalEncoder": "outofcore.preprocessing.encoders",
    "SimpleImputer": "outofcore.preprocessing.impute",
    "DateTimeFeatures": "outofcore.preprocessing.dates",
    "ColumnTransformer": "outofcore.preprocessing.compose",
    "make_column_transformer": "outofcore.preprocessing.compose",
    "Incremental": "outofcore.training.incremental",
    "IncrementalSearchCV": "outofcore.training.search",
    "predict_to_parquet": "outofcore.prediction.to_parquet",
    "thread_guard": "outofcore.runtime.threads",
    "compile_pipeline": "outofcore.compiled",
    "CompiledPipeline": "outofcore.compiled",
    "load_compiled": "outofcore.compiled",
}

# Submodules reachable as attributes (``ooc.data.generate``) without importing them up front.
_SUBMODULES = {"data"}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return import_module(f"outofcore.{name}")
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'outofcore' has no attribute {name!r}") from None
    return getattr(import_module(module), name)


def __dir__():
    return __all__
