"""The `outofcore` command as a user drives it: make-data -> fit -> predict -> compile -> info."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from outofcore.cli.main import main
from outofcore.cli.models import build_pipeline, parse_params

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
    assert out in err and "--overwrite" in err and "overwrite=True" not in err
    assert os.stat(out).st_mtime_ns == before


def test_overwrite_replaces_the_model(workdir, tmp_path):
    """With --overwrite, fit replaces an existing model (here with another seed)."""
    for seed in (0, 1):
        assert main(["fit", str(workdir / "train.parquet"), "--target", "target", "--seed",
                     str(seed), "--out", str(tmp_path / "m.skops"), "--quiet",
                     "--overwrite"]) == 0
        assert json.loads((tmp_path / "m.skops.meta.json").read_text())["seed"] == seed


def test_compile_overwrite_replaces_the_compiled_model(workdir, tmp_path):
    """compile refuses an existing output, and replaces it with --overwrite."""
    pytest.importorskip("torch")
    out = tmp_path / "m.safetensors"
    args = ["compile", str(workdir / "model.skops"), "--out", str(out), "--quiet"]
    assert main(args) == 0
    out.write_bytes(b"kept")
    assert main(args) == 1 and out.read_bytes() == b"kept"
    assert main(args + ["--overwrite"]) == 0 and out.read_bytes() != b"kept"


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
    (["hidden_layer_sizes=32,16"], {"hidden_layer_sizes": (32, 16)}),
    (["hidden_layer_sizes=64"], {"hidden_layer_sizes": 64}),
])
def test_param_values_are_typed(text, expected):
    """--param values become int, float, bool, None, str, or a tuple for a comma list."""
    assert parse_params(text) == expected


@pytest.mark.parametrize("params, words", [
    (["alpha=-1"], ["--param alpha=-1", "SGDClassifier", "range [0.0, inf)"]),
    (["loss=logg"], ["--param loss=logg", "'log_loss'", "'hinge'"]),
    (["learning_rate=fast"], ["--param learning_rate=fast", "'optimal'"]),
    (["alfa=1e-4"], ["--param alfa", "did you mean alpha?"]),
    (["alpha"], ["--param 'alpha' is not key=value"]),
    (["alpha=1", "alpha=2"], ["--param alpha is given twice"]),
])
def test_bad_params_are_refused_before_the_data_are_read(params, words, tmp_path, capsys):
    """A --param the estimator refuses is a usage error naming the flag, the value and what is
    accepted, raised before DATA is read (here DATA is not parquet at all)."""
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    argv = ["fit", str(tmp_path / "bad.parquet"), "--target", "target", "--out",
            str(tmp_path / "m.skops")]
    for item in params:
        argv += ["--param", item]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(w in err for w in words), err
    assert "parquet footer" not in err and not (tmp_path / "m.skops").exists()


def test_param_lists_are_checked_item_by_item(tmp_path, capsys):
    """hidden_layer_sizes=32,0 is refused for its item 0 with the rule for one layer."""
    argv = ["fit", str(tmp_path), "--model", "mlp", "--target", "t", "--param",
            "hidden_layer_sizes=32,0", "--out", str(tmp_path / "m.skops")]
    (tmp_path / "d.parquet").write_bytes(b"")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--param hidden_layer_sizes=32,0 (item 0)" in err and "range [1, inf)" in err


def test_mlp_gets_the_hidden_layers_and_rate_asked_for(tmp_path, capsys):
    """--param hidden_layer_sizes=8,4 and learning_rate_init reach the fitted MLPClassifier."""
    from outofcore.cli.model_io import load_model
    from outofcore.data import generate

    generate(tmp_path / "d.parquet", rows=1200, features=3, rows_per_part=400)
    assert main(["fit", str(tmp_path / "d.parquet"), "--model", "mlp", "--target", "target",
                 "--param", "hidden_layer_sizes=8,4", "--param", "learning_rate_init=0.01",
                 "--param", "alpha=1e-3", "--quiet", "--out", str(tmp_path / "m.skops")]) == 0
    mlp = load_model(tmp_path / "m.skops")[-1].estimator_
    assert mlp.hidden_layer_sizes == (8, 4) and mlp.learning_rate_init == 0.01
    assert [c.shape for c in mlp.coefs_] == [(3, 8), (8, 4), (4, 1)]


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
    # The parquet file holds float32 columns, the CSV their decimal text, read as float64: the
    # fits differ by that rounding only.
    np.testing.assert_allclose(coefs[0], coefs[1], rtol=1e-4)


def test_demo_runs_the_whole_path(tmp_path):
    """`outofcore demo` at a small size prints every step and a held-out accuracy near 0.8."""
    out = ok(outofcore("demo", "--rows", 8000, "--features", 5, "--dir", tmp_path / "demo",
                       cwd=tmp_path)).stdout
    lines = out.splitlines()
    assert lines[0].startswith("demo: 8,000 training + 2,000 test rows")
    assert [line.split()[0] for line in lines[1:5]] == ["1.", "2.", "3.", "4."]
    assert lines[5].startswith("took ")
    accuracy = float(lines[4].split()[2])
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


# ------------------------------------------------------------------------ columns and labels
@pytest.fixture
def mixed(tmp_path):
    """A parquet file with an id, two numbers, a text column 'city' and a 0/1 target."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"id": np.arange(600), "f0": rng.normal(size=600),
                          "city": rng.choice(["Oslo", "Lima"], size=600),
                          "f1": rng.normal(size=600)})
    frame["target"] = (frame["f0"] + frame["f1"] > 0).astype("int64")
    frame.to_parquet(tmp_path / "mixed.parquet")
    return tmp_path / "mixed.parquet"


