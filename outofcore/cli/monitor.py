"""A fit report: where the time went (waiting for blocks or learning), rows/s, CPU and memory.

:class:`FitMonitor` records a fit. Passed as ``Incremental(callback=monitor)`` it logs every
block with the seconds the learner waited for it and spent in ``partial_fit``; run the whole
pipeline's fit inside ``with monitor:`` and it also times the passes before the first block (the
scalers' statistics, the labels) and samples the process's CPU and memory and the machine's CPU
in a background thread. :func:`outofcore.cli.report.write_report` turns the record and the
model's ``history_`` into ``PREFIX.json`` and a self-contained ``PREFIX.html``.

The diagnosis rests on measured times, not on CPU percentages: blocks are read, decoded and
scaled in background threads while ``partial_fit`` learns from the one before, so when the
learner waited for blocks longer than it learned, producing blocks bounds the fit; otherwise the
model does. CPU samples then say why blocks came late: the disk (CPUs idle in I/O wait), other
processes holding the cores, or this process using every core.
"""

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


