"""Speed of coxmt's training, loss and concordance against the peers, in one process.

Run from the repository root (TCGA data in ``../shared/data/tcga``)::

    python benchmarks/speed.py                 # full run (several minutes)
    python benchmarks/speed.py --quick         # short run for development
    python benchmarks/speed.py --sections fit --genes 1000 --epochs 100 --threads 1 2

Sections
--------
machine   CPU model, threads, versions; the measured float32 matmul rate at the
          training shapes, which defines the *floor* of one epoch: the two
          products X W^T and G^T X of the first layer.
fit       Same model (genes -> 128 tanh -> 1, dropout 0.2, full batch, Adam 1e-3,
          weight decay 1e-4, 200 epochs) on TCGA-BRCA with 1,000 and all 1,558 genes:
          coxmt CoxNnet and CoxMT, pycox CoxPH (DeepSurv), a plain PyTorch loop with
          torchsurv's loss and a plain loop with a sort + logcumsumexp loss; at each
          thread count of ``--threads`` (e.g. ``--threads 1 2``), with the floor
          measured again at that count (coxmt models get ``n_threads`` = that count);
          with ``--compile`` also that loop with forward and loss compiled by
          ``torch.compile`` (whether fused kernels help at this size).
cv        5-fold cross-validation of Cox-MT on BRCA (per-fold scaling):
          ``coxmt.experiments.cross_validate`` and the batched ``fit_many``.
loss      Cox loss forward+backward vs torchsurv, N = 1e3 .. 1e7 (``--max-loss-n``).
cindex    Harrell's C: ``coxmt.metrics.concordance_index`` vs lifelines and
          scikit-survival, n = 1e3 .. 1e6 (``--max-cindex-n``).

Method: every measurement runs in this process; methods alternate inside each
repeat (A B C A B C ...) after one untimed warm-up each, and the median of the
repeats is reported, as wall-clock and CPU time. Ratios compare medians of the
same run. Peak memory is the rise of the process's resident-set high-water mark
during the call over the resident set just before it, after ``gc.collect()`` and
glibc's ``malloc_trim(0)`` returned freed memory to the OS
(``/proc/self/clear_refs`` resets the mark; this counts torch and numpy
allocations alike, Linux only), plus ``tracemalloc`` peaks for the numpy-only
concordance functions. A method whose previous size took longer than
``--budget`` seconds is skipped at larger sizes (marked in the table).

Writes ``benchmarks/results/speed.json`` (atomically) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "tcga" / "tcga_brca.csv.gz"
HIDDEN, DROPOUT, LR, WD = 128, 0.2, 1e-3, 1e-4


# -- measurement helpers -------------------------------------------------------------------
def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _trim() -> None:
    """Return freed heap memory to the OS, so that RSS counts live memory only."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def timed(fn: Callable[[], Any]) -> dict[str, float]:
    """Wall and CPU seconds of ``fn()``."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def peak_rss_mib(fn: Callable[[], Any]) -> float:
    """Rise of the resident-set high-water mark during ``fn()`` over live memory before it."""
    _trim()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the high-water mark
        base = _rss_kib("VmRSS:")
    except OSError:
        return float("nan")
    fn()
    return max((_rss_kib("VmHWM:") - base) / 1024, 0.0)


def alternate(
    jobs: dict[str, Callable[[], Any]], repeats: int, warmup: bool = True
) -> dict[str, dict[str, float]]:
    """Run the jobs in turn ``repeats`` times (after one warm-up each): median wall/CPU
    seconds per job; then one more run each for the peak memory (untimed, since
    returning memory to the OS first makes the next run pay page faults)."""
    if warmup:
        for fn in jobs.values():
            fn()
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in jobs}
    for _ in range(repeats):
        for name, fn in jobs.items():
            runs[name].append(timed(fn))
    out = {
        k: {m: float(np.median([r[m] for r in v])) for m in ("wall", "cpu")}
        for k, v in runs.items()
    }
    for name, fn in jobs.items():
        out[name]["peak_mib"] = peak_rss_mib(fn)
    return out


def tracemalloc_peak(fn: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def matmul_floor(n: int, d: int, h: int, repeats: int) -> dict[str, float]:
    """Seconds of the two first-layer products of one epoch and the float32 GFLOP/s."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=g)
    W = torch.randn(h, d, generator=g)
    G = torch.randn(n, h, generator=g)

    def pair() -> None:
        for _ in range(10):
            torch.mm(X, W.T)
            torch.mm(G.T, X)

    pair()
    t = np.median([timed(pair)["wall"] for _ in range(repeats)]) / 10
    return {"seconds": float(t), "gflops": 4 * n * d * h / t / 1e9}