def test_a_mixed_table_gets_preprocessing_from_its_schema(tmp_path, capsys):
    """On a table of text, numbers with gaps, a boolean and a timestamp, fit says what it chose
    per column, info shows it, and the saved model predicts what the same pipeline built in
    Python predicts."""
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline

    import outofcore as ooc

    data = tmp_path / "mixed.parquet"
    assert main(["make-data", "--rows", "3000", "--features", "3", "--categories", "5,300",
                 "--missing", "0.1", "--timestamp", "--boolean", "--quiet", "--out",
                 str(data)]) == 0
    assert main(["fit", str(data), "--target", "target", "--out",
                 str(tmp_path / "m.skops")]) == 0
    out = capsys.readouterr().out
    assert "one-hot (categories in fewer than 100 rows share one column): c0, c1" in out
    assert "median-imputed (with missing-value indicators), standard-scaled: f0, f1, f2" in out
    assert "0/1 (missing: the most frequent): flag" in out
    assert "hour, day of week, month, one-hot: ts" in out
    assert main(["info", str(tmp_path / "m.skops")]) == 0
    assert "median-imputed" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "m.skops"), str(data), "--keep", "id", "--quiet",
                 "--out", str(tmp_path / "p.parquet")]) == 0
    X, y = ooc.read_parquet(data, target="target", exclude=["id"])
    twin = make_pipeline(
        ooc.ColumnTransformer([
            ("text", ooc.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=100),
             ["c0", "c1"]),
            ("numbers", make_pipeline(ooc.SimpleImputer(strategy="median", add_indicator=True),
                                      ooc.StandardScaler()), ["f0", "f1", "f2"]),
            ("booleans", ooc.SimpleImputer(strategy="most_frequent"), ["flag"]),
            ("times", make_pipeline(ooc.DateTimeFeatures(features=("hour", "day_of_week",
                                                                   "month")),
                                    ooc.OneHotEncoder(handle_unknown="ignore")), ["ts"])]),
        ooc.Incremental(SGDClassifier(random_state=0), random_state=0)).fit(X, y)
    written = pd.read_parquet(tmp_path / "p.parquet")
    np.testing.assert_array_equal(written["prediction"], twin.predict(X).compute())


def test_a_column_of_another_kind_is_refused_in_the_words_of_the_command(tmp_path, capsys):
    """A column fit cannot learn from (bytes) names itself and --exclude COLUMN; nothing is
    written."""
    frame = pd.DataFrame({"f0": [1.0, 2.0], "blob": [b"a", b"b"], "target": [0, 1]})
    frame.to_parquet(tmp_path / "b.parquet")
    assert main(["fit", str(tmp_path / "b.parquet"), "--target", "target", "--out",
                 str(tmp_path / "m.skops")]) == 1
    err = capsys.readouterr().err
    assert "'blob' holds binary values" in err and "--exclude blob" in err
    assert not (tmp_path / "m.skops").exists()


