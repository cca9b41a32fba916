"""Load benchmark: score a million patients x 1,000 genes with a saved model in bounded memory.

Generates, in a temporary folder, a Parquet table of ``--rows`` patients x
``--genes`` float32 genes (written row group by row group, so generating it also
needs little memory) and a CSV of ``--csv-rows`` patients; fits a small Cox-MT
(top-variance genes + scaling + network) on 1,000 patients and saves it; then
scores each table with :func:`coxmt.predict.predict_table` (what ``coxmt predict``
runs) in a fresh process, so that the peak resident memory measured
(``VmHWM``, the process's high-water mark) is the prediction's own. Prints a table and writes
``benchmarks/results/load.json`` atomically.

Usage::

    python benchmarks/load.py                 # 1e6 x 1000 Parquet, 1e5 x 1000 CSV
    python benchmarks/load.py --quick         # 1e5 x 200 Parquet, 2e4 x 200 CSV
    python benchmarks/load.py --tmp-dir /scratch --chunk-rows 20000

The Parquet file takes about 4 GB of disk (random floats hardly compress) and the
CSV about 1 GB; both are deleted at the end. Timings depend on the machine and on
its load: record the CPU and what else ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    On Linux this is ``VmHWM`` of ``/proc/self/status``: the high-water mark of this
    program's own memory. (``getrusage``'s ``ru_maxrss`` is not used there: a child
    process inherits its parent's peak at ``fork``, so it would include the memory
    the benchmark used to write the tables.)
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2**20


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def _genes(n_genes: int) -> list[str]:
    return [f"G{j:05d}" for j in range(n_genes)]


def _block(rng: np.random.Generator, n: int, n_genes: int) -> np.ndarray:
    """Log-expression-like values: gene means 2..10, unit noise; genes 0-4 carry the risk."""
    means = np.linspace(2.0, 10.0, n_genes, dtype=np.float32)
    return rng.standard_normal((n, n_genes), dtype=np.float32) + means


def write_parquet(path: Path, n_rows: int, n_genes: int, seed: int, group: int = 50_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    names = ["case_id", *_genes(n_genes)]
    schema = pa.schema([("case_id", pa.string())] + [(g, pa.float32()) for g in names[1:]])
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for start in range(0, n_rows, group):
            n = min(group, n_rows - start)
            X = _block(rng, n, n_genes)
            ids = pa.array([f"P{i:07d}" for i in range(start, start + n)])
            cols = [ids, *(pa.array(X[:, j]) for j in range(n_genes))]
            writer.write_table(pa.Table.from_arrays(cols, schema=schema))


def write_csv(path: Path, n_rows: int, n_genes: int, seed: int, group: int = 10_000) -> None:
    import pandas as pd

    rng = np.random.default_rng(seed)
    genes = _genes(n_genes)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        for start in range(0, n_rows, group):
            n = min(group, n_rows - start)
            frame = pd.DataFrame(_block(rng, n, n_genes), columns=genes)
            frame.insert(0, "case_id", [f"P{i:07d}" for i in range(start, start + n)])
            frame.to_csv(fh, header=start == 0, index=False, float_format="%.6g")


def fit_model(model_dir: Path, n_genes: int, seed: int) -> None:
    import pandas as pd

    from coxmt import CoxMT
    from coxmt.io import save_model
    from coxmt.pipeline import SurvivalPipeline
    from coxmt.preprocessing import make_rnaseq_preprocessor

    rng = np.random.default_rng(seed)
    X = _block(rng, 1000, n_genes).astype(np.float64)
    risk = X[:, :5].sum(axis=1) - X[:, :5].sum(axis=1).mean()
    t_event = rng.exponential(np.exp(-0.5 * risk))
    t_cens = rng.exponential(2.0 * np.median(t_event), size=1000)
    y = (t_event <= t_cens, np.minimum(t_event, t_cens))
    frame = pd.DataFrame(X, columns=_genes(n_genes))
    pipe = SurvivalPipeline(
        [*make_rnaseq_preprocessor(k=None).steps, ("model", CoxMT(max_epochs=30, random_state=0))]
    )
    pipe.fit(frame, y)
    save_model(pipe, model_dir)


def child(model_dir: str, data: str, out: str, chunk_rows: int | None) -> dict[str, Any]:
    """Runs in a fresh process: load, score, report time and memory."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from coxmt.io import load_model
    from coxmt.predict import auto_chunk_rows, predict_table

    load_model(model_dir)  # imports and model in memory before measuring the baseline
    before = _current_rss_mb()
    peak_before = _rss_mb()
    start = time.perf_counter()
    n = predict_table(model_dir, data, out, id_col="case_id", times=[1.0], chunk_rows=chunk_rows)
    seconds = time.perf_counter() - start
    n_genes = int(load_model(model_dir).n_features_in_)
    return {
        "rows": n,
        "seconds": seconds,
        "rows_per_second": n / seconds,
        "rss_before_mb": before,
        "peak_rss_before_predict_mb": peak_before,
        "peak_rss_mb": _rss_mb(),
        "chunk_rows": chunk_rows or auto_chunk_rows(n_genes),
    }


