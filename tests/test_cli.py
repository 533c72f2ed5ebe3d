"""The `outofcore` command as a user drives it: make-data -> fit -> predict -> compile -> info."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from outofcore.cli.main import build_pipeline, main, parse_params

ROWS, FEATURES = 4000, 4


def outofcore(*args, cwd):
    """Run the installed console script; returns the CompletedProcess (text output)."""
    exe = os.path.join(os.path.dirname(sys.executable), "outofcore")
    command = [exe] if os.path.exists(exe) else [sys.executable, "-m", "outofcore.cli"]
    return subprocess.run(command + [str(a) for a in args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def ok(result):
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder where the whole CLI path ran once: data, model, predictions, compiled model."""
    root = tmp_path_factory.mktemp("cli")
    ok(outofcore("make-data", "--rows", ROWS, "--features", FEATURES, "--rows-per-part", 1000,
                 "--out", "train.parquet", cwd=root))
    ok(outofcore("fit", "train.parquet", "--target", "target", "--epochs", 3, "--early-stopping",
                 "--block-rows", 500, "--out", "model.skops", cwd=root))
    ok(outofcore("predict", "model.skops", "train.parquet", "--keep", "id", "--out",
                 "pred.parquet", cwd=root))
    ok(outofcore("compile", "model.skops", "--out", "model.safetensors", cwd=root))
    return root


def _features(root, name="train.parquet"):
    frame = pd.read_parquet(root / name)
    return frame[[f"f{j}" for j in range(FEATURES)]].astype("float32"), frame


@pytest.mark.parametrize("command", ["make-data", "fit", "predict", "compile", "info", "demo"])
def test_help_of_every_subcommand(command, tmp_path):
    """Each subcommand answers --help with its usage and exit code 0."""
    result = ok(outofcore(command, "--help", cwd=tmp_path))
    assert result.stdout.startswith(f"usage: outofcore {command}")
    assert "--quiet" in result.stdout


def test_top_level_help_lists_the_subcommands(tmp_path):
    """`outofcore --help` names every subcommand."""
    out = ok(outofcore("--help", cwd=tmp_path)).stdout
    for command in ["make-data", "fit", "predict", "compile", "info", "demo"]:
        assert command in out


def test_the_path_writes_every_output(workdir):
    """make-data, fit, predict and compile leave the data, model, sidecars, report and outputs."""
    names = set(os.listdir(workdir))
    assert {"train.parquet", "model.skops", "model.skops.meta.json", "model.skops.report.html",
            "model.skops.report.json", "pred.parquet", "model.safetensors"} <= names
    assert len(os.listdir(workdir / "pred.parquet")) == ROWS // 1000


def test_predictions_equal_the_saved_model(workdir):
    """The predictions file holds the loaded pipeline's predictions, rows in input order."""
    from outofcore.cli.model_io import load_model

    X, frame = _features(workdir)
    written = pd.read_parquet(workdir / "pred.parquet")
    assert list(written.columns) == ["id", "prediction"]
    np.testing.assert_array_equal(written["id"], frame["id"])
    expected = load_model(workdir / "model.skops").predict(X)
    np.testing.assert_array_equal(written["prediction"], expected)


def test_cli_fit_matches_the_python_api(workdir):
    """The CLI's fit equals the same pipeline fitted from Python with the same seed."""
    from outofcore import read_parquet
    from outofcore.cli.model_io import load_model

    X, y = read_parquet(workdir / "train.parquet", target="target", exclude=["id"], block_rows=500)
    pipe = build_pipeline("sgd", epochs=3, early_stopping=True, seed=0, verbose=False).fit(X, y)
    saved = load_model(workdir / "model.skops")
    np.testing.assert_allclose(saved[-1].estimator_.coef_, pipe[-1].estimator_.coef_, rtol=1e-12)
    assert [h["score"] for h in saved[-1].history_] == [h["score"] for h in pipe[-1].history_]


def test_compiled_model_predicts_like_the_pipeline(workdir, tmp_path):
    """`predict` with the compiled file writes the same labels as with the skops model."""
    assert main(["predict", str(workdir / "model.safetensors"), str(workdir / "train.parquet"),
                 "--keep", "id", "--out", str(tmp_path / "compiled.parquet"), "--quiet"]) == 0
    compiled = pd.read_parquet(tmp_path / "compiled.parquet")
    original = pd.read_parquet(workdir / "pred.parquet")
    np.testing.assert_array_equal(compiled["prediction"], original["prediction"])


