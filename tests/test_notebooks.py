"""The notebooks run top to bottom at a small size, and are stored without outputs."""

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
KERNEL = "outofcore-tests"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory, monkeypatch_module):
    """A kernelspec running this interpreter, found first through JUPYTER_PATH.

    A fresh CI machine has ipykernel installed but no kernelspec, and a developer's "python3"
    kernel may be another environment: naming this interpreter explicitly avoids both.
    """
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "outofcore tests", "language": "python"}))
    monkeypatch_module.setenv("JUPYTER_PATH", str(root))
    # Inline figures, no GUI backend, whatever the environment says.
    monkeypatch_module.setenv("MPLBACKEND", "Agg")
    return KERNEL


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _with_parameters(book, rows):
    """Replace the cell tagged "parameters" with a small size."""
    cells = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "each notebook has exactly one cell tagged 'parameters'"
    cells[0].source = f"ROWS = {rows}"
    return book


def test_there_are_five_notebooks():
    """The pipeline, predict-to-parquet, compile, search and mixed-table notebooks are present."""
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    """No cell carries outputs or an execution count in git."""
    book = nbformat.read(path, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, kernel, tmp_path):
    """Every cell runs without error at 20,000 rows, and the last code cell ran."""
    book = _with_parameters(nbformat.read(path, as_version=4), rows=20_000)
    client = nbclient.NotebookClient(book, kernel_name=kernel, timeout=120,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
