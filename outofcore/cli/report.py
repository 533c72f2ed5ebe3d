"""A fit report: validation score and loss per epoch, rows/s over time, CPU and memory of the fit.

:class:`FitMonitor` records a fit: pass it as ``Incremental(callback=monitor)`` to log rows after
every block, and run the fit inside ``with monitor:`` to sample the process's CPU, resident memory
and bytes read with psutil in a background thread. :func:`write_report` turns the record and the
model's ``history_`` into ``PREFIX.json`` and a self-contained ``PREFIX.html`` (PNG charts embedded
as base64, drawn with matplotlib's Agg backend).

Reading it: a fit that keeps one core busy (CPU near 100%) is bound by ``partial_fit``; CPU well
below one core while rows/s is low means the loop waits for blocks to be read (I/O-bound), where
a faster disk, fewer columns, or ``prefetch`` help more than a faster model.
"""

import base64
import html
import io
import json
import os
import threading
import time


class FitMonitor:
    """Record rows/s from ``Incremental``'s callback and sample CPU/memory while a fit runs.

    Parameters
    ----------
    interval : float, default=0.1
        Seconds between psutil samples.
    callback : callable, optional
        Also called with every block's dict, so a monitor can sit in front of another callback.

    Attributes
    ----------
    blocks : list of dict
        One per block: ``seconds`` since the monitor started, ``rows`` (cumulative), ``epoch``.
    samples : list of dict
        One per sample: ``seconds``, ``cpu_percent`` (100 = one core busy), ``rss_mb``,
        ``read_mb`` (cumulative bytes read by the process, where the OS reports it).
    seconds : float or None
        Length of the monitored fit, once the ``with`` block has ended.

    Examples
    --------
    >>> monitor = FitMonitor()
    >>> with monitor:                                                   # doctest: +SKIP
    ...     Incremental(SGDClassifier(), callback=monitor).fit(X, y)
    >>> write_report("model.report", monitor, history=model.history_)  # doctest: +SKIP
    """

    def __init__(self, interval=0.1, callback=None):
        self.interval = interval
        self.callback = callback
        self.blocks = []
        self.samples = []
        self.seconds = None
        self._start = time.perf_counter()
        # Created when the fit starts: a monitor given as a parameter is deep-copied by clone.
        self._stop = None
        self._thread = None

    def __call__(self, info):
        self.blocks.append({"seconds": time.perf_counter() - self._start,
                            "rows": int(info["rows"]), "epoch": info.get("epoch")})
        if self.callback is not None:
            self.callback(info)

    def __enter__(self):
        import psutil

        self._start = time.perf_counter()
        self._stop = threading.Event()
        process = psutil.Process()
        process.cpu_percent()  # the first call only sets the reference point
        self._thread = threading.Thread(target=self._run, args=(process,), daemon=True,
                                        name="outofcore-fit-monitor")
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.seconds = time.perf_counter() - self._start

    def _run(self, process):
        while not self._stop.wait(self.interval):
            self._sample(process)

    def _sample(self, process):
        try:
            read = process.io_counters().read_bytes / 1e6
        except (AttributeError, OSError):  # not every OS (macOS) reports bytes read
            read = None
        self.samples.append({"seconds": time.perf_counter() - self._start,
                             "cpu_percent": process.cpu_percent(),
                             "rss_mb": process.memory_info().rss / 1e6, "read_mb": read})

    def throughput(self, window=None):
        """Rows/s over time: ``[(seconds, rows_per_second)]``, each measured over ``window`` s.

        Measured from the end of the first block: before it, time goes to planning and to the
        scaler's pass, not to these rows. The default window is a fortieth of the fit (at least
        20 ms): about 40 points.
        """
        if len(self.blocks) < 2:
            return []
        if window is None:
            window = max(0.02, (self.blocks[-1]["seconds"] - self.blocks[0]["seconds"]) / 40)
        points, last = [], self.blocks[0]
        for block in self.blocks[1:]:
            span = block["seconds"] - last["seconds"]
            if span >= window or block is self.blocks[-1] and span > 0:
                points.append((block["seconds"], (block["rows"] - last["rows"]) / span))
                last = block
        return points

    def summary(self):
        """Totals: rows, seconds, mean rows/s, mean and peak CPU%, peak RSS."""
        cpu = [s["cpu_percent"] for s in self.samples] or [0.0]
        rows = self.blocks[-1]["rows"] if self.blocks else 0
        seconds = self.seconds if self.seconds is not None else time.perf_counter() - self._start
        return {"rows": rows, "seconds": seconds,
                "first_block_seconds": self.blocks[0]["seconds"] if self.blocks else None,
                "rows_per_second": rows / seconds if seconds > 0 else None,
                "cpu_percent_mean": sum(cpu) / len(cpu), "cpu_percent_max": max(cpu),
                "cpu_count": os.cpu_count(),
                "rss_mb_max": max((s["rss_mb"] for s in self.samples), default=None)}


def _verdict(summary):
    cpu = summary["cpu_percent_mean"]
    if cpu < 60:
        return (f"The process used {cpu:.0f}% of one core on average: the fit mostly waited, "
                f"probably for reading blocks (I/O-bound).")
    return (f"The process used {cpu:.0f}% of one core on average: the fit was bound by "
            f"computation (partial_fit), not by reading.")