def test_info_tells_what_how_and_history(workdir):
    """`info` names the model, the data, the features and one history line per epoch."""
    out = ok(outofcore("info", "model.skops", cwd=workdir)).stdout
    meta = json.loads((workdir / "model.skops.meta.json").read_text())
    assert "SGDClassifier" in out and "train.parquet" in out and "f0, f1, f2, f3" in out
    assert len(meta["history"]) == meta["epochs"] >= 1
    for h in meta["history"]:
        assert f"{h['rows']:,}" in out



def test_info_json_and_compiled(workdir, capsys):
    """`info --json` gives the metadata; `info` on a compiled file names its source model."""
    assert main(["info", str(workdir / "model.skops"), "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["rows"] == ROWS and as_json["features"] == [f"f{j}" for j in range(FEATURES)]
    assert main(["info", str(workdir / "model.safetensors")]) == 0
    compiled = capsys.readouterr().out
    assert "CompiledPipeline" in compiled and "compiled_from" in compiled


def test_report_is_written_beside_the_model(workdir):
    """The fit report's JSON has one history entry per epoch and the HTML embeds a PNG."""
    report = json.loads((workdir / "model.skops.report.json").read_text())
    meta = json.loads((workdir / "model.skops.meta.json").read_text())
    assert [h["epoch"] for h in report["history"]] == list(range(1, meta["epochs"] + 1))
    assert all(h["score"] is not None for h in report["history"])
    assert report["summary"]["rows"] == meta["samples_seen"]
    assert "data:image/png;base64," in (workdir / "model.skops.report.html").read_text()


@pytest.mark.parametrize("command", [
    ["fit", "train.parquet", "--target", "target", "--out", "model.skops"],
    ["predict", "model.skops", "train.parquet", "--out", "pred.parquet"],
    ["compile", "model.skops", "--out", "model.safetensors"],
    ["make-data", "--rows", "10", "--out", "train.parquet"],
])
def test_existing_outputs_are_refused(workdir, command, capsys, monkeypatch):
    """An existing output is an error naming it and --overwrite; the file is left as it was."""
    monkeypatch.chdir(workdir)
    out = command[command.index("--out") + 1]
    before = os.stat(out).st_mtime_ns
    assert main(command) == 1
    err = capsys.readouterr().err
    assert err.startswith("outofcore: error:") and err.count("\n") == 1
    assert out in err and "overwrite" in err
    assert os.stat(out).st_mtime_ns == before


def test_overwrite_replaces_the_model(workdir, tmp_path):
    """With --overwrite, fit replaces an existing model (here with another seed)."""
    for seed in (0, 1):
        assert main(["fit", str(workdir / "train.parquet"), "--target", "target", "--seed",
                     str(seed), "--out", str(tmp_path / "m.skops"), "--quiet",
                     "--overwrite"]) == 0
        assert json.loads((tmp_path / "m.skops.meta.json").read_text())["seed"] == seed


@pytest.mark.parametrize("args, code, words", [
    ([], 2, "a command is required"),
    (["fit", "train.parquet", "--target", "target", "--model", "forest", "--out", "x"], 2,
     "invalid choice"),
    (["fit", "train.parquet", "--out", "x"], 2, "--target"),
    (["fit", "train.parquet", "--target", "target", "--param", "alpha", "--out", "x"], 2,
     "key=value"),
    (["fit", "train.parquet", "--target", "target", "--param", "alfa=1", "--out", "x"], 2,
     "alfa"),
    (["fit", "train.parquet", "--target", "target", "--epochs", "many", "--out", "x"], 2,
     "invalid int"),
    (["fit", "missing.parquet", "--target", "target", "--out", "x"], 1, "does not exist"),
    (["fit", "train.parquet", "--target", "label", "--out", "x"], 1, "'label'"),
    (["predict", "missing.skops", "train.parquet", "--out", "p"], 1, "does not exist"),
    (["predict", "model.skops", "train.parquet", "--proba", "--out", "p"], 1, "predict_proba"),
    (["info", "train.parquet/part-00000.parquet"], 1, "not a model"),
])
def test_bad_input_gives_one_line_and_an_exit_code(workdir, args, code, words, capsys,
                                                    monkeypatch):
    """Bad arguments exit 2 and bad data 1, with one `outofcore: error:` line and no traceback."""
    monkeypatch.chdir(workdir)
    assert main(args) == code
    err = capsys.readouterr().err
    assert err.startswith("outofcore: error:")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert words in err
    assert not os.path.exists(workdir / "x")


@pytest.mark.parametrize("args, code", [
    (["fit", "train.parquet", "--target", "target", "--model", "forest", "--out", "x"], 2),
    (["fit", "missing.parquet", "--target", "target", "--out", "x"], 1),
])
def test_the_script_exits_with_the_code_and_one_line(workdir, args, code):
    """The installed script exits 2 for usage and 1 for bad data, printing one stderr line."""
    result = outofcore(*args, cwd=workdir)
    assert result.returncode == code
    assert result.stderr.startswith("outofcore: error:") and result.stderr.count("\n") == 1


def test_debug_shows_the_traceback(workdir):
    """--debug lets the error through with its traceback."""
    result = outofcore("fit", "missing.parquet", "--target", "target", "--out", "x", "--debug",
                       cwd=workdir)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_model_files_with_untrusted_types_are_refused(tmp_path):
    """A skops file holding a type outside the trusted list is not loaded."""
    import skops.io as sio
    from sklearn.pipeline import FunctionTransformer

    from outofcore.cli.model_io import load_model

    sio.dump(FunctionTransformer(os.getcwd), tmp_path / "evil.skops")
    with pytest.raises(ValueError, match="trusted"):
        load_model(tmp_path / "evil.skops")


@pytest.mark.parametrize("model, task, extra", [
    ("sgd-regressor", "regression", ["--scaler", "maxabs"]),
    ("pa", "classification", []),
    ("perceptron", "classification", []),
    ("kmeans", "classification", ["--param", "n_clusters=3"]),
    ("mlp", "classification", ["--param", "hidden_layer_sizes=8", "--param",
                               "learning_rate_init=0.01", "--epochs", "10"]),
    ("nb", "classification", []),
])
def test_every_model_fits_and_predicts(model, task, extra, tmp_path, capsys):
    """Each --model fits from the CLI and the saved model predicts one value per row."""
    from outofcore.cli.model_io import load_model
    from outofcore.data import generate

    generate(tmp_path / "d.parquet", rows=1500, features=3, task=task, rows_per_part=500)
    argv = ["fit", str(tmp_path / "d.parquet"), "--model", model, "--target", "target",
            "--epochs", "2", "--out", str(tmp_path / "m.skops"), "--quiet", *extra]
    assert main(argv) == 0, capsys.readouterr().err
    frame = pd.read_parquet(tmp_path / "d.parquet")
    pred = load_model(tmp_path / "m.skops").predict(frame[["f0", "f1", "f2"]].astype("float32"))
    assert pred.shape == (1500,)
    if model == "kmeans":
        assert set(np.unique(pred)) <= {0, 1, 2}
    elif task == "classification":
        assert np.mean(pred == frame["target"]) > 0.6


@pytest.mark.parametrize("text, expected", [
    (["alpha=1e-4"], {"alpha": 1e-4}), (["n_clusters=3"], {"n_clusters": 3}),
    (["average=true", "shuffle=False"], {"average": True, "shuffle": False}),
    (["penalty=None"], {"penalty": None}), (["loss=log_loss"], {"loss": "log_loss"}),
])
def test_param_values_are_typed(text, expected):
    """--param values become int, float, bool, None or str."""
    assert parse_params(text) == expected


def test_csv_data_fits_like_parquet(tmp_path, capsys):
    """A CSV data set (chosen by its .csv name) fits to the same model as its parquet twin."""
    from outofcore.cli.model_io import load_model
    from outofcore.data import generate

    for fmt in ("parquet", "csv"):
        generate(tmp_path / f"d.{fmt}", rows=1200, features=3, format=fmt, rows_per_part=400)
        assert main(["fit", str(tmp_path / f"d.{fmt}"), "--target", "target", "--quiet",
                     "--block-rows", "400", "--out", str(tmp_path / f"{fmt}.skops")]) == 0
    coefs = [load_model(tmp_path / f"{fmt}.skops")[-1].estimator_.coef_
             for fmt in ("parquet", "csv")]
    np.testing.assert_allclose(coefs[0], coefs[1], rtol=1e-6)


def test_demo_runs_the_whole_path(tmp_path):
    """`outofcore demo` at a small size prints every step and a held-out accuracy near 0.8."""
    out = ok(outofcore("demo", "--rows", 8000, "--features", 5, "--dir", tmp_path / "demo",
                       cwd=tmp_path)).stdout
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[:4]] == ["1.", "2.", "3.", "4."]
    accuracy = float(lines[3].split()[2])
    assert 0.7 < accuracy < 0.85
    assert (tmp_path / "demo" / "model.skops.report.html").exists()


def _cuda():
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_cuda(), reason="checks the message shown where CUDA is missing")
def test_compile_for_cuda_without_a_gpu_says_what_to_do(workdir, tmp_path, capsys):
    """--device cuda on a machine without CUDA is a one-line error pointing to --device cpu."""
    assert main(["compile", str(workdir / "model.skops"), "--device", "cuda", "--out",
                 str(tmp_path / "g.safetensors")]) == 1
    err = capsys.readouterr().err
    assert "CUDA" in err and "--device cpu" in err and err.count("\n") == 1
    assert not (tmp_path / "g.safetensors").exists()


