"""The fit report's files: ``PREFIX.json`` (the record of :class:`~outofcore.cli.monitor.FitMonitor`
and the model's ``history_``) and a self-contained ``PREFIX.html`` (PNG charts drawn with
matplotlib's Agg backend, embedded beside the verdict and the training facts)."""

import base64
import html
import io
import json
import os

from outofcore.cli.monitor import HOW, diagnose, report_dict
from outofcore.cli.timing import seconds as _seconds


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
