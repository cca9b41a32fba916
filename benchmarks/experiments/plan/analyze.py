"""The analysis of PLAN.md sections 7, 8 and 10, on whatever arms have results.

For each arm folder under ``benchmarks/results/plan/`` (``<arm>/<part>/results.csv``,
written by ``benchmarks/experiments/run.py``), per cohort (and setting):

- every model's mean Harrell's C, Uno's C and IBS with a **corrected** 95% CI
  (t interval with the Nadeau-Bengio variance ``s^2 (1/J + n_test/n_train)``);
- the registered paired differences (``reference - other``) on identical folds: mean,
  corrected 95% CI, corrected resampled t-test p, Wilcoxon p, both Holm-adjusted across
  the cohorts of the arm, and the minimal detectable difference of the corrected test
  (alpha 0.05, power 0.8) from the observed sd of the differences;
- a cohort is analysed only when every model has all its folds; an unfinished cohort is
  listed with its progress (the runs are resumable: run the arm's command again).

Run from the repository root::

    python benchmarks/experiments/plan/analyze.py

Writes ``benchmarks/results/plan/RESULTS.md`` and ``analysis.json`` beside it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))

from coxmt._atomic import atomic_write_text  # noqa: E402
from coxmt.experiments import corrected_resampled_ttest  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "plan"
METRICS = {"c_index": "Harrell's C", "uno_c": "Uno's C", "ibs": "IBS"}
POWER = 0.8
# registered comparisons per arm (PLAN.md section 7): (reference, other)
PAIRS: dict[str, list[tuple[str, str]]] = {
    "a_full": [
        ("Cox-MT (tuned)", "Cox-nnet (tuned)"),  # the primary hypothesis
        ("Cox-MT CV (x5, calibrated)", "Cox-nnet CV (x5, calibrated)"),
        ("Cox-MT CV (x5, calibrated)", "ridge Cox"),
        ("Cox-MT CV (x5, calibrated)", "RSF"),
        ("Cox-MT CV (x5, calibrated)", "DeepSurv (tuned)"),
        ("Cox-MT CV (x5, calibrated)", "Cox-MT (tuned)"),
        ("Cox-MT (defaults)", "Cox-nnet (defaults)"),
    ],
    "a2_recommended_ridge": [
        ("Cox-MT CV + ridge (x5, calibrated)", "Cox-MT CV (x5, calibrated)"),
        ("Cox-MT CV + ridge (x5, calibrated)", "ridge Cox"),
        ("Cox-MT CV + ridge (x5, calibrated)", "RSF"),
        ("Cox-MT CV + ridge (x5, calibrated)", "Cox-MT (defaults)"),
    ],
    "c_literal": [  # every pair (section 7), the paper's two readings first
        ("Cox-MT (tuned, L_s on events)", "Cox-nnet (tuned, L_s on events)"),
        ("Cox-MT (tuned, L_s on all)", "Cox-nnet (tuned, L_s on all)"),
        ("Cox-MT (tuned, L_s on all)", "Cox-MT (tuned, L_s on events)"),
        ("Cox-nnet (tuned, L_s on all)", "Cox-nnet (tuned, L_s on events)"),
        ("Cox-MT (tuned, L_s on all)", "Cox-nnet (tuned, L_s on events)"),
        ("Cox-MT (tuned, L_s on events)", "Cox-nnet (tuned, L_s on all)"),
    ],
    "d_pool": [  # run_d_pool.json's reference first, then the remaining pair (section 7)
        ("Cox-MT (tuned) + pan-cancer pool", "Cox-MT (tuned)"),
        ("Cox-MT (tuned) + pan-cancer pool", "Cox-nnet (tuned)"),
        ("Cox-MT (tuned)", "Cox-nnet (tuned)"),
    ],
    "e_positive_control": [("Cox-MT (tuned)", "Cox-nnet (tuned)"), ("Cox-MT (tuned)", "ridge Cox")],
    "e2_positive_control": [
        ("Cox-MT (tuned)", "Cox-nnet (tuned)"),
        ("Cox-MT (tuned)", "ridge Cox"),
    ],
}


def holm(p: list[float]) -> list[float]:
    """Holm step-down adjusted p-values (NaN kept)."""
    arr = np.asarray(p, dtype=np.float64)
    out = np.full_like(arr, np.nan)
    ok = np.flatnonzero(np.isfinite(arr))
    order = ok[np.argsort(arr[ok])]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * arr[i]))
        out[i] = running
    return out.tolist()


def corrected_interval(d: np.ndarray, rho: float) -> tuple[float, float, float]:
    """Mean, and the corrected 95% t interval's half-width and MDD (power 0.8)."""
    j = d.size
    se = float(np.sqrt((1 / j + rho) * d.var(ddof=1)))
    half = float(stats.t.ppf(0.975, j - 1)) * se
    mdd = float(stats.t.ppf(0.975, j - 1) + stats.t.ppf(POWER, j - 1)) * se
    return float(d.mean()), half, mdd


