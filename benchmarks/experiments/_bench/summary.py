"""``SUMMARY.md``: the tables of every experiment, machine, wall times, discussion.

Reads the merged results folders under ``benchmarks/results/experiments/`` (absent
experiments are listed as not run) and the hand-written discussion
``benchmarks/experiments/discussion.md``.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from _bench.merge import cpu_name
from coxmt.experiments import paired_comparison

__all__ = ["write_summary"]

EXPERIMENTS = {
    "a_baselines": ["main", "nested"],
    "b_censored_ablation": ["consistency_set"],
    "c_scaling": ["unlabeled", "labels"],
    "d_hyperparameters": ["sweeps/ema_decay", "sweeps/consistency_weight", "sweeps/noise_std"],
    "e_external": ["cross_cohort", "site_holdout"],
    "f_generality": ["label_scarcity"],
    "g_why": ["variants"],
}


def _f(x: float, d: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{d}f}"


def _p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else "<1e-4"


def _md(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def _load(folder: Path) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    f = folder / "results.csv"
    if not f.is_file():
        return None
    cfg = (
        json.loads((folder / "config.json").read_text())
        if (folder / "config.json").is_file()
        else {}
    )
    return pd.read_csv(f, float_precision="round_trip"), cfg


def _groups(res: pd.DataFrame) -> list[str]:
    return [c for c in ("cohort", "experiment", "setting") if c in res.columns]


def model_table(res: pd.DataFrame, reference: str | None, order: list[str]) -> pd.DataFrame:
    """Per group x model: folds, C-index mean ± sd [95% t-CI], IBS, paired tests vs reference."""
    rows = []
    gcols = _groups(res)
    for key, sub in res.groupby(gcols, sort="setting" in gcols) if gcols else [((), res)]:
        key = key if isinstance(key, tuple) else (key,)
        pc = None
        if reference is not None and reference in set(sub["model"]):
            pc = paired_comparison(
                sub, reference=reference, metric="c_index", n_bootstrap=2000
            ).set_index("model")
        models = [m for m in order if m in set(sub["model"])]
        for m in models:
            v = sub.loc[sub["model"] == m, "c_index"].dropna().to_numpy(dtype=float)
            ibs = sub.loc[sub["model"] == m, "ibs"].dropna().to_numpy(dtype=float)
            n = v.size
            half = stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
            row = {
                **dict(zip(gcols, key, strict=True)),
                "model": m,
                "folds": n,
                "C-index mean ± sd": f"{_f(v.mean())} ± {_f(v.std(ddof=1))}",
                "95% CI": f"[{_f(v.mean() - half)}, {_f(v.mean() + half)}]",
                "IBS": f"{_f(ibs.mean())} ± {_f(ibs.std(ddof=1))}" if ibs.size else "n/a",
            }
            if pc is not None:
                if m in pc.index:
                    r = pc.loc[m]
                    row["Δ (ref - model) [bootstrap 95% CI]"] = (
                        f"{r['mean_diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
                    )
                    row["p Wilcoxon"] = _p(r["wilcoxon_p"])
                    row["p corrected t"] = _p(r["corrected_p"])
                else:
                    row["Δ (ref - model) [bootstrap 95% CI]"] = "reference"
                    row["p Wilcoxon"] = row["p corrected t"] = ""
            rows.append(row)
    return pd.DataFrame(rows)


def _numeric(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def curve_table(res: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Mean C-index per cohort x setting (rows) and model (columns)."""
    keys = [c for c in ("cohort", "experiment", "setting") if c in res.columns]
    wide = res.groupby([*keys, "model"], sort=False)["c_index"].mean().unstack("model")
    if "setting" in keys:
        order_idx = sorted(
            range(len(wide)),
            key=lambda i: tuple(
                (0, float(v), "") if _numeric(v) else (1, 0.0, str(v))
                for v in (wide.index[i] if isinstance(wide.index[i], tuple) else (wide.index[i],))
            ),
        )
        wide = wide.iloc[order_idx]
    wide = wide[[m for m in order if m in wide.columns]]
    return wide.map(_f).reset_index()


