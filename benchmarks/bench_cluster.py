"""Pipeline(StandardScaler, Incremental(SGDClassifier)) over a 20M-row parquet folder, on the local
threaded scheduler and on a 2-worker LocalCluster whose workers are held to a memory budget.

Each setting runs in a fresh Python process (so one setting's imports and caches never help the
other) and reports its wall time, the peak resident memory of the client and of every worker
process, the worker log lines that mention spilling, pausing or memory limits, and the learned
coefficients, so the table also says whether the cluster learned exactly the local model.

    python benchmarks/bench_cluster.py                          # 20M x 20, memory_limit 2GiB
    python benchmarks/bench_cluster.py --rows 2000000 --memory-limit 1GiB

The data set is generated once under ``--data`` (``python -m outofcore.data`` writes the same files).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = "RESULT "
MEMORY_WORDS = ("spill", "pause", "memory limit", "Memory use is high", "terminat")


def _hwm_mb(pid="self"):
    """Peak resident memory of a process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _worker_peak_mb():
    return _hwm_mb()


def _fit(folder, block_rows):
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline

    import outofcore as ooc

    X, y = ooc.read_parquet(folder, target="target", exclude=["id"], block_rows=block_rows)
    pipe = make_pipeline(ooc.StandardScaler(),
                         ooc.Incremental(SGDClassifier(random_state=0), random_state=0))
    start = time.perf_counter()
    pipe.fit(X, y)
    return pipe, time.perf_counter() - start, X.shape


def child(setting, folder, block_rows, memory_limit):
    """Run one setting in this process and print its RESULT line."""
    result = {"setting": setting}
    if setting == "local":
        import dask

        with dask.config.set(scheduler="threads"):
            pipe, seconds, shape = _fit(folder, block_rows)
    else:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          memory_limit=memory_limit, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            pipe, seconds, shape = _fit(folder, block_rows)
            result["worker_peak_mb"] = sorted(client.run(_worker_peak_mb).values())
            logs = client.get_worker_logs()
            result["memory_events"] = [line for lines in logs.values() for _, line in lines
                                       if any(w.lower() in line.lower() for w in MEMORY_WORDS)]
    result.update(seconds=seconds, rows=shape[0], features=shape[1],
                  client_peak_mb=_hwm_mb(),
                  coef=pipe[-1].estimator_.coef_.ravel().tolist())
    print(RESULT + json.dumps(result), flush=True)


def ensure_data(folder, rows, features):
    """Generate the data set once; reuse it while its row and feature counts match."""
    stamp = folder / "bench-cluster.json"
    wanted = {"rows": rows, "features": features}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return folder / "train"
    from outofcore.data import generate

    start = time.perf_counter()
    generate(folder / "train", rows=rows, features=features, seed=0, overwrite=True)
    stamp.write_text(json.dumps(wanted))
    print(f"# generated {rows:,} rows x {features} in {time.perf_counter() - start:.1f} s",
          flush=True)
    return folder / "train"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--block-rows", type=int, default=500_000)
    parser.add_argument("--memory-limit", default="2GiB")
    parser.add_argument("--data", default="/tmp/outofcore-bench/cluster")
    parser.add_argument("--child", choices=["local", "cluster"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.folder, args.block_rows, args.memory_limit)

    folder = ensure_data(Path(args.data) / f"{args.rows}x{args.features}", args.rows,
                         args.features)
    results = {}
    for setting in ("local", "cluster"):
        argv = [sys.executable, __file__, "--child", setting, "--folder", str(folder),
                "--block-rows", str(args.block_rows), "--memory-limit", args.memory_limit]
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT)]
        if proc.returncode or not lines:
            print(f"# {setting} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
            continue
        results[setting] = json.loads(lines[-1][len(RESULT):])
        results[setting]["process_s"] = time.perf_counter() - start

    print(f"\n{args.rows:,} rows x {args.features} features, block_rows={args.block_rows:,}, "
          f"{os.cpu_count()} CPUs; cluster: 2 workers x 1 thread, memory_limit={args.memory_limit}")
    print("| setting | fit s | process s | client peak MB | worker peak MB | memory events |")
    print("|---|---:|---:|---:|---|---:|")
    for name, r in results.items():
        workers = ", ".join(f"{m:.0f}" for m in r.get("worker_peak_mb", [])) or "-"
        events = len(r.get("memory_events", [])) if name == "cluster" else "-"
        print(f"| {name} | {r['seconds']:.1f} | {r['process_s']:.1f} | {r['client_peak_mb']:.0f} "
              f"| {workers} | {events} |")
    if len(results) == 2:
        same = results["local"]["coef"] == results["cluster"]["coef"]
        ratio = results["cluster"]["seconds"] / results["local"]["seconds"]
        print(f"\ncluster / local fit time: {ratio:.2f}; identical coefficients: {same}")
        for line in results["cluster"].get("memory_events", [])[:10]:
            print(f"# worker log: {line}")


if __name__ == "__main__":
    main()
