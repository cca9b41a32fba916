"""Semi-synthetic slide benchmark: real TCGA RNA-seq and survival, synthetic patch-feature bags.

No TCGA slide images are available offline, so the slide modality is simulated
on top of real patients (BRCA, LUAD from ``../shared/data/tcga``): every
patient keeps their real RNA-seq profile and real survival outcome, and gets a
synthetic bag of patch features in which a known subset of "informative"
patches carries a prognostic signal.

Generator (all draws from one seeded ``numpy`` generator per cohort)
--------------------------------------------------------------------
1. Latent risk, built FROM THE OUTCOME. The Nelson-Aalen cumulative hazard
   ``H(t)`` of the cohort gives each patient's martingale residual
   ``m_i = event_i - H(time_i)`` (high = died earlier than expected). Its rank
   is mapped to a standard normal score ``z0_i = Phi^-1((rank_i - 0.5) / n)``,
   and noise makes the transform noisy but monotone on average:
   ``z_i = rho * z0_i + sqrt(1 - rho^2) * eps_i`` (``rho`` =
   ``outcome_correlation``). Because the slide signal is made from the very
   outcome the models are scored on, slide and multimodal c-indexes here
   measure how well a model recovers a planted signal: they are NOT comparable
   to c-indexes on real slides (e.g. the paper's 0.66 / 0.83).
2. Slides. Each patient has as many slides as their ``slide_ids`` list; a
   random ``missing_wsi_fraction`` of patients gets no slide at all (bag None),
   exercising the missing-modality path. The patient's patch count is uniform
   in ``[min_patches, max_patches]``, split evenly over the slides.
3. Patch features (``feature_dim`` = 384, like ViT-S). ``n_tissue_clusters``
   tissue centres and one "tumour" centre, each ``N(0, cluster_scale^2 I)``; a
   random unit signal direction ``u``; a per-patient stain shift
   ``s_i ~ N(0, stain_shift^2 I)``. Each patch is informative with probability
   ``informative_fraction``: ``x = c_tumour + s_i + signal_strength * z_i * u + e``;
   otherwise ``x = c_k + s_i + e`` for a uniformly drawn tissue centre ``c_k``;
   ``e ~ N(0, I)``. Only informative patches carry prognostic signal.

Evaluation
----------
5-fold cross-validation stratified on the event (``coxmt.experiments.make_splits``,
one repeat), the same splits for every model; Harrell's C on the test fold
(``coxmt.metrics.concordance_index``). RNA is standardised per fold (training
mean/sd) and clipped to +-``clip``. Models: RNA-only Cox-nnet / Cox-MT
(``coxmt.CoxNnet`` / ``coxmt.CoxMT``), slide-only ``WSICoxNnet`` / ``WSICoxMT``,
multimodal ``MultimodalCoxNnet`` / ``MultimodalCoxMT``. Slide and multimodal
models use smaller dimensions and fewer epochs than the library defaults
(``model_dim`` 64, 64 tokens, 20 epochs; see the config) so that the run stays
within ~10 minutes on 2 CPU cores; with so few optimisation steps (20 epochs of
6-12 mini-batches) their Mean Teacher uses ``ema_decay`` 0.95 (an EMA horizon of
~20 steps) instead of 0.99, which would leave the teacher far behind the student. Attention check: for each test patient with
informative patches, every patch is scored (``attention(all_patches=True)``);
top-k recall with ``k`` = the patient's number of informative patches is
compared with chance (``k / n_patches``, the expected recall of a random ranking).
Fusion check: per cohort and method, the multimodal C minus that of the better
single modality (by mean), paired over folds, with the head each fold's fused
model predicts with (``fusion_choice_``); the multimodal fusion options
(``fusion``, ``modality_dropout``, ``auxiliary_weight``, ``fusion_selection``) are
set in the config. Fusion designs were screened with
``benchmarks/semisynthetic_wsi_screen.py`` (inner splits of the training folds).

Usage (from the repository root)::

    python benchmarks/semisynthetic_wsi.py [--config benchmarks/semisynthetic_wsi.config.json]
                                           [--n-jobs 2] [--quick]

Writes ``benchmarks/results/semisynthetic_wsi.json`` and ``.md`` (atomically;
``--quick`` writes ``semisynthetic_wsi_quick.*``: LUAD, 2 folds, 2 epochs).
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = Path(__file__).with_name("semisynthetic_wsi.config.json")
MODELS = [
    ("RNA", "Cox-nnet"),
    ("RNA", "Cox-MT"),
    ("WSI", "Cox-nnet"),
    ("WSI", "Cox-MT"),
    ("RNA+WSI", "Cox-nnet"),
    ("RNA+WSI", "Cox-MT"),
]
_DATA: dict[str, dict[str, Any]] = {}  # cohort -> generated data (inherited by forked workers)


# -- generator ---------------------------------------------------------------------------------
def latent_risk(
    event: np.ndarray, time: np.ndarray, rho: float, rng: np.random.Generator
) -> np.ndarray:
    """Noisy normal score of the Nelson-Aalen martingale residual (higher = worse outcome)."""
    order = np.argsort(time, kind="mergesort")
    t_sorted, e_sorted = time[order], event[order].astype(float)
    uniq, first = np.unique(t_sorted, return_index=True)
    at_risk = len(time) - first
    deaths = np.add.reduceat(e_sorted, first)
    cumhaz = np.cumsum(deaths / at_risk)
    h = cumhaz[np.searchsorted(uniq, time)]
    residual = event.astype(float) - h
    z0 = norm.ppf((rankdata(residual) - 0.5) / len(time))
    return rho * z0 + np.sqrt(1.0 - rho**2) * rng.standard_normal(len(time))


def make_bags(
    n_slides: np.ndarray, z: np.ndarray, gen: dict[str, Any], rng: np.random.Generator
) -> tuple[list[Any], list[np.ndarray | None]]:
    """Per-patient lists of slide feature arrays (or None) and informative-patch masks."""
    d = int(gen["feature_dim"])
    scale = float(gen["cluster_scale"])
    centres = scale * rng.standard_normal((int(gen["n_tissue_clusters"]), d))
    tumour = scale * rng.standard_normal(d)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    missing = rng.random(len(z)) < float(gen["missing_wsi_fraction"])
    bags: list[Any] = []
    masks: list[np.ndarray | None] = []
    for i in range(len(z)):
        if missing[i]:
            bags.append(None)
            masks.append(None)
            continue
        n = int(rng.integers(int(gen["min_patches"]), int(gen["max_patches"]) + 1))
        informative = rng.random(n) < float(gen["informative_fraction"])
        shift = float(gen["stain_shift"]) * rng.standard_normal(d)
        x = rng.standard_normal((n, d)) + shift
        x[informative] += tumour + float(gen["signal_strength"]) * z[i] * u
        other = ~informative
        x[other] += centres[rng.integers(0, len(centres), int(other.sum()))]
        x = x.astype(np.float32)
        bounds = np.linspace(0, n, int(max(1, n_slides[i])) + 1).astype(int)
        bags.append([x[a:b] for a, b in itertools.pairwise(bounds) if b > a])
        masks.append(informative)
    return bags, masks


def load_cohort(name: str, cfg: dict[str, Any]) -> dict[str, Any]:
    from coxmt.data import load_tcga

    data_dir = (REPO / cfg["data_dir"]).resolve()
    table = load_tcga(name, data_dir)
    slides = table.clinical["slide_ids"].fillna("").astype(str)
    n_slides = slides.map(lambda s: len([p for p in s.split(";") if p.strip()])).to_numpy()
    event = table.y["event"].astype(bool)
    time_ = table.y["time"].astype(float)
    rng = np.random.default_rng([int(cfg["random_state"]), sum(map(ord, name))])
    z = latent_risk(event, time_, float(cfg["generator"]["outcome_correlation"]), rng)
    bags, masks = make_bags(n_slides, z, cfg["generator"], rng)
    return {
        "X": table.X,
        "event": event,
        "time": time_,
        "bags": bags,
        "informative": masks,
        "n_slides": n_slides,
    }


# -- models ---------------------------------------------------------------------------------------
def make_model(modality: str, method: str, cfg: dict[str, Any], seed: int) -> Any:
    from coxmt import CoxMT, CoxNnet
    from coxmt.estimators.multimodal import MultimodalCoxMT, MultimodalCoxNnet
    from coxmt.estimators.wsi import WSICoxMT, WSICoxNnet

    m = cfg["models"]
    common: dict[str, Any] = {"random_state": seed, "device": "cpu"}
    if modality == "RNA":
        if method == "Cox-MT":
            return CoxMT(**m["rna"], **m["mean_teacher_rna"], **common)
        return CoxNnet(**m["rna"], **common)
    mt: dict[str, Any] = m["mean_teacher_bags"] if method == "Cox-MT" else {}
    cls: Any
    if modality == "WSI":
        cls = WSICoxMT if method == "Cox-MT" else WSICoxNnet
        return cls(**m["bags"], **m["wsi"], **mt, **common)
    cls = MultimodalCoxMT if method == "Cox-MT" else MultimodalCoxNnet
    return cls(**m["bags"], **m["multimodal"], **mt, **common)


def _scale_rna(X: pd.DataFrame, train: np.ndarray, clip: float) -> pd.DataFrame:
    mu = X.iloc[train].mean(0)
    sd = X.iloc[train].std(0, ddof=0).replace(0.0, 1.0)
    return ((X - mu) / sd).clip(-clip, clip)


def attention_recall(
    model: Any, args: tuple, masks: list[np.ndarray | None]
) -> tuple[float, float]:
    """Mean top-k recall of informative patches (k = their number) and its chance level."""
    keep = [i for i, m in enumerate(masks) if m is not None and 0 < m.sum() < len(m)]
    if not keep:
        return float("nan"), float("nan")
    sub = tuple(
        [a.iloc[keep] if isinstance(a, pd.DataFrame) else [a[i] for i in keep] for a in args]
    )
    att = model.attention(*sub, all_patches=True)
    recall, chance = [], []
    for i, rec in zip(keep, att, strict=True):
        inf = masks[i][rec["patch_index"]]  # type: ignore[index]
        k = int(inf.sum())
        top = np.argsort(-rec["patch_scores"], kind="stable")[:k]
        recall.append(inf[top].mean())
        chance.append(k / len(inf))
    return float(np.mean(recall)), float(np.mean(chance))


def run_task(task: tuple[str, int, str, str, dict[str, Any]]) -> dict[str, Any]:
    import torch

    from coxmt.experiments import make_splits
    from coxmt.metrics import concordance_index

    torch.set_num_threads(1)
    cohort, fold, modality, method, cfg = task
    d = _DATA[cohort]
    split = make_splits(d["event"], n_splits=cfg["n_splits"], n_repeats=1,
                        random_state=cfg["random_state"])[fold]  # fmt: skip
    tr, te = split.train, split.test
    X = _scale_rna(d["X"], tr, float(cfg["rna"]["clip"]))
    y_tr = (d["event"][tr], d["time"][tr])
    model = make_model(modality, method, cfg, seed=int(cfg["random_state"]) + fold)
    bags_tr = [d["bags"][i] for i in tr]
    bags_te = [d["bags"][i] for i in te]
    fit_args: tuple[Any, ...]
    test_args: tuple[Any, ...]
    if modality == "RNA":
        fit_args, test_args = (X.iloc[tr],), (X.iloc[te],)
    elif modality == "WSI":
        fit_args, test_args = (bags_tr,), (bags_te,)
    else:
        fit_args, test_args = (X.iloc[tr], bags_tr), (X.iloc[te], bags_te)
    t0 = time.perf_counter()
    model.fit(*fit_args, y_tr)
    fit_s = time.perf_counter() - t0
    risk = model.predict(*test_args)
    row = {
        "cohort": cohort.upper(),
        "modality": modality,
        "method": method,
        "fold": fold,
        "c_index": float(concordance_index(d["event"][te], d["time"][te], risk)),
        "fit_seconds": round(fit_s, 2),
        "n_train": len(tr),
        "n_test": len(te),
        "attention_recall": None,
        "attention_chance": None,
        "n_missing_wsi_train": getattr(model, "n_missing_wsi_", None),
        "fusion_choice": getattr(model, "fusion_choice_", None),
    }
    if modality != "RNA":
        rec, chance = attention_recall(model, test_args, [d["informative"][i] for i in te])
        row["attention_recall"], row["attention_chance"] = rec, chance
    return row


# -- reporting -------------------------------------------------------------------------------------
def summarize(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(MODELS)}
    g = df.groupby(["cohort", "modality", "method"], sort=False)
    out = g.agg(
        c_mean=("c_index", "mean"),
        c_sd=("c_index", "std"),
        recall=("attention_recall", "mean"),
        chance=("attention_chance", "mean"),
        fit_s=("fit_seconds", "mean"),
        folds=("fold", "count"),
    ).reset_index()
    out["_o"] = [order[(a, b)] for a, b in zip(out.modality, out.method, strict=True)]
    return out.sort_values(["cohort", "_o"]).drop(columns="_o").reset_index(drop=True)


def fusion_vs_single(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Per cohort and method: RNA+WSI minus the better single modality (by mean C), per fold."""
    df = pd.DataFrame(rows)
    out = []
    for (cohort, method), g in df.groupby(["cohort", "method"], sort=True):
        c = g.pivot(index="fold", columns="modality", values="c_index")
        if not {"RNA", "WSI", "RNA+WSI"} <= set(c.columns):
            continue
        better = "WSI" if c["WSI"].mean() >= c["RNA"].mean() else "RNA"
        diff = c["RNA+WSI"] - c[better]
        chosen = g.loc[g.modality == "RNA+WSI"].get("fusion_choice", pd.Series(dtype=object))
        counts = chosen.dropna().value_counts()
        out.append({
            "choices": ", ".join(f"{k} {v}" for k, v in counts.items()) or "joint",
            "cohort": cohort, "method": method, "better": better,
            "diff_mean": float(diff.mean()), "diff_sd": float(diff.std()),
            "folds_not_worse": int((diff >= 0).sum()), "folds": int(diff.size),
        })  # fmt: skip
    return pd.DataFrame(out)


