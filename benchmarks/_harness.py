"""Shared plumbing of the benchmark programs: data sets, child processes, alternation, tables.

Every contender runs in a fresh Python process so that one contender's imports, caches and
allocator state never help or hurt another. The child prints one ``RESULT {json}`` line with its
own timings and its peak resident memory (:func:`peak_rss_mb`). Contenders run in a rotated order
each round, so drift in a shared machine's load spreads over all of them, and the tables report
medians with the spread.
"""

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = "RESULT "


# ----------------------------------------------------------------------------------- data sets
def ensure_data(path, *, rows, features=20, fmt="parquet", row_group_rows=500_000,
                rows_per_part=500_000, test_rows=500_000, seed=0, **mixed):
    """A train/test pair of folders under ``path``, generated once and reused while unchanged.

    The rows come from :func:`outofcore.data.generate` (one draw of ``rows + test_rows`` rows);
    the last ``test_rows`` rows, whole parts, move to ``path/test`` so every contender is scored
    on the same held-out rows drawn from the same distribution. ``mixed`` (categories=,
    timestamp=, boolean=, missing=) makes a mixed table. Returns ``(train, test)``.
    """
    from outofcore.data import generate

    path = Path(path)
    wanted = dict(rows=rows, features=features, fmt=fmt, row_group_rows=row_group_rows,
                  rows_per_part=rows_per_part, test_rows=test_rows, seed=seed,
                  **{k: list(v) if isinstance(v, tuple) else v for k, v in mixed.items()})
    stamp = path / "bench.json"
    train, test = path / "train", path / "test"
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return train, test
    if test_rows % rows_per_part or rows % rows_per_part:
        raise ValueError("rows and test_rows must be multiples of rows_per_part")
    if path.exists():
        shutil.rmtree(path)
    start = time.perf_counter()
    full = path / "all"
    generate(full, rows=rows + test_rows, features=features, format=fmt, seed=seed,
             rows_per_part=rows_per_part, row_group_rows=row_group_rows, **mixed)
    train.mkdir(parents=True)
    test.mkdir()
    parts = sorted(p for p in full.iterdir() if p.name.startswith("part-"))
    n_test = test_rows // rows_per_part
    for part in parts[:len(parts) - n_test]:
        part.rename(train / part.name)
    for part in parts[len(parts) - n_test:]:
        part.rename(test / part.name)
    shutil.rmtree(full)
    stamp.write_text(json.dumps(wanted))
    print(f"# generated {rows} + {test_rows} rows x {features} ({fmt}) in {path} in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    return train, test


def ensure_single_float64(train):
    """The training parts as one parquet file of float64 features in 500k-row row groups.

    The layout of the issue's reference measurement (one 5M x 20 float64 file). Written once
    beside ``train`` as ``train-float64/part-00000.parquet`` and reused; returns its folder.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(str(train) + "-float64")
    target = folder / "part-00000.parquet"
    if target.exists():
        return folder
    folder.mkdir(exist_ok=True)
    tmp = folder / "writing.tmp"
    writer = None
    for path in files(train):
        table = pq.read_table(path)
        fields = [pa.field(f.name, pa.float64()) if pa.types.is_float32(f.type) else f
                  for f in table.schema]
        table = table.cast(pa.schema(fields))
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table, row_group_size=500_000)
    writer.close()
    tmp.rename(target)
    return folder


def files(folder, fmt="parquet"):
    """The parts of a folder in order, as strings."""
    return [str(p) for p in sorted(Path(folder).glob(f"part-*.{fmt}"))]


# -------------------------------------------------------------------------------------- children
def emit(**values):
    """Child side: print the result line the parent reads."""
    print(RESULT + json.dumps(values), flush=True)


def import_outofcore():
    """Load outofcore's fit and predict modules and the dask modules they load on first use.

    Children call it before their clock, as the alternatives import their libraries before
    theirs: otherwise the first call of a lazily imported name would time the imports
    (0.2-1.4 s in a fresh process).
    """
    import dask.array  # noqa: F401  (loaded by the readers on first use)

    import outofcore as ooc

    for name in ("read_parquet", "read_csv", "StandardScaler", "Incremental",
                 "predict_to_parquet"):
        getattr(ooc, name)


def clock():
    """Child side: ``time.perf_counter()`` after a full garbage collection.

    The first full collection after importing torch walks every object the import made (364k
    objects, 0.25 s here) and lands in whichever call allocates next: it belongs to the import,
    which every child does before its clock, so every child collects before starting it.
    """
    import gc

    gc.collect()
    return time.perf_counter()


def cpu_seconds():
    """Child side: CPU seconds (user + system) this process has used so far, all its threads.

    On a shared machine the wall time of a contender moves with the other load, while the CPU it
    uses moves less: a second view of the same run."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb():
    """Child side: peak resident memory, in MB, of this process plus its live child processes.

    Read from ``VmHWM`` in ``/proc``: the high-water mark of each process's own memory since it
    started. ``getrusage``'s ``ru_maxrss`` is no use here: Linux carries the parent's resident
    size at fork into the child's figure. Worker processes (a LocalCluster's) run beside the
    client, so their peaks are added; call this before closing them.
    """
    import psutil

    def hwm(pid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    me = psutil.Process()
    return hwm(me.pid) + sum(hwm(c.pid) for c in me.children(recursive=True))


def run_child(argv, *, timeout=900, env=None, source=None):
    """Run ``python argv...`` from the repository root; its result dict plus wall time.

    ``source`` is another checkout whose ``outofcore`` the child imports instead of this one's
    (to compare a change side by side with the code it changes).

    A child that fails or prints no result line gives ``{"error": ...}`` instead of raising, so one
    broken contender does not lose the others' numbers.
    """
    start = time.perf_counter()
    child_env = dict(os.environ, PYTHONPATH=str(source or ROOT), **(env or {}))
    proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=child_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return {"error": f"timed out after {timeout} s"}
    wall = time.perf_counter() - start
    lines = [ln for ln in out.splitlines() if ln.startswith(RESULT)]
    if proc.returncode or not lines:
        tail = (err or out).strip().splitlines()[-5:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    result = json.loads(lines[-1][len(RESULT):])
    result["wall"] = wall
    return result


def alternate(contenders, repeats, run):
    """``run(name)`` for every contender, ``repeats`` rounds, rotating the order each round.

    Returns ``{name: [result, ...]}``; progress goes to stdout as it happens.
    """
    results = {name: [] for name in contenders}
    for r in range(repeats):
        order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
        for name in order:
            res = run(name)
            results[name].append(res)
            shown = res.get("error") or ", ".join(
                f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items())
            print(f"# round {r + 1} {name}: {shown}", flush=True)
    return results


# ---------------------------------------------------------------------------------------- tables
def _median(values):
    return statistics.median(values) if values else float("nan")


def summarize(results, key="seconds"):
    """Per contender: median and range of ``key``, median peak RSS, median of other numbers."""
    rows = {}
    for name, runs in results.items():
        ok = [r for r in runs if "error" not in r]
        if not ok:
            rows[name] = {"error": runs[-1]["error"] if runs else "no runs"}
            continue
        times = [r[key] for r in ok]
        row = {"median": _median(times), "min": min(times), "max": max(times), "n": len(ok)}
        for k in ok[0]:
            if k != key and isinstance(ok[0][k], (int, float)):
                row[k] = _median([r[k] for r in ok if k in r])
        rows[name] = row
    return rows


def table(rows, *, baseline, columns, key_label="fit s"):
    """A markdown table: median seconds (min-max), extra columns, ratio to the baseline."""
    base = rows.get(baseline, {}).get("median")
    head = ["contender", f"{key_label} (median, min-max)"] + [c[1] for c in columns] + [
        f"time / {baseline}"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        if "error" in row:
            out.append(f"| {name} | failed: {row['error'][:80]} |" + " |" * (len(head) - 2))
            continue
        cells = [name, f"{row['median']:.2f} ({row['min']:.2f}-{row['max']:.2f}, n={row['n']})"]
        for key, _, fmt in columns:
            value = row.get(key)
            if value is not None and fmt == "d":
                value = int(round(value))  # a median of an even count may fall between ints
            cells.append("-" if value is None else format(value, fmt))
        cells.append("-" if not base else f"{row['median'] / base:.2f}x")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def spread(rows):
    """Largest (max - min) / median over the contenders: how noisy the run was."""
    values = [(r["max"] - r["min"]) / r["median"] for r in rows.values() if "median" in r]
    return max(values) if values else float("nan")


def machine():
    """One line about the machine and the versions that matter."""
    import numpy
    import pyarrow
    import sklearn

    import dask

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu}, {cores} cores, "
            f"{mem:.0f} GiB RAM; Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"scikit-learn {sklearn.__version__}, dask {dask.__version__}, "
            f"pyarrow {pyarrow.__version__}")