def _section(
    name: str, parts: list[str], root: Path, notes: list[tuple[str, dict[str, float]]]
) -> list[str]:
    out = []
    for part in parts:
        loaded = _load(root / name / part)
        if loaded is None:
            out.append(f"*{name}/{part}: not run yet.*\n")
            continue
        res, cfg = loaded
        order = cfg.get("model_order", list(pd.unique(res["model"])))
        ref = cfg.get("reference")
        wall = (
            json.loads((root / name / part / "timing.json").read_text()).get("wall_seconds_total")
            if (root / name / part / "timing.json").is_file()
            else None
        )
        out.append(f"#### {cfg.get('title', part)}\n")
        out.append(
            f"Results folder `benchmarks/results/experiments/{name}/{part}/` "
            f"(report.html / report.md); {res['fold'].nunique()}-fold x "
            f"{res['repeat'].nunique()} repeat(s); wall time of its runs "
            f"{_f(wall / 60, 1) if wall else 'n/a'} min.\n"
        )
        if "setting" in res.columns and name != "e_external":
            out.append(_md(curve_table(res, order)) + "\n")
            out.append(
                "Mean Harrell's C per setting (columns: models). Paired tests per "
                "setting against the reference:\n"
            )
        out.append(_md(model_table(res, ref, order)) + "\n")
        info = cfg.get("info")
        if info:
            out.append(f"Details: `{json.dumps(info)[:600]}`\n")
        timing = root / name / part / "timing.json"
        if timing.is_file():
            notes.append((name, json.loads(timing.read_text()).get("runs", {})))
    return out


def _git_commit(repo: Path) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_summary(root: Path, repo: Path, discussion: Path) -> Path:
    """Write ``root/SUMMARY.md`` (atomically) and return its path."""
    from coxmt import __version__
    from coxmt.io import atomic_write_text

    notes: list[tuple[str, dict[str, float]]] = []
    lines = [
        "# TCGA experiment suite: Cox-MT vs baselines, ablations, scaling, external validation",
        "",
        f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by "
        f"`python benchmarks/experiments/summarize.py`; coxmt {__version__} "
        f"(commit {_git_commit(repo)} + working tree).",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores visible (shared with other jobs "
        "while these ran: wall times are upper bounds); PyTorch CPU, one thread per worker, "
        "2 worker processes.",
        "",
        "Metric: Harrell's C-index on the test folds (higher is better); IBS = integrated "
        "Brier score (lower is better). p-values: two-sided Wilcoxon signed-rank and "
        "Nadeau-Bengio corrected resampled t-test on the per-fold differences (reference - "
        "model); CI of Δ: percentile bootstrap over folds. 95% CI of the mean: t-interval "
        "over folds (optimistic: folds share training patients). No multiple-comparison "
        "correction.",
        "",
    ]
    if discussion.is_file():
        lines += [discussion.read_text(encoding="utf-8").strip(), ""]
    lines += ["## Tables", ""]
    for name, parts in EXPERIMENTS.items():
        cfg_path = repo / "benchmarks" / "experiments" / f"{name}.json"
        desc = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
        lines += [f"### {name}: {desc.get('title', '')}", ""]
        if desc.get("claim"):
            lines += [f"Claim tested: {desc['claim']}", ""]
        if desc.get("description"):
            lines += [desc["description"], ""]
        lines += [
            f"Regenerate: `python benchmarks/experiments/run.py "
            f"benchmarks/experiments/{name}.json`",
            "",
        ]
        lines += _section(name, parts, root, notes)
    per_exp: dict[str, dict[str, float]] = {}
    for name, runs in notes:
        per_exp.setdefault(name, {}).update(runs)
    walls = {n: sum(v for v in r.values() if v == v) for n, r in per_exp.items()}
    lines += [
        "## Wall times",
        "",
        "Sum over the cross-validation runs of each experiment (2 worker processes; the "
        "machine was shared with other jobs, so these are upper bounds; report building "
        "not included):",
        "",
        *[f"- {n}: {w / 60:.1f} min" for n, w in walls.items()],
        f"- total: {sum(walls.values()) / 60:.1f} min",
        "",
    ]
    return atomic_write_text(root / "SUMMARY.md", "\n".join(lines) + "\n")
