"""A fit report: where the time went (waiting for blocks or learning), rows/s, CPU and memory.

:class:`FitMonitor` records a fit. Passed as ``Incremental(callback=monitor)`` it logs every
block with the seconds the learner waited for it and spent in ``partial_fit``; run the whole
pipeline's fit inside ``with monitor:`` and it also times the passes before the first block (the
scalers' statistics, the labels) and samples the process's CPU and memory and the machine's CPU
in a background thread. :func:`write_report` turns the record and the model's ``history_`` into
``PREFIX.json`` and a self-contained ``PREFIX.html`` (PNG charts embedded, drawn with matplotlib's
Agg backend).

The diagnosis rests on measured times, not on CPU percentages: blocks are read, decoded and
scaled in background threads while ``partial_fit`` learns from the one before, so when the
learner waited for blocks longer than it learned, producing blocks bounds the fit; otherwise the
model does. CPU samples then say why blocks came late: the disk (CPUs idle in I/O wait), other
processes holding the cores, or this process using every core.
"""

import base64
import html
import io
import json
import os
import threading
import time

from outofcore.cli.timing import seconds as _seconds
from outofcore.training.callbacks import Callback, as_callbacks

# A fit shorter than this, or with fewer blocks, is reported without a diagnosis.
_SHORT_SECONDS = 0.5
_FEW_BLOCKS = 3
# Machine CPU busier than this share of its cores counts as saturated.
_SATURATED = 0.9

HOW = ("How this is measured: blocks are read, decoded and scaled in background threads while "
       "partial_fit learns from the previous block. For every block the fit records how long "
       "the learner waited for it and how long partial_fit took. When the waits add up to more "
       "than the learning, producing blocks bounds the fit and a faster model would not help; "
       "otherwise the model bounds it. CPU use is CPU time over wall time, for this process and "
       "for the whole machine (sampled every {interval:g} s, and at the start and the end); "
       "memory is the process's resident set at the same moments.")