def markdown(summary: pd.DataFrame, meta: dict[str, Any], fusion: pd.DataFrame) -> str:
    lines = [
        "# Semi-synthetic slide benchmark (real TCGA RNA-seq + survival, synthetic patch bags)",
        "",
        f"Generated {meta['date']} by `python benchmarks/semisynthetic_wsi.py` "
        f"(coxmt {meta['coxmt_version']}, torch {meta['torch_version']}, {meta['machine']}, "
        f"{meta['n_jobs']} worker process(es), 1 thread each; total {meta['total_seconds']:.0f} s).",
        "",
        f"{meta['n_splits']}-fold stratified CV, Harrell's C on the test folds (mean ± sd over folds). "
        "Attention: top-k recall of the informative patches (k = their number per patient) vs "
        "chance (k / n_patches).",
        "",
        "| cohort | modality | model | C-index | attention top-k recall | chance | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary.itertuples():
        rec = "" if pd.isna(r.recall) else f"{r.recall:.3f}"
        ch = "" if pd.isna(r.chance) else f"{r.chance:.3f}"
        lines.append(
            f"| {r.cohort} | {r.modality} | {r.method} | {r.c_mean:.3f} ± {r.c_sd:.3f} | {rec} | "
            f"{ch} | {r.fit_s:.1f} |"
        )
    mm = meta["config"]["models"]["multimodal"]
    fusion_settings = ", ".join(
        f"{k} {mm[k]}"
        for k in ("fusion", "modality_dropout", "auxiliary_weight", "fusion_selection")
        if k in mm
    )
    lines += [
        "",
        f"Multimodal fusion settings: {fusion_settings or 'library defaults'}. Fusion minus the "
        "better single modality, paired over folds (mean ± sd; folds where fusion is not worse):",
        "",
        "| cohort | model | better single modality | RNA+WSI minus better | folds not worse "
        "| predicting head (folds) |",
        "|---|---|---|---|---|---|",
    ]
    for f in fusion.itertuples():
        lines.append(
            f"| {f.cohort} | {f.method} | {f.better} | {f.diff_mean:+.3f} ± {f.diff_sd:.3f} | "
            f"{f.folds_not_worse}/{f.folds} | {f.choices} |"
        )
    lines += [
        "",
        "Caveats: the slide signal is generated from each patient's real outcome (a noisy normal "
        "score of the martingale residual, correlation "
        f"{meta['config']['generator']['outcome_correlation']}), so slide and multimodal "
        "c-indexes measure recovery of a planted signal and are not comparable to real-slide "
        "results. Slide/multimodal models run with reduced dimensions and epochs "
        "(see the config in the JSON) to fit the CPU budget. "
        f"{meta['config']['generator']['missing_wsi_fraction']:.0%} of patients have no slide "
        "(learned missing token). RNA-seq is the real ~1,550-gene signature panel, not the "
        "paper's top-4,000 genes.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--quick", action="store_true", help="LUAD, 2 folds, 2 epochs (smoke run)")
    args = parser.parse_args(argv)
    cfg = json.loads(args.config.read_text())
    if args.n_jobs is not None:
        cfg["n_jobs"] = args.n_jobs
    stem = "semisynthetic_wsi"
    if args.quick:
        cfg["cohorts"], cfg["n_splits"] = ["luad"], 2
        cfg["models"]["rna"]["max_epochs"] = 20
        cfg["models"]["bags"]["max_epochs"] = 2
        stem += "_quick"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    import coxmt
    from coxmt.io import atomic_write_text

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    for c in cfg["cohorts"]:
        t0 = time.perf_counter()
        _DATA[c] = load_cohort(c, cfg)
        d = _DATA[c]
        n_missing = sum(b is None for b in d["bags"])
        print(f"{c.upper()}: {len(d['event'])} patients, {int(d['event'].sum())} events, "
              f"{d['X'].shape[1]} genes, {n_missing} without slides; generated in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    # longest tasks first: multimodal/slide models on the largest cohort
    weight = {"RNA": 0, "WSI": 1, "RNA+WSI": 2}
    tasks = [
        (c, k, mod, meth, cfg)
        for c in cfg["cohorts"]
        for k in range(int(cfg["n_splits"]))
        for mod, meth in MODELS
    ]
    tasks.sort(key=lambda t: (-weight[t[2]], -len(_DATA[t[0]]["event"])))
    rows = []
    n_jobs = max(1, int(cfg["n_jobs"]))
    if n_jobs == 1:
        results = map(run_task, tasks)
        for row in results:
            rows.append(row)
            _progress(row, len(rows), len(tasks))
    else:
        with mp.get_context("fork").Pool(n_jobs) as pool:
            for row in pool.imap_unordered(run_task, tasks):
                rows.append(row)
                _progress(row, len(rows), len(tasks))
    rows.sort(key=lambda r: (r["cohort"], MODELS.index((r["modality"], r["method"])), r["fold"]))
    summary = summarize(rows)
    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "coxmt_version": coxmt.__version__,
        "torch_version": torch.__version__,
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
        "n_jobs": n_jobs,
        "n_splits": cfg["n_splits"],
        "total_seconds": time.perf_counter() - t_start,
        "config": cfg,
    }
    fusion = fusion_vs_single(rows)
    md = markdown(summary, meta, fusion)
    payload = {
        **meta,
        "rows": rows,
        "summary": json.loads(summary.to_json(orient="records")),
        "fusion_vs_better_single": json.loads(fusion.to_json(orient="records")),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out_dir / f"{stem}.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(args.out_dir / f"{stem}.md", md)
    print()
    print(md)
    return 0


def _progress(row: dict[str, Any], done: int, total: int) -> None:
    print(f"[{done}/{total}] {row['cohort']} fold {row['fold']} {row['modality']} {row['method']}: "
          f"C = {row['c_index']:.3f} ({row['fit_seconds']:.1f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