def model_table(res: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for model, g in res.groupby("model", sort=False):
        rho = float(np.mean(g["n_test"] / g["n_train"]))
        row: dict[str, Any] = {"model": model, "folds": len(g)}
        for m in METRICS:
            v = g[m].dropna().to_numpy(dtype=np.float64)
            mean, half, _ = corrected_interval(v, rho) if v.size > 1 else (np.nan, np.nan, np.nan)
            row[m] = mean
            row[f"{m}_half"] = half
        rows.append(row)
    return rows


def paired(res: pd.DataFrame, ref: str, other: str, metric: str) -> dict[str, Any] | None:
    a = res[res["model"] == ref].set_index(["repeat", "fold"])
    b = res[res["model"] == other].set_index(["repeat", "fold"])
    if a.empty or b.empty:
        return None
    both = a[[metric, "n_train", "n_test"]].join(b[[metric]], rsuffix="_o", how="inner").dropna()
    d = (both[metric] - both[f"{metric}_o"]).to_numpy(dtype=np.float64)
    if d.size < 2:
        return None
    rho = float(np.mean(both["n_test"] / both["n_train"]))
    mean, half, mdd = corrected_interval(d, rho)
    _, p = corrected_resampled_ttest(d, both["n_train"], both["n_test"])
    w = float(stats.wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
    return {
        "reference": ref,
        "other": other,
        "metric": metric,
        "pairs": int(d.size),
        "diff": mean,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "p_corrected": float(p),
        "p_wilcoxon": w,
        "mdd": mdd,
        "positive_folds": int((d > 0).sum()),
    }


def fmt(x: float, digits: int = 3) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "—"
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}" if p < 0.01 else f"{p:.2f}"


# arms run on other arms' outer splits and analysed together with their models:
# arm -> [(other arm, its part), ...]; split fingerprints must agree cohort by cohort
JOIN: dict[str, list[tuple[str, str]]] = {
    "a2_recommended_ridge": [("a_full", "main"), ("a_recommended_early", "main")],
}


def finished_parts(arm_dir: Path, part: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rows of the tasks finished so far (``runs/<part>__<cohort>__r<N>/parts/*.json``)."""
    rows: list[dict[str, Any]] = []
    config: dict[str, Any] = {"title": f"{part} (runs finished so far)"}
    for run in sorted((arm_dir / "runs").glob(f"{part}__*")):
        tokens = run.name.split("__")
        cohort = tokens[1]
        # label-fraction runs are named <part>__<cohort>__f<fraction>: the setting
        setting = {"setting": float(tokens[2][1:])} if tokens[2:3] and tokens[2][0] == "f" else {}
        run_config = json.loads((run / "config.json").read_text())
        config.update({k: run_config[k] for k in ("n_splits", "n_repeats")})
        for f in sorted((run / "parts").glob("*.json")):
            d = json.loads(f.read_text())
            d.pop("rows", None)
            d.pop("risk", None)
            rows.append({"cohort": cohort, **setting, **d})
    return pd.DataFrame(rows), config


def load_part(part_dir: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A part's rows: its ``results.csv`` when finished, else the tasks finished so far."""
    if (part_dir / "results.csv").is_file():
        res = pd.read_csv(part_dir / "results.csv")
        return res, json.loads((part_dir / "config.json").read_text())
    return finished_parts(part_dir.parent, part_dir.name)


def split_fingerprints(arm_dir: Path, part: str) -> dict[str, str]:
    """cohort -> fingerprint of its outer splits, from the runs' ``config.json``."""
    out = {}
    for run in sorted((arm_dir / "runs").glob(f"{part}__*")):
        out[run.name.split("__")[1]] = json.loads((run / "config.json").read_text())[
            "splits_sha256"
        ]
    return out


def join_other_arms(
    arm: str, part_dir: Path, res: pd.DataFrame, expected: int
) -> tuple[pd.DataFrame, str]:
    """``res`` with the finished models of the arms it was run beside (JOIN).

    Per cohort of ``arm``, a source's model is added when its outer splits have the same
    fingerprint and it has all ``expected`` folds; a model already present from an earlier
    source must have identical per-fold results in the later one (the check that runs on
    the same splits and seeds reproduce each other), and is not added twice.
    """
    mine = split_fingerprints(part_dir.parent, part_dir.name)
    frames, sources, reproduced = [res], set(), []
    for other_arm, other_part in JOIN[arm]:
        other_dir = RESULTS / other_arm
        other, _ = load_part(other_dir / other_part)
        if other.empty:  # not run yet
            continue
        theirs = split_fingerprints(other_dir, other_part)
        for cohort in sorted(set(mine) & set(theirs)):
            if mine[cohort] != theirs[cohort]:
                raise SystemExit(
                    f"{arm} and {other_arm} have different outer splits on {cohort}; "
                    "they cannot be paired"
                )
            g = other[other["cohort"] == cohort]
            counts = g.groupby("model").size()
            have = pd.concat(frames)
            have = have[have["cohort"] == cohort]
            for model in counts.index[counts >= expected]:
                rows = g[g["model"] == model]
                if model in set(have["model"]):
                    key = ["repeat", "fold"]
                    a = have[have["model"] == model].set_index(key)["c_index"].sort_index()
                    b = rows.set_index(key)["c_index"].sort_index()
                    same = a.index.equals(b.index) and np.allclose(a, b, rtol=0, atol=1e-12)
                    if not same:  # (1e-12: a finished run's results.csv rounds the last bit)
                        raise SystemExit(
                            f"{model} on {cohort}: {other_arm} does not reproduce the results "
                            "already joined from another arm on the same splits and seeds"
                        )
                    reproduced.append(f"{model} on {cohort} reproduced by {other_arm} (to 1e-12)")
                    continue
                frames.append(rows)
                sources.add(other_arm)
    joined = pd.concat(frames, ignore_index=True)
    names = ", ".join(sorted(sources)) or "no other arm yet"
    note = (
        f"Analysed together with the finished models of {names} "
        "on identical outer splits (split fingerprints checked)"
        + (f"; {'; '.join(reproduced)}" if reproduced else "")
        + "."
    )
    return joined, note


def analyse_part(arm: str, part_dir: Path) -> tuple[list[str], dict[str, Any]]:
    res, config = load_part(part_dir)
    expected = int(config.get("n_splits", 5)) * int(config.get("n_repeats", 10))
    notes: list[str] = []
    if arm in JOIN:
        res, note = join_other_arms(arm, part_dir, res, expected)
        notes = [note, ""]
    keys = ["cohort", "setting"] if "setting" in res.columns else ["cohort"]
    lines = [f"### {config.get('title', part_dir.name)}", "", *notes]
    out: dict[str, Any] = {"cohorts": {}, "pairs": []}
    pairs_rows: list[dict[str, Any]] = []
    for key, g in res.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        label = " / ".join(str(k) for k in key)
        counts = g.groupby("model").size()
        done = bool((counts >= expected).all())
        if not done:
            lines.append(
                f"**{label}**: unfinished ({int(counts.min())}-{int(counts.max())} of "
                f"{expected} folds per model); not analysed.\n"
            )
            out["cohorts"][label] = {"finished": False}
            continue
        table = model_table(g)
        out["cohorts"][label] = {"finished": True, "models": table}
        lines += [
            f"**{label}** ({expected} paired folds; mean with corrected 95% CI half-width)",
            "",
            "| model | Harrell's C | Uno's C | IBS ↓ |",
            "|---|---|---|---|",
        ]
        best_c = max(r["c_index"] for r in table)
        best_ibs = min(r["ibs"] for r in table)
        for r in table:
            c = f"{fmt(r['c_index'])} ± {fmt(r['c_index_half'])}"
            ibs = f"{fmt(r['ibs'])} ± {fmt(r['ibs_half'])}"
            c = f"**{c}**" if r["c_index"] == best_c else c
            ibs = f"**{ibs}**" if r["ibs"] == best_ibs else ibs
            lines.append(
                f"| {r['model']} | {c} | {fmt(r['uno_c'])} ± {fmt(r['uno_c_half'])} | {ibs} |"
            )
        lines.append("")
        models = list(pd.unique(g["model"]))
        ref0 = config.get("reference") or models[0]
        default_pairs = [(ref0, m) for m in models if m != ref0]  # arms without a list
        for ref, other in PAIRS.get(arm, default_pairs):
            for metric in ("c_index", "ibs"):
                row = paired(g, ref, other, metric)
                if row is not None:
                    row["cohort"] = label
                    pairs_rows.append(row)
    if pairs_rows:
        frame = pd.DataFrame(pairs_rows)
        for _key, idx in frame.groupby(["reference", "other", "metric"], sort=False).groups.items():
            frame.loc[idx, "holm_corrected"] = holm(frame.loc[idx, "p_corrected"].tolist())
            frame.loc[idx, "holm_wilcoxon"] = holm(frame.loc[idx, "p_wilcoxon"].tolist())
        lines += [
            "Paired differences (reference - other, identical folds; Holm across the cohorts "
            "analysed so far; MDD: smallest true difference the corrected test detects with "
            "power 0.8 at this sd):",
            "",
            "| cohort | reference - other | metric | Δ | corrected 95% CI | p (corrected t) | Holm | "
            "p (Wilcoxon) | Holm | folds Δ>0 | MDD |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in frame.to_dict(orient="records"):
            lines.append(
                f"| {r['cohort']} | {r['reference']} - {r['other']} | {METRICS[r['metric']]} | "
                f"{r['diff']:+.3f} | {r['ci_low']:+.3f} to {r['ci_high']:+.3f} | "
                f"{fmt_p(r['p_corrected'])} | {fmt_p(r['holm_corrected'])} | "
                f"{fmt_p(r['p_wilcoxon'])} | {fmt_p(r['holm_wilcoxon'])} | "
                f"{r['positive_folds']}/{r['pairs']} | {r['mdd']:.3f} |"
            )
        lines.append("")
        out["pairs"] = frame.to_dict(orient="records")
    return lines, out


def main() -> None:
    lines = [
        "# Results of the pre-registered plan (PLAN.md)",
        "",
        "Generated by `python benchmarks/experiments/plan/analyze.py` from the arms' "
        "`results.csv`; each arm's command is in PLAN.md section 11 and its deviations "
        "section. Corrected intervals and tests use the Nadeau-Bengio variance "
        "(n_test/n_train = 1/4); Wilcoxon ignores the overlap of training sets and is "
        "optimistic.",
        "",
    ]
    payload: dict[str, Any] = {}
    # explorations (explore_*) are not arms of the plan: their own scripts report them
    arms = [p for p in RESULTS.iterdir() if p.is_dir() and not p.name.startswith("explore")]
    for arm_dir in sorted(arms):
        parts = sorted(p.parent for p in arm_dir.glob("*/results.csv"))
        running = {r.name.split("__")[0] for r in (arm_dir / "runs").glob("*__*")}
        parts += [arm_dir / name for name in sorted(running) if arm_dir / name not in parts]
        if not parts:
            continue
        lines += [f"## {arm_dir.name}", ""]
        for part in parts:
            part_lines, out = analyse_part(arm_dir.name, part)
            lines += part_lines
            payload[f"{arm_dir.name}/{part.name}"] = out
    atomic_write_text(RESULTS / "RESULTS.md", "\n".join(lines) + "\n")
    atomic_write_text(
        RESULTS / "analysis.json", json.dumps(payload, indent=1, default=float) + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