def test_exclude_adds_to_the_default_exclusion(mixed, tmp_path):
    """--exclude city leaves out city and still id: the model learns from f0 and f1 only, and
    predicts for the same file, text column and all."""
    assert main(["fit", str(mixed), "--target", "target", "--exclude", "city", "--quiet",
                 "--out", str(tmp_path / "m.skops")]) == 0
    meta = json.loads((tmp_path / "m.skops.meta.json").read_text())
    assert meta["features"] == ["f0", "f1"] and meta["left_out"] == ["city", "id"]
    from outofcore.cli.model_io import load_model

    assert list(load_model(tmp_path / "m.skops").feature_names_in_) == ["f0", "f1"]
    assert main(["predict", str(tmp_path / "m.skops"), str(mixed), "--keep", "city", "--quiet",
                 "--out", str(tmp_path / "p.parquet")]) == 0
    written = pd.read_parquet(tmp_path / "p.parquet")
    assert list(written.columns) == ["city", "prediction"] and len(written) == 600


@pytest.mark.parametrize("exclude, code, words", [
    ("town", 1, ["--exclude town: no such column", "city"]),
    ("target", 2, ["--exclude target: it is the --target column"]),
])
def test_exclude_of_a_column_that_cannot_be_left_out(mixed, tmp_path, capsys, exclude, code,
                                                     words):
    """--exclude of a missing column, or of the target, is an error that says so."""
    assert main(["fit", str(mixed), "--target", "target", "--exclude", "city", "--exclude",
                 exclude, "--out", str(tmp_path / "m.skops")]) == code
    err = capsys.readouterr().err
    assert all(w in err for w in words), err


def test_kmeans_without_target_refuses_to_cluster_on_the_label(workdir, tmp_path, capsys):
    """kmeans without --target on data with a 'target' column is a usage error naming --target
    and --exclude, instead of a model that clusters on the labels."""
    assert main(["fit", str(workdir / "train.parquet"), "--model", "kmeans", "--out",
                 str(tmp_path / "m.skops")]) == 2
    err = capsys.readouterr().err
    assert "'target'" in err and "--target target" in err and "--exclude target" in err
    assert not (tmp_path / "m.skops").exists()


@pytest.mark.parametrize("flag", ["--target", "--exclude"])
def test_kmeans_learns_from_the_features_alone(workdir, tmp_path, flag):
    """kmeans with --target or --exclude naming the label clusters on f0..f3: the same centres
    either way."""
    assert main(["fit", str(workdir / "train.parquet"), "--model", "kmeans", flag, "target",
                 "--param", "n_clusters=3", "--quiet", "--out", str(tmp_path / "m.skops")]) == 0
    meta = json.loads((tmp_path / "m.skops.meta.json").read_text())
    assert meta["features"] == [f"f{j}" for j in range(FEATURES)]


# ---------------------------------------------------------------------------------------- CSV
def _csv_with_a_stray_quote(folder, rows, line):
    """A generated CSV data set whose target on ``line`` (1 = the header) reads 1" not 1."""
    from outofcore.data import generate

    generate(folder, rows=rows, features=2, format="csv", rows_per_part=rows)
    part = folder / "part-00000.csv"
    lines = part.read_text().splitlines()
    lines[line - 1] = lines[line - 1][:-1] + '1"'
    part.write_text("\n".join(lines) + "\n")
    return part


@pytest.mark.parametrize("line", [
    # Past the first MiB, where column types are read from: the line does not convert.
    55_000,
    # Inside the first MiB the column would be read as text: the reader sees the odd label.
    12,
])
def test_a_stray_quote_in_a_csv_target_names_its_line(tmp_path, capsys, line):
    """A target field reading 1" is an error naming the file and line, not a third class."""
    part = _csv_with_a_stray_quote(tmp_path / "d.csv", 60_000, line)
    assert main(["fit", str(tmp_path / "d.csv"), "--target", "target", "--quiet", "--out",
                 str(tmp_path / "m.skops")]) == 1
    err = capsys.readouterr().err
    assert f"line {line} of {part}" in err, err


def test_predict_reads_csv_as_fit_does(tmp_path):
    """predict on a CSV data set writes the predictions its parquet twin gets."""
    from outofcore.data import generate

    for fmt in ("parquet", "csv"):
        generate(tmp_path / f"d.{fmt}", rows=1200, features=3, format=fmt, rows_per_part=400)
    assert main(["fit", str(tmp_path / "d.parquet"), "--target", "target", "--quiet", "--out",
                 str(tmp_path / "m.skops")]) == 0
    for fmt in ("parquet", "csv"):
        assert main(["predict", str(tmp_path / "m.skops"), str(tmp_path / f"d.{fmt}"), "--keep",
                     "id", "--quiet", "--out", str(tmp_path / f"p-{fmt}")]) == 0
    from_csv, from_parquet = (pd.read_parquet(tmp_path / f"p-{fmt}") for fmt in ("csv", "parquet"))
    assert len(from_csv) == 1200
    pd.testing.assert_frame_equal(from_csv, from_parquet)


