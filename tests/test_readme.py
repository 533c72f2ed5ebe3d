"""The README shows what really runs: its snippets run as pasted, its --help block is the command's.

Python snippets run in the order they appear, each in a fresh interpreter, in one folder, as a
reader pasting them one after another would run them; the command-line quickstart runs through
the command's entry point. Only the row counts are scaled down (to ``ROWS``) so that the suite
stays quick.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
ROWS = 20_000


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)


def _scaled(code):
    """``code`` with every row count of 100,000 or more (``rows=2_000_000``, ``--rows
    2000000``) set to ``ROWS``, and block sizes (``block_rows=250_000``) scaled with it from
    the README's 2M rows, so that the data keep their number of blocks."""
    def small(match):
        return match.group(1) + (str(ROWS) if int(match.group(2).replace("_", "")) >= 100_000
                                 else match.group(2))

    def block(match):
        return f"block_rows={int(match.group(1).replace('_', '')) * ROWS // 2_000_000}"

    code = re.sub(r"block_rows=([\d_]+)", block, code)
    return re.sub(r"(?<!block_)(rows=|--rows )([\d_]+)", small, code)


def _python(folder, code, name):
    script = folder / f"{name}.py"
    script.write_text(_scaled(code))
    result = subprocess.run([sys.executable, script.name], cwd=folder, capture_output=True,
                            text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{name} failed:\n{script.read_text()}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """The folder where the Python quickstart ran, and what it printed."""
    folder = tmp_path_factory.mktemp("readme")
    quick = next(b for b in _blocks("python") if "ooc.data.generate" in b)
    return folder, _python(folder, quick, "quickstart")


def test_every_python_snippet_is_tested():
    """The README's Python snippets are the quickstart, the cache, the search and the cluster
    examples, each run by a test below."""
    blocks = _blocks("python")
    assert len(blocks) == 4
    assert ["ooc.data.generate" in blocks[0], "cache=" in blocks[1],
            "IncrementalSearchCV" in blocks[2], "LocalCluster" in blocks[3]] == [True] * 4


def test_python_quickstart_runs_as_pasted(quickstart):
    """The quickstart fits, scores near the data's best linear accuracy, writes predictions and a
    compiled model, and the served model predicts five labels."""
    folder, out = quickstart
    lines = out.splitlines()
    assert 0.75 < float(lines[0]) < 0.85
    assert len(re.findall(r"\d", lines[1])) == 5
    assert (folder / "out" / "preds").is_dir() and (folder / "out" / "model.ooc").is_file()


def test_cache_snippet_runs_as_pasted(quickstart):
    """The read-once snippet fits on the quickstart's files."""
    folder, _ = quickstart
    _python(folder, _blocks("python")[1], "cache")


def test_search_snippet_runs_as_pasted(quickstart):
    """The search snippet searches on the quickstart's files and prints a winner and the last
    rungs of its results."""
    folder, _ = quickstart
    out = _python(folder, _blocks("python")[2], "search")
    assert "sgdclassifier__alpha" in out.splitlines()[0] and "mean_test_score" in out


@pytest.mark.cluster
@pytest.mark.slow
def test_cluster_snippet_runs_as_pasted(quickstart):
    """The cluster example runs as a script (its __main__ guard) with two replicas and reaches
    the accuracy of the quickstart's model on the project's data."""
    folder, _ = quickstart
    out = _python(folder, _blocks("python")[3], "cluster")
    assert 0.75 < float(out.splitlines()[-1]) < 0.85
    assert (folder / "out" / "cluster-preds").is_dir()


def test_command_line_quickstart_runs_as_pasted(tmp_path, monkeypatch, capsys):
    """The command-line quickstart runs command by command (read as bash reads it: lines joined
    at a backslash, comments dropped), through the command's own entry point."""
    from outofcore.cli.main import main

    block = next(b for b in _blocks("bash") if "outofcore make-data" in b)
    monkeypatch.chdir(tmp_path)
    for line in _scaled(block).replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        assert argv[0] == "outofcore", line
        assert main(argv[1:]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"fitted sgd on {ROWS:,} rows" in out and "model.skops: Pipeline" in out
    assert {"model.skops.report.html", "preds.parquet", "model.safetensors"} <= set(
        os.listdir(tmp_path))


def test_readme_help_block_matches_the_command():
    """The `outofcore --help` block in the README is the command's current output."""
    text = README.read_text()
    block = re.search(r"```\n\$ outofcore --help\n(.*?)```", text, re.S)
    assert block, "README has no `$ outofcore --help` block"
    out = subprocess.run([sys.executable, "-m", "outofcore.cli", "--help"], capture_output=True,
                         text=True, check=True, env={"COLUMNS": "80", "PATH": ""}).stdout
    assert block.group(1) == out


def test_readme_starts_with_the_two_commands():
    """The first two code blocks set up and run the demo, then set up and run the tests."""
    blocks = _blocks("bash")
    assert "outofcore demo" in blocks[0] and "pip install" in blocks[0]
    assert "pytest" in blocks[1] and "requirements-dev.txt" in blocks[1]


def test_readme_says_how_to_get_the_cpu_build_of_torch():
    """The README installs PyTorch's CPU build by its index and warns of the CUDA build."""
    text = README.read_text()
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in text
    assert "CUDA build" in text


def test_readme_test_time_says_what_was_measured_where():
    """The test-time statement names the command timed, the machine and that load slows it."""
    text = README.read_text()
    statement = " ".join(text[text.index("- Tests:"):].split("\n- ")[0].split())
    assert "time .venv/bin/python -m pytest -q" in statement
    assert "2-core machine" in statement and "loaded" in statement
