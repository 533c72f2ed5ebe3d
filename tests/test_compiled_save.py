"""Saving, loading (without scikit-learn, dask or pickle) and ONNX export of compiled models."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import outofcore as ooc
from _parity import assert_labels_match, assert_values_close

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def models(classification_data):
    """One fitted model per kind of compiled head, fitted once for the module."""
    X, y = classification_data
    labels = np.array(["cat", "dog", "eel"])[y]
    return {
        "logistic-strings": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, labels),
        "mlp": make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=20,
                                                             random_state=0)).fit(X, y),
        "forest": RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0).fit(X, y),
        "hgb": HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y),
        "kmeans": KMeans(n_clusters=4, n_init=1, random_state=0).fit(X),
        "ridge": make_pipeline(MinMaxScaler(clip=True), Ridge()).fit(X, y.astype(float)),
        "scaler": StandardScaler().fit(X),
    }


MODEL_NAMES = ["logistic-strings", "mlp", "forest", "hgb", "kmeans", "ridge", "scaler"]


def _outputs(model, X):
    out = {}
    for method in ("predict", "predict_proba", "transform"):
        if hasattr(model, method):
            out[method] = getattr(model, method)(X)
    return out


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_roundtrip(name, dtype, models, classification_data, tmp_path):
    """A loaded model gives exactly the outputs of the compiled one it was saved from."""
    X, _ = classification_data
    compiled = ooc.compile_pipeline(models[name], dtype=dtype)
    path = tmp_path / "model.safetensors"
    compiled.save(path)
    loaded = ooc.load_compiled(path)
    assert loaded.dtype == dtype
    before, after = _outputs(compiled, X), _outputs(loaded, X)
    assert before.keys() == after.keys() and before
    for method in before:
        np.testing.assert_array_equal(after[method], before[method])


def test_load_rejects_other_files(tmp_path):
    """A safetensors file that is not a compiled model is refused with a clear message."""
    from safetensors.numpy import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(3)}, str(path))
    with pytest.raises(ValueError, match="not a compiled outofcore model"):
        ooc.load_compiled(path)


_SERVE = textwrap.dedent("""
    import importlib.abc, json, pickle, sys
    import numpy as np

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("sklearn", "dask", "distributed"):
                raise ImportError(f"{name} is blocked in this serving process")
            return None

    def no_pickle(*args, **kwargs):
        raise RuntimeError("pickle is forbidden in this serving process")

    sys.meta_path.insert(0, Block())
    pickle.load = pickle.loads = no_pickle

    import outofcore
    x_path, out_path, *model_paths = sys.argv[1:]
    X = np.load(x_path, allow_pickle=False)
    result = {}
    for path in model_paths:
        model = outofcore.load_compiled(path)
        result[path] = {"predict": model.predict(X).tolist()}
        if hasattr(model, "predict_proba"):
            result[path]["predict_proba"] = model.predict_proba(X).tolist()
    result["modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ("sklearn", "dask"))
    with open(out_path, "w") as f:
        json.dump(result, f)
""")


def test_serving_without_sklearn_dask_or_pickle(models, classification_data, tmp_path):
    """In a process where sklearn and dask cannot be imported and pickle raises, saved models (a
    string-label pipeline, tree ensembles, k-means) load and predict what sklearn predicts."""
    X, _ = classification_data
    names = ["logistic-strings", "forest", "hgb", "kmeans"]
    paths = [str(tmp_path / f"{name}.safetensors") for name in names]
    for name, path in zip(names, paths):
        ooc.compile_pipeline(models[name]).save(path)
    np.save(tmp_path / "X.npy", X[:300])
    script = tmp_path / "serve.py"
    script.write_text(_SERVE)
    subprocess.run([sys.executable, str(script), str(tmp_path / "X.npy"), str(tmp_path / "out.json"),
                    *paths], check=True, timeout=300)
    result = json.loads((tmp_path / "out.json").read_text())
    assert result.pop("modules") == []
    for name, path in zip(names, paths):
        assert_labels_match(np.asarray(result[path]["predict"]), models[name].predict(X[:300]))
        if name == "kmeans":
            continue
        assert_values_close(np.asarray(result[path]["predict_proba"]),
                            models[name].predict_proba(X[:300]))


@pytest.mark.parametrize("name", ["logistic-strings", "forest", "kmeans", "ridge"])
def test_onnx_matches_compiled(name, models, classification_data, tmp_path):
    """onnxruntime runs the exported model and returns the compiled model's labels and values."""
    import onnxruntime as ort  # a test dependency (the onnx extra): a missing one must fail
    X, _ = classification_data
    model = models[name]
    compiled = ooc.compile_pipeline(model)
    path = compiled.to_onnx(tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"X": X[:400]})))
    if "label" in outputs:
        assert_labels_match(outputs["label"], compiled.predict(X[:400]))
    for key, method in [("probabilities", "predict_proba"), ("distances", "transform"),
                        ("variable", "predict"), ("transformed", "transform")]:
        if key in outputs:
            assert_values_close(outputs[key], getattr(compiled, method)(X[:400]))
    assert len(outputs) >= 1