def test_a_csv_folder_without_the_suffix_asks_for_format(tmp_path, capsys):
    """DATA holding CSV parts under a name without .csv is an error pointing to --format csv."""
    from outofcore.data import generate

    generate(tmp_path / "d", rows=100, features=2, format="csv")
    assert main(["fit", str(tmp_path / "d"), "--target", "target", "--out",
                 str(tmp_path / "m.skops")]) == 1
    assert "--format csv" in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "d"), "--target", "target", "--format", "csv", "--quiet",
                 "--out", str(tmp_path / "m.skops")]) == 0


# ------------------------------------------------------------------------------------ timings
def _took(line):
    """``took 7.1 s: start-up 1.2 s, reading 2.6 s (...), ...`` -> (total, {phase: seconds})."""
    def value(text):
        number, unit = text.split()
        return float(number) / (1000 if unit == "ms" else 1)

    head, _, rest = line.partition(": ")
    rest = re.sub(r" \([^)]*\)", "", rest)
    phases = {}
    for part in rest.split(", "):
        name, number, unit = part.rsplit(" ", 2)
        phases[name] = value(f"{number} {unit}")
    return value(head.removeprefix("took ")), phases


def test_fit_reports_the_wall_time_in_phases(workdir, tmp_path, capsys):
    """fit prints its wall time from when the wait began (the process's start, for the script),
    split into start-up, planning, reading, learning, other (validation) and saving, which add
    up to it."""
    argv = ["fit", str(workdir / "train.parquet"), "--target", "target", "--epochs", "2",
            "--early-stopping", "--block-rows", "500", "--out", str(tmp_path / "m.skops")]
    assert main(argv, waited=2.0) == 0
    took = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("took "))
    total, phases = _took(took)
    assert list(phases) == ["start-up", "planning", "reading", "learning", "other", "saving"]
    assert "before the first block" in took and "waiting for blocks" in took
    assert phases["start-up"] >= 2.0
    assert sum(phases.values()) == pytest.approx(total, abs=0.05 * len(phases) + 0.05)


def test_time_of_a_command_a_shell_execs_leaves_out_what_the_shell_did(tmp_path):
    """``bash -c 'sleep 6 && outofcore ...'`` replaces the shell with the command, whose process
    then started with the shell: the reported time leaves out the shell's six seconds."""
    exe = os.path.join(os.path.dirname(sys.executable), "outofcore")
    if not os.path.exists(exe) or not os.path.exists("/bin/bash"):
        pytest.skip("needs the installed console script and bash")
    result = ok(subprocess.run(
        ["/bin/bash", "-c", f"sleep 6 && exec {exe} make-data --rows 100 --out d"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL))
    total, _ = _took(result.stdout.splitlines()[-1].split("; ")[-1])
    assert total < 6


def test_compile_reports_its_phases_not_zero(workdir, tmp_path, capsys):
    """compile prints the time of each phase (ms below 0.1 s), never a bare "0.0 s"."""
    assert main(["compile", str(workdir / "model.skops"), "--out",
                 str(tmp_path / "m.safetensors")]) == 0
    took = capsys.readouterr().out.splitlines()[-1].split("; ")[-1]
    total, phases = _took(took)
    assert list(phases) == ["start-up", "loading the model", "compiling", "saving"]
    assert "0.0 s" not in took and total > 0


# ---------------------------------------------------------------------------------- compiling
def test_compile_without_torch_names_both_ways_to_get_it(workdir, tmp_path, capsys, monkeypatch):
    """Without torch, compile is a one-line error naming the CPU build and the default (CUDA)
    build, before the model is loaded; nothing is written."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else find_spec(name, *a))
    assert main(["compile", str(workdir / "model.skops"), "--out",
                 str(tmp_path / "m.safetensors")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in err
    assert "pip install 'outofcore[compile]'" in err and "CUDA" in err
    assert not (tmp_path / "m.safetensors").exists()