class FitMonitor(Callback):
    """Record a fit: each block's rows, wait and learning time, and CPU/memory samples.

    Parameters
    ----------
    interval : float, default=0.1
        Seconds between psutil samples.
    callback : callable, Callback or list of them, optional
        Told about the fit too (every hook is forwarded), so a monitor can sit in front of
        another callback.

    Attributes
    ----------
    blocks : list of dict
        One per block: ``seconds`` since the monitor started, ``rows`` (cumulative), ``epoch``,
        ``wait_seconds``, ``learn_seconds``.
    samples : list of dict
        ``seconds``, ``cores`` (cores this process kept busy since the previous sample),
        ``machine_cores`` (busy cores of the whole machine), ``iowait_cores`` (cores idle in
        I/O wait, where the OS reports it), ``rss_mb``.
    fold : dict or None
        ``begin`` and ``end`` (seconds) of the learning loop, ``wait_seconds`` and
        ``learn_seconds`` in all.
    seconds : float or None
        Length of the monitored fit, once it has ended.

    Notes
    -----
    A monitor is a parameter of the estimator, so ``sklearn.base.clone`` deep-copies it: the
    copy keeps the records and settings but not the sampling thread, and a fit of the clone
    records into the copy.

    Examples
    --------
    >>> monitor = FitMonitor()
    >>> pipe = make_pipeline(ooc.StandardScaler(),
    ...                      ooc.Incremental(SGDClassifier(), callback=monitor))  # doctest: +SKIP
    >>> with monitor:                                                           # doctest: +SKIP
    ...     pipe.fit(X, y)
    >>> write_report("model.report", monitor, pipe[-1].history_)                 # doctest: +SKIP
    """

    def __init__(self, interval=0.1, callback=None):
        self.interval = interval
        self.callback = callback
        self.blocks = []
        self.samples = []
        self.fold = None
        self.seconds = None
        self._start = None
        self._sampler = None
        self._self_started = False

    def __getstate__(self):
        # Copies (clone, pickle) keep the records, not the running sampler.
        return {**self.__dict__, "_sampler": None, "_self_started": False}

    # ------------------------------------------------------------------------------ clock
    def __enter__(self):
        self.blocks, self.samples, self.fold, self.seconds = [], [], None, None
        self._start = time.perf_counter()
        self._sampler = _Sampler(self.interval, self._now, self.samples)
        return self

    def __exit__(self, *exc):
        self._sampler.stop()
        self._sampler = None
        self.seconds = self._now()

    def _now(self):
        return time.perf_counter() - self._start

    # -------------------------------------------------------------------------- callbacks
    def on_fit_begin(self, model, info):
        if self._sampler is None:  # used without `with`: record the learning loop alone
            self.__enter__()
            self._self_started = True
        self.fold = {"begin": self._now(), "end": None, "wait_seconds": 0.0,
                     "learn_seconds": 0.0}
        self._forward("on_fit_begin", model, info)

    def on_block_end(self, model, info):
        self.blocks.append({"seconds": self._now(), "rows": int(info["rows"]),
                            "epoch": info.get("epoch"), "wait_seconds": info["wait_seconds"],
                            "learn_seconds": info["learn_seconds"]})
        self._forward("on_block_end", model, info)

    def on_epoch_end(self, model, info):
        self._forward("on_epoch_end", model, info)

    def on_fit_end(self, model, info):
        self.fold.update(end=self._now(), wait_seconds=info["wait_seconds"],
                         learn_seconds=info["learn_seconds"])
        if self._self_started:
            self._self_started = False
            self.__exit__()
        self._forward("on_fit_end", model, info)

    def _forward(self, hook, model, info):
        for callback in as_callbacks(self.callback):
            method = getattr(callback, hook, None)
            if method is not None:
                method(model, info)

    # ---------------------------------------------------------------------------- figures
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
        """Totals: rows, seconds, where the time went, CPU and memory."""
        seconds = self.seconds if self.seconds is not None else (
            self._now() if self._start is not None else 0.0)
        rows = self.blocks[-1]["rows"] if self.blocks else 0
        fold = self.fold or {"begin": 0.0, "end": seconds, "wait_seconds": 0.0,
                             "learn_seconds": 0.0}
        end = fold["end"] if fold["end"] is not None else seconds
        loop = end - fold["begin"]

        def mean(key):
            measured = [x for x in self.samples if x[key] is not None]
            wall = sum(x["span"] for x in measured)
            return sum(x[key] * x["span"] for x in measured) / wall if wall > 0 else None

        return {"rows": rows, "seconds": seconds, "blocks": len(self.blocks),
                "before_first_block_seconds": fold["begin"],
                "loop_seconds": loop,
                "wait_seconds": fold["wait_seconds"], "learn_seconds": fold["learn_seconds"],
                "other_loop_seconds": max(0.0, loop - fold["wait_seconds"]
                                          - fold["learn_seconds"]),
                "after_loop_seconds": max(0.0, seconds - end),
                "rows_per_second": rows / loop if loop > 0 else None,
                "cpu_count": os.cpu_count(),
                "cores_mean": mean("cores"), "machine_cores_mean": mean("machine_cores"),
                "iowait_cores_mean": mean("iowait_cores"),
                "rss_mb_max": max((s["rss_mb"] for s in self.samples), default=None),
                "interval": self.interval}


class _Sampler:
    """Samples CPU and memory into ``samples`` every ``interval`` s, at the start and the end."""

    def __init__(self, interval, clock, samples):
        import psutil

        self._psutil, self._clock, self._samples = psutil, clock, samples
        self._process = psutil.Process()
        self._last = None
        self._sample()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True,
                                        name="outofcore-fit-monitor")
        self._thread.start()

    def _run(self, interval):
        while not self._stopped.wait(interval):
            self._sample()

    def stop(self):
        self._stopped.set()
        self._thread.join()
        self._sample()

    def _sample(self):
        now = self._clock()
        own = sum(self._process.cpu_times()[:2])
        machine = self._psutil.cpu_times()
        iowait = getattr(machine, "iowait", None)  # Linux only
        # Linux counts guest time inside user time as well.
        total = sum(machine) - getattr(machine, "guest", 0.0) - getattr(machine, "guest_nice", 0.0)
        busy = total - machine.idle - (iowait or 0.0)
        sample = {"seconds": now, "span": 0.0, "cores": None, "machine_cores": None,
                  "iowait_cores": None, "rss_mb": self._process.memory_info().rss / 1e6}
        if self._last is not None:
            then, own0, busy0, iowait0 = self._last
            span = now - then
            if span > 0:
                sample.update(span=span, cores=(own - own0) / span,
                              machine_cores=(busy - busy0) / span,
                              iowait_cores=None if iowait is None else (iowait - iowait0) / span)
        self._last = (now, own, busy, iowait)
        self._samples.append(sample)


