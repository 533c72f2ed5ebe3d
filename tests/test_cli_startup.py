"""The command answers before it loads its libraries: --help, argument and path errors import
nothing heavy, and each command says what it does before scikit-learn is imported."""

import subprocess
import sys

import pytest

HEAVY = ("sklearn", "dask", "torch", "skops", "pandas", "pyarrow", "matplotlib", "scipy")


def _run(code, cwd):
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder with a model file and metadata that need no loading to be described."""
    root = tmp_path_factory.mktemp("startup")
    import zipfile

    with zipfile.ZipFile(root / "model.skops", "w") as archive:
        archive.writestr("schema.json", "{}")
    (root / "model.skops.meta.json").write_text(
        '{"pipeline": "Pipeline(steps=[...])", "features": ["f0"], "history": []}')
    (root / "data.parquet").write_bytes(b"")
    return root


@pytest.mark.parametrize("argv, code", [
    (["--help"], 0),
    (["fit", "--help"], 0),
    (["--version"], 0),
    ([], 2),
    (["fit", "data.parquet", "--target", "t", "--epochs", "many", "--out", "m.skops"], 2),
    (["fit", "data.parquet", "--out", "m.skops"], 2),
    (["fit", "data.parquet", "--target", "t", "--param", "alpha", "--out", "m.skops"], 2),
    (["fit", "missing.parquet", "--target", "t", "--out", "m.skops"], 1),
    (["fit", "data.parquet", "--target", "t", "--out", "model.skops"], 1),
    (["predict", "missing.skops", "data.parquet", "--out", "p.parquet"], 1),
    (["predict", "model.skops", "missing.parquet", "--out", "p.parquet"], 1),
    (["predict", "model.skops", "data.parquet", "--out", "model.skops"], 1),
    (["compile", "missing.skops", "--out", "m.safetensors"], 1),
    (["compile", "model.skops", "--out", "model.skops"], 1),
    (["make-data", "--rows", "10", "--out", "data.parquet"], 1),
    (["make-data", "--rows", "10", "--n-classes", "1", "--out", "new.parquet"], 2),
    (["info", "missing.skops"], 1),
    (["info", "data.parquet"], 1),
    (["info", "model.skops"], 0),
])
def test_answers_without_heavy_imports(folder, argv, code):
    """--help, --version, bad arguments, missing or existing paths and `info` from metadata end
    with their exit code before scikit-learn, dask, torch, skops, pandas or pyarrow load."""
    program = (
        "import sys\n"
        "from outofcore.cli.main import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as e:  # --help and --version\n"
        "    code = e.code\n"
        f"print('exit', code, sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    result = _run(program, folder)
    assert result.stdout.splitlines()[-1] == f"exit {code} []", result.stdout + result.stderr


@pytest.mark.parametrize("argv, first", [
    (["fit", "data.parquet", "--target", "target", "--out", "m.skops"], "fit sgd"),
    (["predict", "model.skops", "data.parquet", "--out", "p.parquet"], "predict with model.skops"),
    (["compile", "model.skops", "--out", "m.safetensors"], "compiling model.skops"),
    (["make-data", "--rows", "100", "--features", "2", "--out", "d.parquet"], "writing 100 rows"),
])
def test_first_line_comes_before_the_libraries_load(folder, argv, first):
    """Each command prints what it is about to do before its first heavy import (the program
    stops there)."""
    program = (
        "import builtins, os, sys\n"
        "real = builtins.__import__\n"
        "def hook(name, *args, **kwargs):\n"
        f"    if name.split('.')[0] in {HEAVY!r} and name not in sys.modules:\n"
        "        print('IMPORTING', name, flush=True)\n"
        "        os._exit(0)\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = hook\n"
        "from outofcore.cli.main import main\n"
        f"raise SystemExit(main({argv!r}))\n"
    )
    result = _run(program, folder)
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == 2, result.stdout + result.stderr
    assert lines[0].startswith(first) and lines[1].startswith("IMPORTING"), lines


def test_loading_a_model_leaves_torch_alone(tmp_path):
    """Loading a skops model does not import torch (skops' list of trusted types would, through
    scikit-learn's package walk), and the hook that hides it is gone afterwards."""
    from outofcore.cli.main import main
    from outofcore.data import generate

    generate(tmp_path / "d.parquet", rows=200, features=2)
    assert main(["fit", str(tmp_path / "d.parquet"), "--target", "target", "--quiet", "--out",
                 str(tmp_path / "m.skops")]) == 0
    program = (
        "import sys\n"
        "from outofcore.cli.model_io import load_model\n"
        "load_model('m.skops')\n"
        "print('torch' in sys.modules, [type(f).__name__ for f in sys.meta_path][:1])\n"
    )
    result = _run(program, tmp_path)
    assert result.stdout.strip() != "" and result.stdout.split()[0] == "False", result.stderr
    assert "_HideTorch" not in result.stdout
