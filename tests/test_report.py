"""The fit report: what FitMonitor records during a fit, and the JSON and HTML it writes."""

import base64
import json
import re

import dask.array as da
import numpy as np
import pytest
from sklearn.linear_model import SGDClassifier

from outofcore import Incremental
from outofcore.cli.monitor import FitMonitor, diagnose
from outofcore.cli.report import load_report, write_report


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
    """One record per block, rows growing to n_samples_seen_, waits and learning times adding
    up to the fit's totals, and CPU/RSS samples from the start to the end."""
    model, monitor = monitored_fit
    assert len(monitor.blocks) == model.n_blocks_seen_
    assert monitor.blocks[-1]["rows"] == model.n_samples_seen_
    assert np.all(np.diff([b["rows"] for b in monitor.blocks]) > 0)
    for key in ("wait_seconds", "learn_seconds"):
        assert sum(b[key] for b in monitor.blocks) == pytest.approx(monitor.fold[key])
        assert sum(h[key] for h in model.history_) == pytest.approx(monitor.fold[key])
    assert monitor.samples[0]["seconds"] <= monitor.fold["begin"]
    assert monitor.samples[-1]["seconds"] >= monitor.fold["end"]
    assert all(s["rss_mb"] > 0 for s in monitor.samples)
    assert all(s["cores"] >= 0 and s["machine_cores"] >= 0 for s in monitor.samples[1:])


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


def _summary(**changes):
    """A summary of a 4-second fit over 40 blocks on a 2-core machine, with ``changes``."""
    summary = {"rows": 40_000, "seconds": 4.5, "blocks": 40, "before_first_block_seconds": 0.5,
               "loop_seconds": 4.0, "wait_seconds": 1.0, "learn_seconds": 2.8,
               "other_loop_seconds": 0.2, "after_loop_seconds": 0.0, "rows_per_second": 10_000,
               "cpu_count": 2, "cores_mean": 1.1, "machine_cores_mean": 1.2,
               "iowait_cores_mean": 0.0, "rss_mb_max": 300.0, "interval": 0.1}
    return {**summary, **changes}


@pytest.mark.parametrize("changes, words", [
    ({}, "Bound by learning"),
    ({"wait_seconds": 3.0, "learn_seconds": 0.8}, "reading, decoding and scaling"),
    ({"wait_seconds": 3.0, "learn_seconds": 0.8, "machine_cores_mean": 1.95,
      "cores_mean": 0.9}, "short of CPU"),
    ({"wait_seconds": 3.0, "learn_seconds": 0.8, "machine_cores_mean": 1.95,
      "cores_mean": 1.9}, "kept all 2 cores busy"),
    ({"wait_seconds": 3.0, "learn_seconds": 0.8, "iowait_cores_mean": 0.6}, "I/O wait"),
    ({"machine_cores_mean": 1.95, "cores_mean": 0.4}, "Bound by learning"),
    ({"machine_cores_mean": 2.0, "cores_mean": 0.4}, "1.6 of them with other processes"),
    ({"loop_seconds": 0.2, "blocks": 2}, "Too short"),
])
def test_diagnosis_rests_on_measured_waits(changes, words):
    """Waits longer than learning read as bound by producing blocks, and CPU samples say why
    (this process, the disk); learning longer than waits reads as model-bound; other processes
    holding the cores are named either way."""
    verdict = diagnose(_summary(**changes))
    assert words in verdict, verdict
    assert "I/O-bound" not in verdict


def test_a_short_fit_still_reports_cpu_and_memory(rng, tmp_path):
    """A one-block fit, shorter than a sampling interval, reports measured cores busy and peak
    memory (never "-"), one unit for CPU, and how the diagnosis is made."""
    X = da.from_array(rng.normal(size=(300, 2)), chunks=300)
    monitor = FitMonitor(interval=10.0)
    model = Incremental(SGDClassifier(random_state=0), random_state=0, callback=monitor)
    with monitor:
        model.fit(X, (X[:, 0] > 0).astype(int))
    summary = monitor.summary()
    assert summary["cores_mean"] is not None and summary["rss_mb_max"] > 0
    html_path, _ = write_report(tmp_path / "r", monitor, model.history_)
    page = open(html_path).read()
    assert "How this is measured" in page and "Too short to tell" in page
    assert re.search(r"kept \d+\.\d of the machine's \d+ cores busy", page)
    assert re.search(r"peak memory</th><td>[\d,]+ MB", page)
    assert "%" not in re.sub(r"<style>.*?</style>", "", page, flags=re.S)


@pytest.mark.parametrize("during_fit", [False, True])
def test_monitor_survives_clone(rng, during_fit):
    """clone() of an Incremental holding a monitor works idle and while it samples, and the
    clone's fit records into the clone's monitor, not the original."""
    from sklearn.base import clone

    X = da.from_array(rng.normal(size=(600, 2)), chunks=200)
    y = (X[:, 0] > 0).astype(int)
    monitor = FitMonitor(interval=0.01)
    model = Incremental(SGDClassifier(random_state=0), random_state=0, callback=monitor)
    if during_fit:
        with monitor:
            copy = clone(model)
    else:
        copy = clone(model)
    assert copy.callback is not monitor
    copy.fit(X, y)
    assert len(copy.callback.blocks) == 3 and monitor.blocks == []
