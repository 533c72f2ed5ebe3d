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


@pytest.mark.parametrize("argv, first, heavy", [
    (["fit", "train.parquet", "--target", "target", "--out", "m.skops"], "fit sgd", "sklearn"),
    (["predict", "model.skops", "train.parquet", "--out", "p.parquet"], "predict with model.skops",
     "sklearn"),
    (["compile", "model.skops", "--out", "m.safetensors"], "compiling model.skops", "sklearn"),
    (["make-data", "--rows", "100", "--features", "2", "--out", "d.parquet"], "writing 100 rows",
     "pyarrow"),
])
def test_first_line_comes_before_the_libraries_load(tmp_path, argv, first, heavy):
    """Each command prints what it is about to do before its first heavy import."""
    from outofcore.data import generate
    from outofcore.cli.main import main

    generate(tmp_path / "train.parquet", rows=200, features=2)
    if argv[0] in ("predict", "compile"):
        assert main(["fit", str(tmp_path / "train.parquet"), "--target", "target", "--quiet",
                     "--out", str(tmp_path / "model.skops")]) == 0
    program = (
        "import sys\n"
        "class Hook:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {heavy!r}:\n"
        "            print('IMPORTED', flush=True)\n"
        "            sys.meta_path.remove(self)\n"
        "sys.meta_path.insert(0, Hook())\n"
        "from outofcore.cli.main import main\n"
        f"raise SystemExit(main({argv!r}))\n"
    )
    result = _run(program, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(first) and "IMPORTED" in lines[1:], lines