def test_onnx_single_method(classification_data, tmp_path):
    """method='decision_function' exports just the scores."""
    import onnxruntime as ort  # a test dependency (the onnx extra): a missing one must fail
    X, y = classification_data
    compiled = ooc.compile_pipeline(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y))
    path = compiled.to_onnx(tmp_path / "scores.onnx", method="decision_function")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {"X": X})
    assert_values_close(scores, compiled.decision_function(X))
    with pytest.raises(ValueError, match="cannot export method='transform'"):
        compiled.to_onnx(tmp_path / "bad.onnx", method="transform")


def test_save_refuses_to_overwrite_unless_asked(models, classification_data, tmp_path):
    """An existing file is kept (FileExistsError) unless overwrite=True, which replaces it; no
    temporary file is left beside it."""
    X, _ = classification_data
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"keep me")
    compiled = ooc.compile_pipeline(models["forest"])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        compiled.save(path)
    assert path.read_bytes() == b"keep me"
    compiled.save(path, overwrite=True)
    np.testing.assert_array_equal(ooc.load_compiled(path).predict(X), compiled.predict(X))
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_saved_file_mode_follows_the_umask(umask, models, tmp_path):
    """The saved file's permissions are 0o666 less the user's umask, as for any new file."""
    import os

    old = os.umask(umask)
    try:
        ooc.compile_pipeline(models["scaler"]).save(tmp_path / "m.safetensors")
    finally:
        os.umask(old)
    assert (tmp_path / "m.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


def test_table_model_roundtrip_keeps_vocabularies(tmp_path):
    """A pipeline encoding string columns saves its vocabularies as JSON (no pickle) and the
    loaded model gives sklearn's outputs."""
    import warnings

    from _catalogue import catalogue, unseen_rows

    model, X, _ = catalogue()["onehot-infrequent+sgd"]
    rows = unseen_rows(X)
    ooc.compile_pipeline(model).save(tmp_path / "m.safetensors")
    loaded = ooc.load_compiled(tmp_path / "m.safetensors")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Found unknown categories", category=UserWarning)
        assert_values_close(loaded.predict_proba(rows), model.predict_proba(rows))
    header = (tmp_path / "m.safetensors").read_bytes()[:200_000]
    assert b'"keys": [\\"blue\\"' in header or b"blue" in header


def test_save_writes_to_an_fsspec_url(models, classification_data, tmp_path):
    """A model saved to object storage (fsspec's memory filesystem here) holds the same model:
    copied to a local file, it loads and predicts as the compiled model does."""
    import fsspec

    X, _ = classification_data
    compiled = ooc.compile_pipeline(models["forest"])
    compiled.save("memory://models/forest.safetensors")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        compiled.save("memory://models/forest.safetensors")
    fs = fsspec.filesystem("memory")
    (tmp_path / "local.safetensors").write_bytes(fs.cat("/models/forest.safetensors"))
    assert fs.ls("/models", detail=False) == ["/models/forest.safetensors"]
    np.testing.assert_array_equal(ooc.load_compiled(tmp_path / "local.safetensors").predict(X),
                                  compiled.predict(X))
    fs.rm("/models", recursive=True)