# -- data and the compared implementations -----------------------------------------------
def load_brca(n_genes: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not DATA.exists():
        raise SystemExit(f"TCGA-BRCA not found at {DATA}; the data lives in ../shared/data/tcga")
    df = pd.read_csv(DATA)
    X = df.filter(regex="_rnaseq$").to_numpy(np.float64)
    if n_genes is not None and n_genes < X.shape[1]:
        keep = np.sort(np.argsort(-X.var(0), kind="stable")[:n_genes])  # top-variance genes
        X = X[:, keep]
    X = (X - X.mean(0)) / X.std(0)
    return X, df["event"].to_numpy().astype(bool), df["time_months"].to_numpy(np.float64)


def _mlp(d: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(d, HIDDEN),
        torch.nn.Tanh(),
        torch.nn.Dropout(DROPOUT),
        torch.nn.Linear(HIDDEN, 1, bias=False),
    )


def _sorted_logcumsumexp_loss(
    risk: torch.Tensor, event: torch.Tensor, order: torch.Tensor
) -> torch.Tensor:
    r = risk[order]
    lse = torch.flip(torch.logcumsumexp(torch.flip(r, (0,)), 0), (0,))
    e = event[order]
    return -((r - lse) * e).sum() / e.sum()


def fit_jobs(
    X: np.ndarray,
    event: np.ndarray,
    time_: np.ndarray,
    epochs: int,
    threads: int | None = None,
    compile_loop: bool = False,
) -> dict[str, Callable[[], Any]]:
    from coxmt import CoxMT, CoxNnet

    kw = {
        "hidden_layer_sizes": (HIDDEN,),
        "dropout": DROPOUT,
        "learning_rate": LR,
        "weight_decay": WD,
        "max_epochs": epochs,
        "device": "cpu",
        "random_state": 0,
        "n_threads": threads,
    }
    y = (event, time_)
    Xf = X.astype(np.float32)
    jobs: dict[str, Callable[[], Any]] = {
        "coxmt CoxNnet": lambda: CoxNnet(**kw).fit(X, y),
        "coxmt CoxMT": lambda: CoxMT(**kw).fit(X, y),
    }
    try:
        import torchtuples as tt
        from pycox.models import CoxPH

        def pycox_fit() -> None:
            torch.manual_seed(0)
            model = CoxPH(_mlp(X.shape[1]), tt.optim.Adam(lr=LR, weight_decay=WD))
            model.fit(
                Xf,
                (time_.astype(np.float32), event.astype(np.float32)),
                batch_size=len(Xf),
                epochs=epochs,
                verbose=False,
            )

        jobs["pycox CoxPH"] = pycox_fit
    except ImportError as exc:
        print(f"  pycox/torchtuples unavailable ({exc}); skipped")
    xt = torch.from_numpy(Xf)
    et, tt_ = torch.from_numpy(event), torch.from_numpy(time_)

    def plain_loop(
        loss_fn: Callable[[torch.Tensor], torch.Tensor],
        net_loss: Callable[[torch.nn.Module], torch.Tensor] | None = None,
    ) -> Callable[[], None]:
        """Full-batch Adam on ``_mlp``; each epoch's loss is ``loss_fn`` of the risks,
        or ``net_loss(net)`` when forward pass and loss come as one function."""

        def run() -> None:
            torch.manual_seed(0)
            net = _mlp(X.shape[1])
            opt = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=WD)
            for _ in range(epochs):
                opt.zero_grad()
                loss = net_loss(net) if net_loss else loss_fn(net(xt).squeeze(-1))
                loss.backward()
                opt.step()

        return run

    try:
        from torchsurv.loss.cox import neg_partial_log_likelihood as ts_nll

        def ts_loss(r: torch.Tensor) -> torch.Tensor:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ts_nll(r, et, tt_.float())

        jobs["torch loop + torchsurv loss"] = plain_loop(ts_loss)
    except ImportError as exc:
        print(f"  torchsurv unavailable ({exc}); skipped")
    order = torch.argsort(tt_, descending=False)

    def sorted_loss(r: torch.Tensor) -> torch.Tensor:
        return _sorted_logcumsumexp_loss(r, et, order)

    jobs["torch loop + sort/logcumsumexp"] = plain_loop(sorted_loss)
    if compile_loop:
        jobs["same loop, torch.compile"] = plain_loop(sorted_loss, _compiled_loss(xt, et, order))
    return jobs


