"""Progress display: a bar with rows/s on a terminal, silence in scripts and with --quiet."""

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
import threading

import dask.array as da
import pytest
from sklearn.linear_model import SGDClassifier

from outofcore import Incremental
from outofcore.cli.main import main
from outofcore.data import generate
from outofcore.runtime.progress import RowProgress


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self):
        return True


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("progress") / "d.parquet"
    generate(path, rows=3000, features=3, rows_per_part=1000)
    return path


def _run_cli(argv, monkeypatch, stderr):
    monkeypatch.setattr(sys, "stderr", stderr)
    code = main([str(a) for a in argv])
    monkeypatch.undo()
    return code


@pytest.mark.parametrize("tty, quiet, bar", [(True, False, True), (True, True, False),
                                             (False, False, False)])
def test_fit_bar_only_on_a_terminal_without_quiet(data, tmp_path, monkeypatch, capsys, tty,
                                                  quiet, bar):
    """fit draws a bar with rows/s on a terminal; --quiet or a pipe keeps stderr empty."""
    stderr = Terminal() if tty else io.StringIO()
    argv = ["fit", data, "--target", "target", "--block-rows", 500, "--epochs", 2,
            "--out", tmp_path / "m.skops"] + (["--quiet"] if quiet else [])
    assert _run_cli(argv, monkeypatch, stderr) == 0
    shown = stderr.getvalue()
    assert ("rows/s" in shown and "fit SGDClassifier" in shown and "6.00k/6.00k" in shown) == bar
    assert bar or shown == ""
    summary = capsys.readouterr().out
    assert ("fitted sgd on 3,000 rows" in summary) != quiet


@pytest.mark.parametrize("tty", [True, False])
def test_predict_bar_counts_every_row(data, tmp_path, monkeypatch, tty):
    """predict's bar reaches the row count of the data on a terminal, and is absent otherwise."""
    assert main(["fit", str(data), "--target", "target", "--quiet", "--out",
                 str(tmp_path / "m.skops")]) == 0
    stderr = Terminal() if tty else io.StringIO()
    argv = ["predict", tmp_path / "m.skops", data, "--out", tmp_path / "p.parquet"]
    assert _run_cli(argv, monkeypatch, stderr) == 0
    assert ("predict" in stderr.getvalue() and "3.00k/3.00k" in stderr.getvalue()) == tty


def test_script_under_a_pseudo_terminal_shows_the_bar(data, tmp_path):
    """The installed script, its stderr a real pty, draws a tqdm bar with rows/s and ETA."""
    exe = os.path.join(os.path.dirname(sys.executable), "outofcore")
    master, slave = pty.openpty()
    # A new pty is 0 columns wide, which tqdm would fill with nothing: give it 24 x 100.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    chunks = []

    def drain():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the pty closes when the process ends
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    result = subprocess.run([exe, "fit", str(data), "--target", "target", "--block-rows", "500",
                             "--out", str(tmp_path / "m.skops")], stderr=slave,
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            timeout=120)
    os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    shown = b"".join(chunks).decode(errors="replace")
    assert result.returncode == 0
    assert "rows/s" in shown and "3.00k/3.00k" in shown and "<" in shown  # elapsed<remaining
    assert "fitted sgd" in result.stdout


def test_python_api_callback_sees_every_block(rng):
    """Incremental's callback gets one dict per block, rows growing to rows x epochs."""
    X = da.from_array(rng.normal(size=(900, 3)), chunks=200)
    y = (X[:, 0] > 0).astype(int)
    seen = []
    Incremental(SGDClassifier(random_state=0), epochs=2, random_state=0,
                callback=seen.append).fit(X, y)
    assert len(seen) == 2 * X.numblocks[0]
    assert [s["rows"] for s in seen][-1] == seen[-1]["total"] == 1800
    assert all(b["rows"] > a["rows"] and b["seconds"] >= a["seconds"]
               for a, b in zip(seen, seen[1:]))
    assert sorted({s["epoch"] for s in seen}) == [1, 2]


@pytest.mark.parametrize("verbose, tty, bar", [(True, False, True), (False, True, False),
                                               ("auto", True, True), ("auto", False, False)])
def test_row_progress_verbose(verbose, tty, bar, monkeypatch):
    """RowProgress shows a bar for verbose=True, never for False, on terminals only for "auto"."""
    stderr = Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    calls = []
    with RowProgress(100, "demo", verbose=verbose, callback=calls.append) as progress:
        progress.update(60, epoch=1)
        progress.update(40, epoch=1)
    assert ("100/100" in stderr.getvalue()) == bar
    assert [c["rows"] for c in calls] == [60, 100] and calls[0]["epoch"] == 1


def test_generate_and_predict_to_parquet_report_each_part(tmp_path):
    """make-data and predict_to_parquet call back once per part with cumulative rows."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier

    import outofcore as ooc

    parts = []
    ooc.data.generate(tmp_path / "d", rows=2500, features=3, rows_per_part=1000,
                      callback=parts.append)
    assert [p["rows"] for p in parts] == [1000, 2000, 2500]
    assert [p["part"] for p in parts] == [0, 1, 2] and all(p["total"] == 2500 for p in parts)
    X, y = ooc.read_parquet(tmp_path / "d", target="target", exclude=["id"])
    model = SGDClassifier(random_state=0).fit(X.compute(), y.compute())
    done = []
    ooc.predict_to_parquet(model, tmp_path / "d", tmp_path / "p", columns=["f0", "f1", "f2"],
                           callback=done.append)
    # Parts finish in any order: the steps are the parts' rows, the last count is every row.
    steps = np.diff([0] + [d["rows"] for d in done])
    assert sorted(steps) == [500, 1000, 1000] and done[-1]["rows"] == 2500
    assert len({d["part"] for d in done}) == 3
