"""Saving and loading fitted pipelines for the ``outofcore`` command, without arbitrary pickles.

A fitted pipeline is written with ``skops.io``: the file records each object's type and state, and
loading rebuilds only the types on an explicit trusted list (scikit-learn's estimators, which skops
trusts itself, plus the outofcore classes and NumPy dtypes below). A file naming any other type is
refused before anything in it runs, so a model file from elsewhere cannot execute code on load.

Training metadata (data path, rows, features, target, history, timings, versions) goes to a JSON
sidecar, ``MODEL.meta.json``, read by ``outofcore info`` and by ``predict``/``compile`` to pick the
feature columns. Compiled models (``CompiledPipeline.save``, safetensors) are recognised by their
header and loaded with :func:`outofcore.load_compiled`.

Every file is written beside its destination first and renamed into place, so an interrupted save
never leaves a half-written model.
"""

import json
import os
import platform
import sys
import zipfile
from contextlib import contextmanager

from outofcore.io import files

# Types that skops does not trust by itself but an outofcore pipeline holds (MLP optimizers
# included). Anything else in a model file is refused on load.
TRUSTED_TYPES = (
    "numpy.dtype",
    "outofcore.preprocessing.vocabulary.Vocabulary",
    "outofcore.preprocessing.compose.ColumnTransformer",
    "outofcore.preprocessing.dates.DateTimeFeatures",
    "outofcore.preprocessing.encoders.OneHotEncoder",
    "outofcore.preprocessing.encoders.OrdinalEncoder",
    "outofcore.preprocessing.impute.SimpleImputer",
    "outofcore.preprocessing.stats.Record",
    "outofcore.preprocessing.scalers.MaxAbsScaler",
    "outofcore.preprocessing.scalers.MinMaxScaler",
    "outofcore.preprocessing.scalers.StandardScaler",
    "outofcore.training.incremental.Incremental",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
)
_SAFETENSORS_MAGIC_MAX = 100_000_000


def meta_path(path):
    """The JSON sidecar that holds a saved model's training metadata."""
    return f"{os.fspath(path)}.meta.json"


def refuse_existing(paths, overwrite):
    """Raise FileExistsError naming the first of ``paths`` that exists, unless ``overwrite``."""
    for path in paths:
        files.refuse_existing(path, overwrite=overwrite, hint="pass --overwrite to replace it")


def check_model_file(path):
    """Raise FileNotFoundError when the model file ``path`` does not exist (imports nothing)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path} does not exist; write one with "
                                f"`outofcore fit ... --out {path}`")


def kind_of_file(path):
    """``"compiled"``, ``"skops"``, or None for another file; reads a few bytes, imports nothing."""
    if is_compiled_file(path):
        return "compiled"
    try:
        with zipfile.ZipFile(path) as archive:
            return "skops" if "schema.json" in archive.namelist() else None
    except (zipfile.BadZipFile, OSError):
        return None


def versions():
    """Versions of the libraries a saved model depends on, recorded in its metadata."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("outofcore", "scikit-learn", "numpy", "dask", "pyarrow", "skops"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def save_model(model, path, *, metadata=None):
    """Write a fitted pipeline with skops, and its metadata to ``MODEL.meta.json``.

    Parameters
    ----------
    model : estimator
        A fitted scikit-learn estimator or pipeline. Callbacks are not saved: every ``callback``
        parameter is set to None first (on the object given).
    path : str or path-like
    metadata : dict, optional
        Training facts for ``outofcore info``; ``versions`` is added.

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> save_model(pipe, "model.skops", metadata={"data": "data/train.parquet"})  # doctest: +SKIP
    'model.skops'
    """
    sio = _skops()
    params = model.get_params() if hasattr(model, "get_params") else {}
    # A callback is a function of the session that trained the model; it cannot be trusted or
    # restored elsewhere.
    callbacks = {k: None for k in params if k == "callback" or k.endswith("__callback")}
    if callbacks:
        model.set_params(**callbacks)
    with files.publishing(path, overwrite=True) as tmp:
        sio.dump(model, tmp)
    files.write_json(meta_path(path), {**(metadata or {}), "versions": versions()})
    return os.fspath(path)


def is_compiled_file(path):
    """True when ``path`` is a safetensors file (a compiled model written by ``save``)."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    # safetensors: an 8-byte little-endian header length, then a JSON header starting with '{'.
    size = int.from_bytes(head[:8], "little") if len(head) == 9 else 0
    return 0 < size < _SAFETENSORS_MAGIC_MAX and head[8:9] == b"{"


def load_model(path, *, device="cpu"):
    """Load a model saved by :func:`save_model` (skops) or a compiled model (safetensors).

    Parameters
    ----------
    path : str or path-like
    device : str
        Device for a compiled model; ignored for a scikit-learn pipeline.

    Returns
    -------
    estimator or CompiledPipeline

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is neither format, or names a type outside the trusted list.
    """
    path = os.fspath(path)
    check_model_file(path)
    if is_compiled_file(path):
        from outofcore.compiled import load_compiled

        return load_compiled(path, device=device)
    sio = _skops()
    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as e:  # skops raises zipfile/JSON/key errors for foreign files
        raise ValueError(f"{path} is not a model saved by `outofcore fit` (skops) nor a compiled "
                         f"model: {e}") from e
    untrusted = sorted(t for t in found if t not in TRUSTED_TYPES)
    if untrusted:
        raise ValueError(f"{path} holds types outside the trusted list: {untrusted}; only "
                         f"scikit-learn and outofcore objects are loaded from model files")
    return sio.load(path, trusted=list(found))


def _skops():
    """``skops.io``, imported without torch."""
    with _torch_hidden():
        import skops.io

    return skops.io


class _HideTorch:
    """An import hook that reports torch missing (see :func:`_torch_hidden`)."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@contextmanager
def _torch_hidden():
    """Import inside this block as if torch were not installed.

    skops builds its list of trusted types from ``sklearn.utils.all_estimators()``, which walks
    every scikit-learn package, ``sklearn.externals.array_api_compat.torch`` included, and that
    one imports torch: seconds of start-up for a model that never uses it. The walk skips
    packages that fail to import, so hiding torch while skops loads costs nothing else. Once
    torch is imported (compiling), it stays as it is.
    """
    if "torch" in sys.modules:
        yield
        return
    hook = _HideTorch()
    sys.meta_path.insert(0, hook)
    try:
        yield
    finally:
        sys.meta_path.remove(hook)


def load_metadata(path):
    """The metadata saved beside a model, or an empty dict when there is none."""
    try:
        with open(meta_path(path)) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as e:
        raise ValueError(f"{meta_path(path)} is not valid JSON ({e}); delete it or refit") from e