def _compiled_loss(
    xt: torch.Tensor, et: torch.Tensor, order: torch.Tensor
) -> Callable[[torch.nn.Module], torch.Tensor]:
    """The sort/logcumsumexp loop's forward pass and loss as one ``torch.compile`` function
    of the network (compiled at its first call, in the untimed warm-up; the timed runs
    reuse the kernels)."""
    F = torch.nn.functional

    def forward_loss(
        x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor
    ) -> torch.Tensor:
        hidden = F.dropout(torch.tanh(F.linear(x, w1, b1)), DROPOUT, training=True)
        return _sorted_logcumsumexp_loss(F.linear(hidden, w2).squeeze(-1), et, order)

    compiled = torch.compile(forward_loss)

    def net_loss(net: torch.nn.Module) -> torch.Tensor:
        first, last = cast(torch.nn.Linear, net[0]), cast(torch.nn.Linear, net[3])  # type: ignore[index]
        return compiled(xt, first.weight, first.bias, last.weight)

    return net_loss


# -- sections ---------------------------------------------------------------------------------
def section_machine(args: argparse.Namespace) -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": model,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": args.quick,
    }
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info


def section_fit(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for threads in args.threads or [torch.get_num_threads()]:
        torch.set_num_threads(threads)
        rows += _fit_rows(args, threads)
    return rows


def _fit_rows(args: argparse.Namespace, threads: int) -> list[dict[str, Any]]:
    rows = []
    for n_genes in args.genes:
        X, event, time_ = load_brca(n_genes)
        n, d = X.shape
        floor = matmul_floor(n, d, HIDDEN, args.repeats)
        jobs = fit_jobs(X, event, time_, args.epochs, threads, compile_loop=args.compile)
        res = alternate(jobs, args.repeats)
        floor_s = floor["seconds"] * args.epochs
        flops = 4 * n * d * HIDDEN * args.epochs
        base = res.get("pycox CoxPH")
        nnet = res["coxmt CoxNnet"]
        for name, r in res.items():
            rows.append(
                {
                    "threads": threads,
                    "genes": d,
                    "method": name,
                    "wall_s": r["wall"],
                    "cpu_s": r["cpu"],
                    "peak_mib": r["peak_mib"],
                    "ms_per_epoch": r["wall"] / args.epochs * 1e3,
                    "x_floor": r["wall"] / floor_s,
                    "gflops": flops / r["wall"] / 1e9,
                    "matmul_gflops": floor["gflops"],
                    "speedup_vs_pycox": None if base is None else base["wall"] / r["wall"],
                    "x_coxnnet": r["wall"] / nnet["wall"],
                    "floor_s": floor_s,
                    "floor_ms_per_epoch": floor["seconds"] * 1e3,
                }
            )
        print(
            f"  {d} genes, {threads} thread(s) done "
            f"(floor {floor_s:.2f} s at {floor['gflops']:.0f} GFLOP/s)"
        )
    return rows


def fit_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (threads, genes): ms/epoch and x floor of each method, CoxMT / CoxNnet."""
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for r in rows:
        key = (r["threads"], r["genes"])
        row = out.setdefault(
            key,
            {"threads": r["threads"], "genes": r["genes"], "floor ms": r["floor_ms_per_epoch"]},
        )
        row[f"{r['method']} ms (x floor)"] = f"{r['ms_per_epoch']:.2f} ({r['x_floor']:.2f})"
        if r["method"] == "coxmt CoxMT":
            row["CoxMT / CoxNnet"] = r["x_coxnnet"]
    return list(out.values())


def section_cv(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.preprocessing import StandardScaler

    from coxmt import CoxMT, fit_many
    from coxmt.experiments import cross_validate, make_splits
    from coxmt.metrics import concordance_index

    df = pd.read_csv(DATA)
    X = df.filter(regex="_rnaseq$").to_numpy(np.float64)
    event, time_ = df["event"].to_numpy().astype(bool), df["time_months"].to_numpy(np.float64)
    y = (event, time_)
    params = {"max_epochs": args.epochs, "device": "cpu"}
    out: dict[str, Any] = {"genes": X.shape[1], "folds": 5, "model": "CoxMT (default architecture)"}

    def run_cv() -> None:
        res = cross_validate(
            {"Cox-MT": CoxMT(**params)},
            X,
            y,
            n_splits=5,
            n_repeats=1,
            random_state=0,
            preprocessing=StandardScaler(),
            verbose=False,
        )
        out["cross_validate_c_index"] = float(res["c_index"].mean())

    splits = make_splits(event, n_splits=5, n_repeats=1, random_state=0)

    def run_batched() -> None:
        # per-fold scaling: stack the five scaled copies, one model per copy
        blocks, rows, tests = [], [], []
        for k, sp in enumerate(splits):
            sc = StandardScaler().fit(X[sp.train])
            blocks.append(sc.transform(X))
            rows.append(k * len(X) + sp.train)
            tests.append(k * len(X) + sp.test)
        Xs = np.concatenate(blocks)
        ys = (np.tile(event, 5), np.tile(time_, 5))
        ests = fit_many([CoxMT(random_state=k, **params) for k in range(5)], Xs, ys, rows)
        out["fit_many_c_index"] = float(
            np.mean(
                [
                    concordance_index(ys[0][te], ys[1][te], est.predict(Xs[te]))
                    for est, te in zip(ests, tests, strict=True)
                ]
            )
        )

    res = alternate(
        {"cross_validate (one by one)": run_cv, "fit_many (batched)": run_batched},
        max(1, args.repeats // 2),
        warmup=False,
    )
    out["timings"] = res
    return out


def _loss_inputs(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    risk = torch.tensor(rng.normal(size=n), dtype=torch.float32)
    time_ = torch.tensor(np.round(rng.exponential(60.0, size=n), 1) + 0.1)  # months, 0.1 resolution
    event = torch.tensor(rng.random(n) < 0.3)
    return risk, event, time_


def _loss_row(
    n: int, ts_nll: Any, with_torchsurv: bool, repeats: int
) -> tuple[dict[str, Any], float]:
    from coxmt.losses import (
        neg_partial_log_likelihood,
        neg_partial_log_likelihood_prepared,
        prepare_risk_sets,
    )

    risk, event, time_ = _loss_inputs(n)
    r = risk.clone().requires_grad_(True)
    rs = prepare_risk_sets(event, time_)
    jobs: dict[str, Callable[[], Any]] = {
        "coxmt": lambda: neg_partial_log_likelihood(r, event, time_).backward(),
        "coxmt (prepared risk sets)": lambda: neg_partial_log_likelihood_prepared(r, rs)[
            0
        ].backward(),
    }
    if with_torchsurv:

        def ts() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ts_nll(r, event, time_.float()).backward()

        jobs["torchsurv"] = ts
    res = alternate(jobs, repeats)
    row: dict[str, Any] = {
        "n": n,
        **{f"{k} ms": v["wall"] * 1e3 for k, v in res.items()},
        **{f"{k} peak MiB": v["peak_mib"] for k, v in res.items()},
    }
    if "torchsurv" not in res:
        return row, 0.0
    row["speedup vs torchsurv"] = res["torchsurv"]["wall"] / res["coxmt"]["wall"]
    with warnings.catch_warnings():  # exactness: sums in float64
        warnings.simplefilter("ignore")
        ref = float(ts_nll(risk.double(), event, time_, reduction="sum"))
    ours = float(neg_partial_log_likelihood(risk.double(), event, time_, reduction="sum"))
    row["rel diff of sums (float64)"] = abs(ours - ref) / abs(ref)
    return row, res["torchsurv"]["wall"]


def section_loss(args: argparse.Namespace) -> list[dict[str, Any]]:
    try:
        from torchsurv.loss.cox import neg_partial_log_likelihood as ts_nll
    except ImportError:
        ts_nll = None
    rows, torchsurv_on = [], ts_nll is not None
    for n in [10**k for k in range(3, 8) if 10**k <= args.max_loss_n]:
        repeats = args.repeats if n < 10**6 else max(1, args.repeats // 2)
        row, ts_seconds = _loss_row(n, ts_nll, torchsurv_on, repeats)
        torchsurv_on = torchsurv_on and ts_seconds * 10 <= args.budget
        rows.append(row)
        print(f"  loss N={n:.0e} done")
    return rows


def _cindex_row(n: int, skip: set[str], repeats: int, budget: float) -> dict[str, Any]:
    from lifelines.utils import concordance_index as ll_c

    from coxmt.metrics import concordance_index

    rng = np.random.default_rng(1)
    risk = rng.normal(size=n)
    time_ = rng.exponential(np.exp(-0.5 * risk))
    event = rng.random(n) < 0.4
    vals: dict[str, float] = {}
    fns: dict[str, Callable[[], Any]] = {
        "coxmt": lambda: vals.__setitem__("coxmt", concordance_index(event, time_, risk))
    }
    if "lifelines" not in skip:
        fns["lifelines"] = lambda: vals.__setitem__("lifelines", ll_c(time_, -risk, event))
    if "scikit-survival" not in skip:
        try:
            from sksurv.metrics import concordance_index_censored

            fns["scikit-survival"] = lambda: vals.__setitem__(
                "scikit-survival", concordance_index_censored(event, time_, risk)[0]
            )
        except ImportError:
            skip.add("scikit-survival")
    res = alternate(fns, repeats if n <= 10**4 else 1, warmup=n <= 10**4)
    row: dict[str, Any] = {"n": n, **{f"{k} ms": v["wall"] * 1e3 for k, v in res.items()}}
    # lifelines counts only exactly equal risks as tied; coxmt (like scikit-survival)
    # treats risks within 1e-8 as tied by default: compare like with like
    vals["coxmt, tied_tol=0"] = concordance_index(event, time_, risk, tied_tol=0.0)
    row["coxmt tracemalloc MiB"] = tracemalloc_peak(lambda: concordance_index(event, time_, risk))
    row.update({f"{k} peak RSS MiB": v["peak_mib"] for k, v in res.items()})
    for k in res:
        if k != "coxmt":
            row[f"speedup vs {k}"] = res[k]["wall"] / res["coxmt"]["wall"]
            ours = vals["coxmt, tied_tol=0"] if k == "lifelines" else vals["coxmt"]
            row[f"|C - C_{k}|"] = abs(ours - vals[k])
            growth = 10.0 if k == "lifelines" else 100.0  # n log n vs n^2
            if res[k]["wall"] * growth > budget:
                skip.add(k)
    row["C"] = vals["coxmt"]
    return row


def section_cindex(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    skip: set[str] = set()
    for n in [10**k for k in range(3, 7) if 10**k <= args.max_cindex_n]:
        rows.append(_cindex_row(n, skip, args.repeats, args.budget))
        print(f"  C-index n={n:.0e} done")
    return rows


# -- output ----------------------------------------------------------------------------------
def markdown(rows: list[dict[str, Any]], title: str) -> str:
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.3e}"
        return str(v)

    lines = [f"\n### {title}\n", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh, indent=2, default=float)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="short run: fewer epochs, repeats and sizes"
    )
    p.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=None,
        help="torch thread counts; the fit section runs at each, the others at the first "
        "(default: torch's count)",
    )
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--genes", type=int, nargs="+", default=[1000, 1558])
    p.add_argument("--max-loss-n", type=float, default=1e7)
    p.add_argument("--max-cindex-n", type=float, default=1e6)
    p.add_argument(
        "--budget", type=float, default=20.0, help="seconds; slower methods skip larger sizes"
    )
    p.add_argument(
        "--sections",
        nargs="+",
        default=["fit", "cv", "loss", "cindex"],
        choices=["machine", "fit", "cv", "loss", "cindex"],
        help="sections to run (machine facts are always printed)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="fit section: also time the plain loop compiled with torch.compile (needs a C++ "
        "compiler; compiling takes seconds to minutes, outside the timing)",
    )
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "speed.json")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.epochs = min(args.repeats, 3), min(args.epochs, 60)
        args.max_loss_n, args.max_cindex_n = min(args.max_loss_n, 1e6), min(args.max_cindex_n, 1e5)
        args.budget = min(args.budget, 5.0)
    if args.threads:
        torch.set_num_threads(args.threads[0])
    report: dict[str, Any] = {
        "machine": section_machine(args),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    print(json.dumps(report["machine"], indent=1))
    if "fit" in args.sections:
        report["fit"] = section_fit(args)
        if args.threads:
            torch.set_num_threads(args.threads[0])
        print(
            markdown(
                report["fit"], f"Fit time, BRCA, {args.epochs} epochs (medians of {args.repeats})"
            )
        )
        report["fit_summary"] = fit_summary(report["fit"])
        print(markdown(report["fit_summary"], "ms/epoch (x floor) by thread count"))
    if "cv" in args.sections:
        report["cv"] = section_cv(args)
        print(f"\n### 5-fold CV of Cox-MT on BRCA\n{json.dumps(report['cv'], indent=1)}")
    if "loss" in args.sections:
        report["loss"] = section_loss(args)
        print(markdown(report["loss"], "Cox loss forward + backward (float32 risks, Efron ties)"))
    if "cindex" in args.sections:
        report["cindex"] = section_cindex(args)
        print(markdown(report["cindex"], "Harrell's C"))
    write_json(args.out, report)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
