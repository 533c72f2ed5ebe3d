"""The fit report: what FitMonitor records during a fit, and the JSON and HTML it writes."""

import base64
import json
import re

import dask.array as da
import numpy as np
import pytest
from sklearn.linear_model import SGDClassifier

from outofcore import Incremental
from outofcore.cli.report import FitMonitor, load_report, report_dict, write_report


@pytest.fixture(scope="module")
def monitored_fit():
    """An early-stopping fit of 8 blocks x 3 epochs run under a FitMonitor."""
    rng = np.random.default_rng(3)
    X = da.from_array(rng.normal(size=(4000, 4)), chunks=500)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    monitor = FitMonitor(interval=0.01)
    model = Incremental(SGDClassifier(random_state=0), epochs=3, early_stopping=True,
                        n_iter_no_change=5, random_state=0, callback=monitor)
    with monitor:
        model.fit(X, y)
    return model, monitor


def test_monitor_sees_every_block_and_samples_resources(monitored_fit):
    """One record per block, rows growing to n_samples_seen_, and CPU/RSS samples."""
    model, monitor = monitored_fit
    assert len(monitor.blocks) == model.n_blocks_seen_
    assert monitor.blocks[-1]["rows"] == model.n_samples_seen_
    assert np.all(np.diff([b["rows"] for b in monitor.blocks]) > 0)
    assert monitor.samples and all(s["rss_mb"] > 0 and s["cpu_percent"] >= 0
                                   for s in monitor.samples)


def test_throughput_adds_up_to_the_rows(monitored_fit):
    """Rows/s points, times their windows, add up to the rows seen after the first block."""
    _, monitor = monitored_fit
    points = monitor.throughput()
    first = monitor.blocks[0]
    starts = [first["seconds"]] + [t for t, _ in points[:-1]]
    rows = sum(rate * (t - start) for (t, rate), start in zip(points, starts))
    assert points and rows == pytest.approx(monitor.blocks[-1]["rows"] - first["rows"], rel=1e-9)


def test_monitor_forwards_to_another_callback(rng):
    """A monitor built with callback= passes every block's dict on."""
    X = da.from_array(rng.normal(size=(600, 2)), chunks=200)
    forwarded = []
    monitor = FitMonitor(callback=forwarded.append)
    Incremental(SGDClassifier(random_state=0), random_state=0, callback=monitor).fit(
        X, (X[:, 0] > 0).astype(int))
    assert [f["rows"] for f in forwarded] == [b["rows"] for b in monitor.blocks] == [200, 400, 600]


def test_report_files(monitored_fit, tmp_path):
    """write_report writes JSON with the model's history and HTML with an embedded PNG chart."""
    model, monitor = monitored_fit
    html_path, json_path = write_report(tmp_path / "fit.report", monitor, model.history_,
                                        meta={"model": "sgd", "rows": 4000})
    report = load_report(json_path)
    assert report["history"] == json.loads(json.dumps(model.history_))
    assert [h["score"] is not None for h in report["history"]] == [True] * model.n_epochs_
    assert report["summary"]["rows"] == model.n_samples_seen_
    assert report["meta"] == {"model": "sgd", "rows": 4000}
    page = open(html_path).read()
    png = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "<th>model</th><td>sgd</td>" in page
    assert all(f"<td>{h['epoch']}</td>" in page for h in model.history_)


class _Fake:
    """A monitor stand-in with given CPU samples."""

    def __init__(self, cpu):
        self.samples = [{"seconds": i, "cpu_percent": c, "rss_mb": 100.0, "read_mb": 0.0}
                        for i, c in enumerate(cpu)]
        self.blocks = [{"seconds": 1.0, "rows": 10, "epoch": 1}]
        self.seconds = 2.0

    summary = FitMonitor.summary
    throughput = FitMonitor.throughput


@pytest.mark.parametrize("cpu, words", [([20, 30, 25], "I/O-bound"),
                                        ([95, 100, 98], "computation")])
def test_verdict_tells_io_bound_from_compute_bound(cpu, words):
    """Low average CPU reads as waiting on I/O, a busy core as compute-bound."""
    report = report_dict(_Fake(cpu), [])
    assert words in report["summary"]["verdict"]
    assert report["summary"]["cpu_percent_mean"] == pytest.approx(np.mean(cpu))