@pytest.mark.gpu
def test_compile_and_predict_on_cuda(workdir, tmp_path):
    """Compiled for CUDA and predicted there, the labels equal the CPU predictions."""
    assert main(["compile", str(workdir / "model.skops"), "--device", "cuda", "--out",
                 str(tmp_path / "g.safetensors"), "--quiet"]) == 0
    assert main(["predict", str(tmp_path / "g.safetensors"), str(workdir / "train.parquet"),
                 "--device", "cuda", "--out", str(tmp_path / "g.parquet"), "--quiet"]) == 0
    on_gpu = pd.read_parquet(tmp_path / "g.parquet")["prediction"]
    np.testing.assert_array_equal(on_gpu, pd.read_parquet(workdir / "pred.parquet")["prediction"])


@pytest.mark.cluster
@pytest.mark.slow
def test_fit_on_a_scheduler_address_equals_the_local_fit(workdir, tmp_path):
    """`fit --scheduler ADDRESS` fits on that cluster's workers and learns the local model."""
    from distributed import Client, LocalCluster
    from outofcore.cli.model_io import load_model

    args = ["fit", workdir / "train.parquet", "--target", "target", "--epochs", 2,
            "--block-rows", 500, "--quiet"]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") \
            as cluster, Client(cluster) as client:
        ok(outofcore(*args, "--scheduler", cluster.scheduler_address, "--out",
                     tmp_path / "remote.skops", cwd=tmp_path))
        # The workers did the reading: the scheduler saw the fit's tasks.
        assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.transition_log)) > 0
    ok(outofcore(*args, "--out", tmp_path / "local.skops", cwd=tmp_path))
    remote = load_model(tmp_path / "remote.skops")
    local = load_model(tmp_path / "local.skops")
    np.testing.assert_array_equal(remote[-1].estimator_.coef_, local[-1].estimator_.coef_)


@pytest.mark.parametrize("preset", [None, "system"])
def test_the_command_chooses_jemalloc_unless_the_user_did(preset):
    """The console script runs ``run``, which picks arrow's jemalloc pool before pyarrow loads
    (it keeps freed buffers for reuse); an ARROW_DEFAULT_MEMORY_POOL of the user's wins."""
    import importlib.metadata

    import pyarrow as pa

    script = [e for e in importlib.metadata.entry_points(group="console_scripts")
              if e.name == "outofcore"]
    assert [e.value for e in script] == ["outofcore.cli.main:run"]
    if sys.platform not in ("linux", "darwin"):
        pytest.skip("the command leaves arrow's pool alone on this platform")
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow build has no jemalloc")
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if preset is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = preset
    code = ("from outofcore.cli import main; main._prefer_jemalloc(); import pyarrow as pa; "
            "print(pa.default_memory_pool().backend_name)")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == (preset or "jemalloc")