def _run_child(model_dir: Path, data: Path, out: Path, chunk_rows: int | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(model_dir), str(data), str(out),
           str(chunk_rows or 0)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"prediction failed:\n{res.stdout}\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _check_predictions(model_dir: Path, data: Path, out: Path, n_check: int = 2000) -> float:
    """Largest |difference| between streamed risks and in-memory model.predict on the first rows."""
    import pandas as pd

    from coxmt.io import load_model

    model = load_model(model_dir)
    if data.suffix == ".parquet":
        import pyarrow.parquet as pq

        head = next(pq.ParquetFile(data).iter_batches(batch_size=n_check)).to_pandas()
    else:
        head = pd.read_csv(data, nrows=n_check)
    streamed = pd.read_csv(out, nrows=n_check)
    assert streamed["id"].tolist() == head["case_id"].tolist()
    expected = model.predict(head.drop(columns="case_id"))
    return float(np.abs(streamed["risk"].to_numpy() - expected).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="Parquet rows")
    parser.add_argument("--csv-rows", type=int, default=100_000, help="CSV rows (0: skip)")
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--chunk-rows", type=int, default=None, help="default: automatic")
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "load.json")
    parser.add_argument("--quick", action="store_true", help="1e5 x 200 Parquet, 2e4 CSV")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        model_dir, data, out, chunk = args.child
        print(json.dumps(child(model_dir, data, out, int(chunk) or None)))
        return 0
    if args.quick:
        args.rows, args.csv_rows, args.genes = 100_000, 20_000, 200

    from coxmt import __version__
    from coxmt.io import atomic_write_text

    results: dict[str, Any] = {
        "benchmark": "load",
        "coxmt_version": __version__,
        "genes": args.genes,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_average_at_start": list(os.getloadavg()),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
        "runs": [],
    }
    with tempfile.TemporaryDirectory(dir=args.tmp_dir, prefix="coxmt-load-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        fit_model(folder / "model", args.genes, args.seed)
        results["fit_seconds"] = time.perf_counter() - t0
        tables = [("parquet", folder / "patients.parquet", args.rows)]
        if args.csv_rows:
            tables.append(("csv", folder / "patients.csv", args.csv_rows))
        for fmt, path, n_rows in tables:
            t0 = time.perf_counter()
            (write_parquet if fmt == "parquet" else write_csv)(
                path, n_rows, args.genes, args.seed + 1
            )
            gen = time.perf_counter() - t0
            out = folder / f"risk_{fmt}.csv"
            run = _run_child(folder / "model", path, out, args.chunk_rows)
            run.update(
                format=fmt,
                file_mb=path.stat().st_size / 2**20,
                raw_float32_mb=n_rows * args.genes * 4 / 2**20,
                generate_seconds=gen,
                max_abs_diff_vs_in_memory=_check_predictions(folder / "model", path, out),
            )
            results["runs"].append(run)
            path.unlink()
            print(
                f"{fmt}: {run['rows']:,} rows in {run['seconds']:.1f} s "
                f"({run['rows_per_second']:,.0f} rows/s), peak RSS {run['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    results["load_average_at_end"] = list(os.getloadavg())
    header = f"{'format':8} {'rows':>10} {'genes':>6} {'file MB':>8} {'chunk':>6} {'seconds':>8} "
    header += f"{'rows/s':>9} {'RSS before':>10} {'peak RSS':>9}"
    print(header)
    for r in results["runs"]:
        print(
            f"{r['format']:8} {r['rows']:>10,} {args.genes:>6} {r['file_mb']:>8.0f} "
            f"{r['chunk_rows']:>6} {r['seconds']:>8.1f} {r['rows_per_second']:>9,.0f} "
            f"{r['rss_before_mb']:>9.0f}M {r['peak_rss_mb']:>8.0f}M"
        )
    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