def diagnose(summary):
    """What bounded the fit, in a few sentences, from the measured waits and learning time; and
    whether other processes held the CPUs meanwhile."""
    wait, learn = summary["wait_seconds"], summary["learn_seconds"]
    cores, machine = summary["cpu_count"], summary["machine_cores_mean"]
    own, iowait = summary["cores_mean"], summary["iowait_cores_mean"]
    saturated = machine is not None and bool(cores) and machine >= _SATURATED * cores
    others = max(0.0, machine - own) if machine is not None and own is not None else 0.0
    starved = saturated and others >= 0.25 * cores
    measured = (f"the learner waited {_seconds(wait)} for blocks and spent {_seconds(learn)} in "
                f"partial_fit")
    if summary["loop_seconds"] < _SHORT_SECONDS or summary["blocks"] < _FEW_BLOCKS:
        verdict = (f"Too short to tell what bounds it: {measured} over {summary['blocks']} "
                   f"block(s). Fit more rows or epochs for a diagnosis.")
    elif learn >= wait:
        verdict = (f"Bound by learning: {measured}. Blocks were ready before the model needed "
                   f"them, so faster reading would not help; a cheaper model or fewer epochs "
                   f"would.")
    else:
        why = "reading, decoding and scaling the blocks took longer than learning from them."
        if saturated and not starved:
            why = (f"this process kept all {cores} cores busy ({own:.1f} on average): decoding "
                   f"and scaling blocks is CPU work, and more cores would help, not a faster "
                   f"disk.")
        elif not saturated and iowait is not None and cores and iowait >= 0.1 * cores:
            why = (f"the CPUs sat in I/O wait ({iowait:.1f} of {cores} cores on average): the "
                   f"storage is the limit; fewer columns or a faster disk would help.")
        verdict = f"Bound by producing blocks: {measured}; {why}"
    if starved:
        verdict += (f" Meanwhile the machine's {cores} cores were busy ({machine:.1f} on "
                    f"average), {others:.1f} of them with other processes: this fit was short of "
                    f"CPU and runs faster on a quiet machine.")
    return verdict


def report_dict(monitor, history, *, meta=None):
    """The report as a JSON-ready dict: ``summary`` (with ``verdict``), ``history``,
    ``throughput``, ``blocks``, ``samples``."""
    summary = monitor.summary()
    return {"meta": meta or {}, "summary": {**summary, "verdict": diagnose(summary)},
            "history": list(history or []),
            "throughput": [{"seconds": t, "rows_per_second": r} for t, r in monitor.throughput()],
            "blocks": monitor.blocks, "samples": monitor.samples}


