"""One-shot GPU check of coxmt's training paths: correctness against CPU, and timings.

Run from the repository root on a machine with a CUDA GPU::

    python benchmarks/gpu_check.py            # full check, about 3-5 minutes on an H100/H200
    python benchmarks/gpu_check.py --dry-run  # tiny sizes on CPU (tests the script itself)

Sections (each runs on its own; a failure is printed and recorded, the rest go on):

1. ``environment``: torch / CUDA / device.
2. ``loss``: Cox partial likelihood forward+backward at N = 1e7 on the GPU (prepared
   risk sets and from scratch), value and gradient against CPU float64 at N = 1e6.
3. ``brca``: TCGA-BRCA (``../shared/data/tcga/tcga_brca.csv.gz`` relative to the
   repository root), 80/20 split: Cox-nnet without dropout on CPU vs GPU (same
   initialisation: predictions must agree), Cox-MT on CPU vs GPU in fp32/tf32/bf16
   (test C-index within tolerance).
4. ``mean_teacher_step``: one full-batch Cox-MT step at N = 1e5 labeled + 1e5
   unlabeled x 4,000 genes (synthetic), fp32 / tf32 / bf16: ms per step, TFLOP/s.

Prints a table and writes ``gpu_check.json`` (into ``$OUT`` when that variable is
set, else ``benchmarks/results/``). Exit code 0 when every section passed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

RESULTS: dict[str, Any] = {"sections": {}}


def log(msg: str) -> None:
    print(msg, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Any, device: torch.device, repeats: int = 3, warmup: int = 1) -> tuple[float, Any]:
    """Median wall seconds of ``fn()`` over ``repeats`` runs (after warm-up), and its last result."""
    out = None
    for _ in range(warmup):
        out = fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def section(name: str):  # type: ignore[no-untyped-def]
    def wrap(fn):  # type: ignore[no-untyped-def]
        def run(*args: Any, **kwargs: Any) -> None:
            log(f"\n== {name} ==")
            t0 = time.perf_counter()
            try:
                res = fn(*args, **kwargs)
                res["ok"] = bool(res.get("ok", True))
            except Exception as exc:  # keep going: print everything
                traceback.print_exc()
                res = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            res["seconds"] = round(time.perf_counter() - t0, 2)
            RESULTS["sections"][name] = res
            log(f"-- {name}: {'PASS' if res['ok'] else 'FAIL'} ({res['seconds']} s)")
            if device_is_cuda():
                torch.cuda.empty_cache()

        return run

    return wrap


_DEVICE = torch.device("cpu")


def device_is_cuda() -> bool:
    return _DEVICE.type == "cuda"


@section("environment")
def check_environment(args: argparse.Namespace) -> dict[str, Any]:
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda_available": torch.cuda.is_available(),
        "device": str(_DEVICE),
    }
    if _DEVICE.type == "cuda":
        props = torch.cuda.get_device_properties(_DEVICE)
        info.update(
            name=props.name,
            memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
        )
    for k, v in info.items():
        log(f"  {k}: {v}")
    return info


@section("loss")
def check_loss(args: argparse.Namespace) -> dict[str, Any]:
    from coxmt.losses import (
        neg_partial_log_likelihood,
        neg_partial_log_likelihood_prepared,
        prepare_risk_sets,
    )

    dev = _DEVICE
    out: dict[str, Any] = {}
    # correctness: GPU vs CPU float64 at a size CPU handles quickly
    n_ref = args.loss_check_n
    g = torch.Generator().manual_seed(0)
    risk = torch.randn(n_ref, generator=g, dtype=torch.float64)
    time_ = torch.round(torch.rand(n_ref, generator=g, dtype=torch.float64) * 240, decimals=1)
    event = torch.rand(n_ref, generator=g) < 0.3
    vals, grads = [], []
    for d in (torch.device("cpu"), dev):
        r = risk.detach().to(d).clone().requires_grad_(True)
        loss = neg_partial_log_likelihood(r, event.to(d), time_.to(d), reduction="sum")
        loss.backward()
        vals.append(float(loss.detach()))
        grads.append(r.grad.cpu())  # type: ignore[union-attr]
    rel = abs(vals[0] - vals[1]) / abs(vals[0])
    gdiff = float((grads[0] - grads[1]).abs().max())
    out.update(
        check_n=n_ref, value_rel_diff=rel, grad_max_abs_diff=gdiff, ok=rel < 1e-9 and gdiff < 1e-9
    )
    log(
        f"  N={n_ref:.0e} float64 CPU vs {dev.type}: loss rel diff {rel:.2e}, grad max diff {gdiff:.2e}"
    )
    # timing at N = 1e7 (float32 risks, as in training)
    n = args.loss_n
    r32 = torch.randn(n, device=dev, requires_grad=True)
    t32 = torch.round(torch.rand(n, device=dev) * 240, decimals=1)
    e32 = torch.rand(n, device=dev) < 0.3

    def scratch() -> None:
        r32.grad = None
        neg_partial_log_likelihood(r32, e32, t32).backward()

    rs = prepare_risk_sets(e32, t32)

    def prepared() -> None:
        r32.grad = None
        neg_partial_log_likelihood_prepared(r32, rs)[0].backward()

    t_scratch, _ = timed(scratch, dev)
    t_prep, _ = timed(prepared, dev)
    out.update(n=n, fwd_bwd_ms_from_scratch=t_scratch * 1e3, fwd_bwd_ms_prepared=t_prep * 1e3)
    log(
        f"  N={n:.0e} fwd+bwd: from scratch {t_scratch * 1e3:.1f} ms, prepared risk sets {t_prep * 1e3:.1f} ms"
    )
    try:
        import warnings

        from torchsurv.loss.cox import neg_partial_log_likelihood as ts_nll

        def ts() -> None:
            r32.grad = None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ts_nll(r32, e32, t32, reduction="sum").backward()

        t_ts, _ = timed(ts, dev, repeats=2)
        out["torchsurv_fwd_bwd_ms"] = t_ts * 1e3
        log(f"  torchsurv fwd+bwd {t_ts * 1e3:.1f} ms (x{t_ts / t_scratch:.1f} ours from scratch)")
    except ImportError:
        log("  torchsurv not installed: skipped the comparison")
    return out


def _brca(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    folder = os.environ.get("COXMT_TCGA_DIR", str(REPO.parent / "shared" / "data" / "tcga"))
    path = Path(folder) / "tcga_brca.csv.gz"
    if not path.exists():
        raise FileNotFoundError(
            f"TCGA-BRCA not found at {path} (expected ../shared/data/tcga beside the repo, "
            "or set COXMT_TCGA_DIR)"
        )
    import pandas as pd

    df = pd.read_csv(path)
    X = df.filter(regex="_rnaseq$").to_numpy(np.float64)
    if args.dry_run:
        X = X[:, :200]
    return X, df["event"].to_numpy().astype(bool), df["time_months"].to_numpy(np.float64)


@section("brca")
def check_brca(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from coxmt import CoxMT, CoxNnet

    X, event, time_ = _brca(args)
    tr, te = train_test_split(np.arange(len(event)), test_size=0.2, stratify=event, random_state=0)
    scaler = StandardScaler().fit(X[tr])
    Xtr, Xte = scaler.transform(X[tr]), scaler.transform(X[te])
    ytr, yte = (event[tr], time_[tr]), (event[te], time_[te])
    epochs = args.epochs
    out: dict[str, Any] = {"n_genes": X.shape[1], "epochs": epochs}
    ok = True
    # 1) deterministic: no dropout, no noise -> same init, same math on both devices
    kw = {"hidden_layer_sizes": (128,), "dropout": 0.0, "max_epochs": epochs, "random_state": 0}
    cpu = CoxNnet(device="cpu", **kw).fit(Xtr, ytr)
    dev = CoxNnet(device=str(_DEVICE), **kw).fit(Xtr, ytr)
    diff = float(np.abs(cpu.predict(Xte) - dev.predict(Xte)).max())
    c_cpu, c_dev = cpu.score(Xte, yte), dev.score(Xte, yte)
    out["coxnnet_deterministic"] = {"max_abs_risk_diff": diff, "c_cpu": c_cpu, "c_device": c_dev}
    log(
        f"  Cox-nnet (no dropout) CPU vs {_DEVICE.type}: max |risk diff| {diff:.2e}, C {c_cpu:.4f} vs {c_dev:.4f}"
    )
    ok &= diff < 1e-2 and abs(c_cpu - c_dev) < 0.005
    # 2) Cox-MT: random streams differ between devices -> compare test C-index
    rows = []
    mt_cpu = CoxMT(device="cpu", max_epochs=epochs, random_state=0).fit(Xtr, ytr)
    c_ref = mt_cpu.score(Xte, yte)
    for precision in ("fp32", "tf32", "bf16"):
        t0 = time.perf_counter()
        m = CoxMT(device=str(_DEVICE), precision=precision, max_epochs=epochs, random_state=0).fit(
            Xtr, ytr
        )
        sync(_DEVICE)
        secs = time.perf_counter() - t0
        c = m.score(Xte, yte)
        good = abs(c - c_ref) < args.c_tolerance
        ok &= good
        rows.append(
            {"precision": precision, "c_index": c, "c_cpu_fp32": c_ref, "fit_s": secs, "ok": good}
        )
        log(
            f"  Cox-MT {precision:>4}: C {c:.4f} (CPU fp32 {c_ref:.4f}, |diff| {abs(c - c_ref):.3f}"
            f" {'<' if good else '>='} {args.c_tolerance}) fit {secs:.2f} s"
        )
    out["coxmt"] = rows
    out["ok"] = ok
    return out


@section("mean_teacher_step")
def check_mt_step(args: argparse.Namespace) -> dict[str, Any]:
    from coxmt.training.engine import ModelData, ModelSpec, train_stacked

    dev = _DEVICE
    n_lab, n_unl, d = args.n, args.n, args.genes
    w = int(np.ceil(np.sqrt(d)))
    hidden = (2 * w, w)  # CoxMT's default architecture
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(n_lab + n_unl, d, device=dev, generator=g)
    rng = np.random.default_rng(0)
    data = ModelData(
        labeled=np.arange(n_lab),
        event=rng.random(n_lab) < 0.3,
        time=np.round(rng.exponential(60, n_lab), 1),
        unlabeled=np.arange(n_lab, n_lab + n_unl),
    )
    rows = []

    def run(
        spec_kw: dict[str, Any], epochs: int, mm: torch.dtype, xx: torch.Tensor, dd: Any
    ) -> float:
        spec = ModelSpec(seed=0, max_epochs=epochs, dropout=0.2, **spec_kw)
        sync(dev)
        t0 = time.perf_counter()
        res = train_stacked(xx, [spec], [dd], hidden=hidden, mm_dtype=mm, check_every=epochs)
        sync(dev)
        if not np.isfinite(res.history[0][-1]["loss"]):
            raise FloatingPointError("non-finite training loss")
        return time.perf_counter() - t0

    sup_data = ModelData(labeled=data.labeled, event=data.event, time=data.time)
    for precision in ("fp32", "tf32", "bf16"):
        mm = torch.bfloat16 if precision == "bf16" else torch.float32
        old = torch.get_float32_matmul_precision()
        if precision == "tf32":
            torch.set_float32_matmul_precision("high")
        try:
            per_step = {}
            for label, kw, dd in (
                ("cox_mt", {"mean_teacher": True, "noise_std": 0.1}, data),
                ("cox_nnet (labeled rows only)", {}, sup_data),
            ):
                run(kw, 2, mm, x, dd)  # warm-up
                # setup (packing, risk sets) cancels in the difference of two runs
                t_short = run(kw, 2, mm, x, dd)
                t_long = run(kw, 2 + args.steps, mm, x, dd)
                per_step[label] = (t_long - t_short) / args.steps * 1e3
        finally:
            torch.set_float32_matmul_precision(old)
        ms = per_step["cox_mt"]
        flops = 2 * 2 * (n_lab + n_unl) * d * hidden[0]  # forward + weight gradient, all rows
        tflops = flops / (ms / 1e3) / 1e12
        rows.append(
            {
                "precision": precision,
                "ms_per_step": ms,
                "first_layer_tflops": tflops,
                "cox_nnet_ms_per_step": per_step["cox_nnet (labeled rows only)"],
            }
        )
        log(
            f"  N={n_lab:.0e}+{n_unl:.0e} x {d} genes, hidden {hidden}, {precision:>4}: Cox-MT "
            f"{ms:.2f} ms/step ({tflops:.3g} TFLOP/s in the first layer); Cox-nnet on the labeled "
            f"rows {per_step['cox_nnet (labeled rows only)']:.2f} ms/step"
        )
    del x
    return {
        "n_labeled": n_lab,
        "n_unlabeled": n_unl,
        "genes": d,
        "hidden": list(hidden),
        "rows": rows,
        "ok": True,
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh, indent=2, default=str)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    global _DEVICE
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dry-run", action="store_true", help="tiny sizes on CPU (checks the script)")
    p.add_argument("--cpu", action="store_true", help="run on CPU (with the sizes given)")
    p.add_argument(
        "--n", type=int, default=100_000, help="labeled (= unlabeled) rows of the step timing"
    )
    p.add_argument("--genes", type=int, default=4000)
    p.add_argument("--steps", type=int, default=20, help="timed Mean-Teacher steps per precision")
    p.add_argument("--loss-n", type=int, default=10_000_000)
    p.add_argument("--loss-check-n", type=int, default=1_000_000)
    p.add_argument("--epochs", type=int, default=200, help="epochs of the BRCA fits")
    p.add_argument(
        "--c-tolerance", type=float, default=0.04, help="allowed |C(GPU) - C(CPU)| for Cox-MT"
    )
    args = p.parse_args(argv)
    if args.dry_run:
        args.cpu = True
        args.n, args.genes, args.steps = 2000, 300, 3
        args.loss_n, args.loss_check_n, args.epochs = 20_000, 5_000, 15
        args.c_tolerance = 1.0
    if not args.cpu and not torch.cuda.is_available():
        print(
            "gpu_check: CUDA is not available (torch.cuda.is_available() is False; torch "
            f"{torch.__version__}, CUDA build {torch.version.cuda}). Run on a GPU machine, or pass "
            "--dry-run / --cpu to exercise the script on CPU.",
            file=sys.stderr,
        )
        return 2
    _DEVICE = torch.device("cpu" if args.cpu else "cuda")
    RESULTS.update(
        mode="dry-run" if args.dry_run else ("cpu" if args.cpu else "gpu"),
        args=vars(args),
        date=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    t0 = time.perf_counter()
    check_environment(args)
    check_loss(args)
    check_brca(args)
    check_mt_step(args)
    RESULTS["total_seconds"] = round(time.perf_counter() - t0, 1)
    log("\n| section | result | seconds |\n|---|---|---|")
    for name, res in RESULTS["sections"].items():
        log(
            f"| {name} | {'PASS' if res['ok'] else 'FAIL: ' + str(res.get('error', 'check values'))} | {res['seconds']} |"
        )
    out_dir = Path(os.environ["OUT"]) if os.environ.get("OUT") else REPO / "benchmarks" / "results"
    write_json(out_dir / "gpu_check.json", RESULTS)
    log(f"\nwrote {out_dir / 'gpu_check.json'} (total {RESULTS['total_seconds']} s)")
    return 0 if all(r["ok"] for r in RESULTS["sections"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
