"""Cox-MT with an unlabeled cohort larger than memory, streamed from disk.

Run from the repository root::

    python benchmarks/streaming.py                          # 1,000,000 x 1,000 (4 GB per file)
    python benchmarks/streaming.py --rows 100000 --steps 50 # quick

What it does
------------
1. Writes ``--rows`` synthetic unlabeled patients x ``--genes`` genes (float32,
   standard normal, gene names stored with the data) in chunks to a temporary
   folder, as HDF5 (h5py, chunks of 4,096 rows) and/or Parquet (row groups of
   4,096 rows, snappy, plus a text ``sample_id`` column that is ignored).
2. For each file, in a fresh subprocess each (so that peak memory is the
   subprocess's own):

   * ``stream``: one pass of :meth:`ChunkedSource.iter_batches` over every row
     (batches of ``--batch`` rows, background prefetching): rows/s and MB/s;
   * ``train``: ``CoxMT(unlabeled_batch_size=--batch).fit(X, y, X_unlabeled=path)``
     for ``--steps`` optimisation steps on ``--labeled`` synthetic labeled patients
     (full labeled batch, exact Cox loss; one streamed unlabeled mini-batch per
     step): seconds per step and unlabeled rows/s;
   * ``train-memory``: the same fit with an in-memory pool of ``--pool-rows`` rows,
     the reference for the time per step.

   Peak resident memory (``ru_maxrss``) of each subprocess is reported next to
   its resident memory after imports and data setup. Before each run the file is
   dropped from the page cache (``posix_fadvise(DONTNEED)``), so reads start cold.
3. Deletes the temporary folder (``--keep`` keeps it), prints a Markdown table and
   writes ``benchmarks/results/streaming.json`` atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402

WRITE_ROWS = 4096


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _names(p: int) -> list[str]:
    return [f"GENE{j:05d}" for j in range(p)]


def _blocks(n: int, p: int, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    for start in range(0, n, WRITE_ROWS):
        yield start, rng.standard_normal((min(WRITE_ROWS, n - start), p), dtype=np.float32)


def write_h5(path: Path, n: int, p: int, seed: int) -> None:
    import h5py

    with h5py.File(path, "w") as fh:
        ds = fh.create_dataset("X", shape=(n, p), dtype="f4", chunks=(min(WRITE_ROWS, n), p))
        fh.create_dataset("feature_names", data=np.asarray(_names(p), dtype="S"))
        for start, block in _blocks(n, p, seed):
            ds[start : start + len(block)] = block


def write_parquet(path: Path, n: int, p: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = _names(p)
    schema = pa.schema([("sample_id", pa.string())] + [(c, pa.float32()) for c in names])
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for start, block in _blocks(n, p, seed):
            cols = [pa.array([f"U{start + i}" for i in range(len(block))])]
            cols += [pa.array(np.ascontiguousarray(block[:, j])) for j in range(p)]
            writer.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=WRITE_ROWS)


def drop_cache(path: Path) -> None:
    """Evict the file from the page cache (clean pages; no privileges needed)."""
    if not hasattr(os, "posix_fadvise"):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def labeled_data(n: int, p: int, seed: int) -> tuple[Any, np.ndarray]:
    import pandas as pd

    from coxmt._validation import make_target

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p), dtype=np.float32)
    beta = np.zeros(p)
    beta[:10] = rng.normal(scale=0.3, size=10)
    t = rng.exponential(np.exp(-(X @ beta)))
    c = rng.exponential(np.quantile(t, 0.7), size=n)
    return pd.DataFrame(X, columns=_names(p)), make_target(t <= c, np.minimum(t, c))


# ----------------------------------------------------------------------------- child runs
def child(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from coxmt import CoxMT
    from coxmt.data.streaming import open_unlabeled

    if args.threads:
        torch.set_num_threads(args.threads)
    out: dict[str, Any] = {"mode": args.child, "threads": torch.get_num_threads()}
    if args.child == "stream":
        src = open_unlabeled(args.path)
        out["rss_setup_mib"] = _rss_mib()
        start = time.perf_counter()
        rows = 0
        for batch in src.iter_batches(args.batch, np.random.default_rng(0)):
            rows += len(batch)
        seconds = time.perf_counter() - start
        out.update(rows=rows, seconds=seconds, rows_per_s=rows / seconds,
                   mb_per_s=rows * src.n_features * 4 / seconds / 1e6)  # fmt: skip
    else:
        X, y = labeled_data(args.labeled, args.genes, seed=1)
        if args.child == "train-memory":
            unlabeled: Any = np.random.default_rng(2).standard_normal(
                (args.pool_rows, args.genes), dtype=np.float32
            )
        else:
            unlabeled = args.path
        model = CoxMT(max_epochs=args.steps, unlabeled_batch_size=args.batch, random_state=0)
        out["rss_setup_mib"] = _rss_mib()
        start = time.perf_counter()
        model.fit(X, y, X_unlabeled=unlabeled)
        seconds = time.perf_counter() - start
        rows = args.steps * args.batch
        out.update(steps=args.steps, seconds=seconds, seconds_per_step=seconds / args.steps,
                   rows=rows, rows_per_s=rows / seconds,
                   train_c_index=float(model.score(X, y)))  # fmt: skip
    out["peak_rss_mib"] = _peak_mib()
    return out


def run_child(mode: str, path: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    if path is not None:
        drop_cache(path)
    cmd = [sys.executable, __file__, "--child", mode, "--batch", str(args.batch),
           "--steps", str(args.steps), "--labeled", str(args.labeled), "--genes", str(args.genes),
           "--pool-rows", str(args.pool_rows), "--threads", str(args.threads)]  # fmt: skip
    if path is not None:
        cmd += ["--path", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- driver
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--genes", type=int, default=1000)
    ap.add_argument("--labeled", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=1024, help="unlabeled rows per step")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--pool-rows", type=int, default=100_000)
    ap.add_argument("--formats", default="h5,parquet")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--tmp", default=None, help="folder for the temporary files")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "streaming.json")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    import coxmt

    work = Path(tempfile.mkdtemp(prefix="coxmt-streaming-", dir=args.tmp))
    results: dict[str, Any] = {
        "setup": {k: v for k, v in vars(args).items() if k not in ("child", "path", "out")},
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "coxmt": coxmt.__version__,
            "load_average": os.getloadavg(),
        },
        "files": {},
        "runs": [],
    }
    try:
        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
            path = work / f"unlabeled.{'h5' if fmt == 'h5' else 'parquet'}"
            print(f"writing {args.rows:,} x {args.genes:,} {fmt} ...", flush=True)
            start = time.perf_counter()
            (write_h5 if fmt == "h5" else write_parquet)(path, args.rows, args.genes, seed=0)
            results["files"][fmt] = {"bytes": path.stat().st_size,
                                     "write_seconds": time.perf_counter() - start}  # fmt: skip
            for mode in ("stream", "train"):
                print(f"  {mode} ...", flush=True)
                results["runs"].append({"format": fmt, **run_child(mode, path, args)})
        print("  train-memory ...", flush=True)
        results["runs"].append({"format": "memory", **run_child("train-memory", None, args)})
    finally:
        if args.keep:
            print(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    from coxmt.io import atomic_write_text

    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(_table(results))
    print(f"written to {args.out}")


def _table(results: dict[str, Any]) -> str:
    s = results["setup"]
    lines = [
        f"Unlabeled: {s['rows']:,} rows x {s['genes']:,} genes (float32); labeled: "
        f"{s['labeled']:,}; {s['batch']:,} unlabeled rows per step, {s['steps']} steps.",
        "",
        "| source | file size | run | rows/s | MB/s | s/step | RSS after setup | peak RSS |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results["runs"]:
        size = results["files"].get(r["format"], {}).get("bytes")
        size_txt = f"{size / 2**30:.2f} GiB" if size else f"{s['pool_rows']:,}-row pool"
        mb = f"{r['mb_per_s']:,.0f}" if "mb_per_s" in r else ""
        step = f"{r['seconds_per_step'] * 1e3:.1f} ms" if "seconds_per_step" in r else ""
        lines.append(
            f"| {r['format']} | {size_txt} | {r['mode']} | {r['rows_per_s']:,.0f} | {mb} | {step} "
            f"| {r['rss_setup_mib']:,.0f} MiB | {r['peak_rss_mib']:,.0f} MiB |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