def _figure(report):
    """One PNG (bytes): per-epoch score/loss, rows/s, time per epoch, CPU and memory."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 6.6), layout="constrained")
    (ax_epoch, ax_rate), (ax_time, ax_cpu) = fig.subplots(2, 2)
    s, history = report["summary"], report["history"]
    epochs = [h["epoch"] for h in history]
    for key, style in (("score", "o-"), ("loss", "s--")):
        values = [h.get(key) for h in history]
        if any(v is not None for v in values):
            ax_epoch.plot(epochs, [float("nan") if v is None else v for v in values], style,
                          label=f"validation {key}" if key == "score" else key)
    if ax_epoch.lines:
        ax_epoch.legend(fontsize=8)
        ax_epoch.set(title="score and loss per epoch", xlabel="epoch")
    else:
        ax_epoch.text(0.5, 0.5, "no validation score or loss\n(fit with --early-stopping)",
                      ha="center", va="center", transform=ax_epoch.transAxes, color="gray")
        ax_epoch.set(title="score and loss per epoch", xticks=[], yticks=[])
    if epochs and ax_epoch.lines:
        ax_epoch.set_xticks(epochs)

    rate = report["throughput"]
    ax_rate.plot([p["seconds"] for p in rate], [p["rows_per_second"] for p in rate], ".-")
    first = s["before_first_block_seconds"]
    if first:
        ax_rate.axvspan(0, first, color="tab:gray", alpha=0.15,
                        label="before the first block\n(statistics, labels)")
        ax_rate.legend(fontsize=8, loc="lower right")
    ax_rate.set(title="rows/s while learning", xlabel="seconds since the fit began",
                ylabel="rows/s", ylim=(0, None))

    labels = ["before"] + [str(e) for e in epochs]
    waits = [first] + [h.get("wait_seconds", 0.0) for h in history]
    learns = [0.0] + [h.get("learn_seconds", 0.0) for h in history]
    others = [0.0] + [max(0.0, h["seconds"] - h.get("wait_seconds", 0.0)
                          - h.get("learn_seconds", 0.0)) for h in history]
    ax_time.bar(labels, waits, color="tab:orange", label="reading / waiting for blocks")
    ax_time.bar(labels, learns, bottom=waits, color="tab:green", label="learning (partial_fit)")
    ax_time.bar(labels, others, bottom=[w + c for w, c in zip(waits, learns)],
                color="tab:gray", label="validation, other")
    tops = [w + c + o for w, c, o in zip(waits, learns, others)]
    ax_time.legend(fontsize=8, loc="upper left")
    ax_time.set(title="where the time went, per epoch", xlabel="epoch", ylabel="seconds",
                ylim=(0, 1.45 * max(tops + [1e-3])))  # room for the legend above the bars

    samples = [x for x in report["samples"] if x["cores"] is not None]
    t = [x["seconds"] for x in samples]
    ax_cpu.plot(t, [x["cores"] for x in samples], color="tab:red", label="this process")
    ax_cpu.plot(t, [x["machine_cores"] for x in samples], color="tab:purple", lw=0.8,
                label="whole machine")
    if s["cpu_count"]:
        ax_cpu.axhline(s["cpu_count"], color="black", lw=0.6, ls=":")
    ax_cpu.set(title="cores busy and memory", xlabel="seconds since the fit began",
               ylabel=f"cores busy (of {s['cpu_count']})", ylim=(0, (s["cpu_count"] or 1) * 1.1))
    ax_mem = ax_cpu.twinx()
    ax_mem.plot([x["seconds"] for x in report["samples"]],
                [x["rss_mb"] for x in report["samples"]], color="tab:blue", label="memory (RSS)")
    ax_mem.set(ylabel="memory (MB)", ylim=(0, None))
    ax_cpu.legend(handles=ax_cpu.lines[:2] + ax_mem.lines, fontsize=8, loc="lower right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _html(report, png):
    s, meta = report["summary"], report["meta"]
    rows = "".join(
        f"<tr><td>{h['epoch']}</td><td>{h['rows']:,}</td><td>{h['seconds']:.2f}</td>"
        f"<td>{h.get('wait_seconds', 0.0):.2f}</td><td>{h.get('learn_seconds', 0.0):.2f}</td>"
        f"<td>{_num(h.get('score'), '.4f')}</td><td>{_num(h.get('loss'))}</td></tr>"
        for h in report["history"])
    facts = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                    for k, v in meta.items() if not isinstance(v, (dict, list)))
    cores = s["cpu_count"] or "?"
    cpu = (f"This process kept {s['cores_mean']:.1f} of the machine's {cores} cores busy on "
           f"average, other processes {max(0.0, s['machine_cores_mean'] - s['cores_mean']):.1f}"
           if s["cores_mean"] is not None else "CPU use was not measured")
    memory = "-" if s["rss_mb_max"] is None else f"{s['rss_mb_max']:,.0f} MB"
    rate = "" if s["rows_per_second"] is None else f" ({s['rows_per_second']:,.0f} rows/s)"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>outofcore fit report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse}}
td,th{{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}}
.verdict{{font-size:1.1em;background:#f4f4f4;padding:0.6em 1em;border-left:4px solid #555}}
.how{{color:#555;font-size:0.9em}}
</style></head><body>
<h1>Fit report</h1>
<p class="verdict"><b>{html.escape(diagnose(s))}</b></p>
<table>
<tr><th>fit</th><td>{_seconds(s['seconds'])}: {s['rows']:,} rows learned in
 {s['blocks']} blocks{rate}</td></tr>
<tr><th>before the first block</th><td>{_seconds(s['before_first_block_seconds'])} (scaler
 statistics and labels: a pass over the data)</td></tr>
<tr><th>waiting for blocks</th><td>{_seconds(s['wait_seconds'])}</td></tr>
<tr><th>learning (partial_fit)</th><td>{_seconds(s['learn_seconds'])}</td></tr>
<tr><th>validation, other</th><td>{_seconds(s['other_loop_seconds'] + s['after_loop_seconds'])}
</td></tr>
<tr><th>CPU</th><td>{cpu}</td></tr>
<tr><th>peak memory</th><td>{memory} (resident set of this process)</td></tr>
</table>
<p class="how">{html.escape(HOW.format(interval=s['interval']))}</p>
<img alt="score and loss per epoch, rows/s, time per epoch, CPU and memory"
 src="data:image/png;base64,{base64.b64encode(png).decode()}">
<h2>Epochs</h2>
<table><tr><th>epoch</th><th>rows seen</th><th>seconds</th><th>waiting</th><th>learning</th>
<th>validation score</th><th>loss</th></tr>{rows}</table>
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
        ``Incremental.history_`` (``epoch``, ``rows``, ``seconds``, ``score``, ``loss``,
        ``wait_seconds``, ``learn_seconds``).
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