def report_dict(monitor, history, *, meta=None):
    """The report as a JSON-ready dict: ``summary``, ``history``, ``throughput``, ``samples``."""
    summary = monitor.summary()
    return {"meta": meta or {}, "summary": {**summary, "verdict": _verdict(summary)},
            "history": list(history or []),
            "throughput": [{"seconds": t, "rows_per_second": r} for t, r in monitor.throughput()],
            "samples": monitor.samples}


def _figure(report):
    """One PNG (bytes) with three panels: score/loss per epoch, rows/s, CPU% and RSS."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.4), layout="constrained")
    ax_epoch, ax_rate, ax_cpu = fig.subplots(1, 3)
    epochs = [h["epoch"] for h in report["history"]]
    for key, style in (("score", "o-"), ("loss", "s--")):
        values = [h.get(key) for h in report["history"]]
        if any(v is not None for v in values):
            ax_epoch.plot(epochs, [float("nan") if v is None else v for v in values], style,
                          label=f"validation {key}" if key == "score" else key)
    if ax_epoch.lines:
        ax_epoch.legend(fontsize=8)
        ax_epoch.set(title="per epoch", xlabel="epoch")
    else:
        ax_epoch.bar(epochs, [h["seconds"] for h in report["history"]], color="tab:gray")
        ax_epoch.set(title="seconds per epoch (no validation score:\nfit with --early-stopping)",
                     xlabel="epoch", ylabel="seconds")
    if epochs:
        ax_epoch.set_xticks(epochs)

    rate = report["throughput"]
    ax_rate.plot([p["seconds"] for p in rate], [p["rows_per_second"] for p in rate], ".-")
    first = report["summary"]["first_block_seconds"]
    if first:
        # Before the first block: planning, the scaler's pass over the data, finding the classes.
        ax_rate.axvspan(0, first, color="tab:gray", alpha=0.15, label="before the first block")
        ax_rate.legend(fontsize=8, loc="lower right")
    ax_rate.set(title="rows/s over time", xlabel="seconds", ylabel="rows/s", ylim=(0, None))

    samples = report["samples"]
    t = [s["seconds"] for s in samples]
    ax_cpu.plot(t, [s["cpu_percent"] for s in samples], color="tab:red", label="CPU %")
    ax_cpu.axhline(100, color="tab:red", lw=0.6, ls=":")
    ax_cpu.set(title="process CPU and memory", xlabel="seconds", ylabel="CPU % (100 = one core)",
               ylim=(0, None))
    ax_mem = ax_cpu.twinx()
    ax_mem.plot(t, [s["rss_mb"] for s in samples], color="tab:blue", label="RSS MB")
    ax_mem.set(ylabel="RSS (MB)", ylim=(0, None))
    ax_cpu.legend(handles=ax_cpu.lines[:1] + ax_mem.lines, fontsize=8, loc="lower right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _html(report, png):
    s, meta = report["summary"], report["meta"]
    rate = s["rows_per_second"]
    rows = "".join(
        f"<tr><td>{h['epoch']}</td><td>{h['rows']:,}</td><td>{h['seconds']:.2f}</td>"
        f"<td>{_num(h.get('score'))}</td><td>{_num(h.get('loss'))}</td></tr>"
        for h in report["history"])
    facts = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                    for k, v in meta.items() if not isinstance(v, (dict, list)))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>outofcore fit report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}
table{{border-collapse:collapse}}
td,th{{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}}
</style></head><body>
<h1>Fit report</h1>
<p>{s['rows']:,} rows in {s['seconds']:.1f} s ({_num(rate, ',.0f')} rows/s); CPU mean
{s['cpu_percent_mean']:.0f}%, peak {s['cpu_percent_max']:.0f}% ({s['cpu_count']} cores);
peak memory {_num(s['rss_mb_max'], ',.0f')} MB.</p>
<p><b>{html.escape(s['verdict'])}</b></p>
<img alt="score and loss per epoch, rows/s over time, CPU and memory"
 src="data:image/png;base64,{base64.b64encode(png).decode()}">
<h2>Epochs</h2>
<table><tr><th>epoch</th><th>rows seen</th><th>seconds</th><th>validation score</th>
<th>loss</th></tr>{rows}</table>
<h2>Training</h2><table>{facts}</table>
</body></html>
"""


def _num(value, spec=".4g"):
    return "-" if value is None else format(value, spec)


def write_report(prefix, monitor, history, *, meta=None):
    """Write ``PREFIX.json`` and a self-contained ``PREFIX.html`` for a monitored fit.

    Parameters
    ----------
    prefix : str or path-like
        Path without the extension, e.g. ``"model.skops.report"``.
    monitor : FitMonitor
        The monitor the fit ran under.
    history : list of dict
        ``Incremental.history_`` (``epoch``, ``rows``, ``seconds``, ``score``, ``loss``).
    meta : dict, optional
        Training facts shown in the report (data, model, rows, ...).

    Returns
    -------
    (str, str)
        The HTML and JSON paths.
    """
    from outofcore.io.files import publishing, write_json

    report = report_dict(monitor, history, meta=meta)
    json_path = write_json(f"{os.fspath(prefix)}.json", report)
    page = _html(report, _figure(report))
    html_path = f"{os.fspath(prefix)}.html"
    with publishing(html_path, overwrite=True) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    return html_path, json_path


def load_report(path):
    """Read a report JSON written by :func:`write_report`."""
    with open(path) as f:
        return json.load(f)
