"""``build_report``: an HTML + Markdown report of a cross-validation results folder."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coxmt import __version__
from coxmt._atomic import atomic_write_bytes
from coxmt.reporting import plots
from coxmt.reporting._render import (
    Bullets,
    Cell,
    Details,
    Document,
    Image,
    ImageGrid,
    KeyValues,
    Para,
    Section,
    Table,
    render_html,
    render_markdown,
)
from coxmt.reporting._style import METRIC_LABELS, png_bytes
from coxmt.reporting._tables import RunData, group_columns, load_run, paired_table, summary_table

__all__ = ["build_report"]

MAX_KM_PLOTS = 24
MAX_PAIRED_ROWS = 24
_HIGHER_IS_BETTER = {"c_index": True, "uno_c": True, "ibs": False}


def _num(x: Any, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not np.isfinite(v):
        return "n/a"
    text = f"{v:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "x"


def _label(key: tuple[Any, ...], cols: list[str]) -> str:
    return ", ".join(f"{c} {v}" for c, v in zip(cols, key, strict=True))


# ---------------------------------------------------------------- configuration
def _describe_models(run: RunData) -> str:
    models = run.config.get("models")
    out = []
    for m in run.models:
        cls = models.get(m, {}).get("class") if isinstance(models, dict) else None
        out.append(f"{m} ({str(cls).rsplit('.', 1)[-1]})" if cls else m)
    return ", ".join(out)


def _describe_preprocessing(pre: Any) -> str:
    if pre is None:
        return "none"
    if isinstance(pre, dict) and "class" in pre:
        params = pre.get("params") or {}
        if isinstance(params, dict) and isinstance(params.get("steps"), list):
            steps = [s[1] if isinstance(s, list) and len(s) == 2 else s for s in params["steps"]]
            names = [
                str(s.get("class", s)).rsplit(".", 1)[-1] if isinstance(s, dict) else str(s)
                for s in steps
            ]
            return " → ".join(names)
        return str(pre["class"]).rsplit(".", 1)[-1]
    return json.dumps(pre, default=str)[:300]


def _config_pairs(run: RunData) -> list[tuple[str, str]]:
    cfg, res = run.config, run.results
    n_splits = cfg.get("n_splits", res["fold"].nunique())
    n_repeats = cfg.get("n_repeats", res["repeat"].nunique())
    pairs = [
        ("Models", _describe_models(run)),
        (
            "Cross-validation",
            f"{n_splits}-fold \u00d7 {n_repeats} repeat(s)"
            + (f" (splits: {cfg['splits_source']})" if cfg.get("splits_source") else ""),
        ),
    ]
    if "random_state" in cfg:
        pairs.append(("Seed", str(cfg["random_state"])))
    data = cfg.get("data")
    if isinstance(data, dict):
        shape = []
        for key, word in (
            ("n_samples", "patients"),
            ("n_events", "events"),
            ("n_features", "features"),
            ("n_unlabeled", "unlabeled patients"),
        ):
            if data.get(key) is not None and not (key == "n_unlabeled" and not data[key]):
                shape.append(f"{data[key]} {word}")
        if data.get("path"):
            pairs.append(("Data", str(data["path"])))
        if shape:
            pairs.append(("Data shape", ", ".join(shape)))
        if data.get("unlabeled_path"):
            pairs.append(("Unlabeled data", str(data["unlabeled_path"])))
    if cfg:
        pairs.append(
            ("Preprocessing (per training fold)", _describe_preprocessing(cfg.get("preprocessing")))
        )
    ev = cfg.get("evaluation")
    if isinstance(ev, dict) and ev.get("uno_tau_quantile") is not None:
        q = ev.get("ibs_quantiles") or ["?", "?"]
        pairs.append(
            (
                "Evaluation",
                f"Uno's C truncated at the {ev['uno_tau_quantile']} quantile of training follow-up; "
                f"IBS over {ev.get('n_ibs_times', '?')} times between the {q[0]} and {q[-1]} "
                "quantiles of test follow-up",
            )
        )
    for extra in group_columns(res):
        values = [str(v) for v in pd.unique(res[extra].dropna())]
        pairs.append(
            (extra.capitalize(), ", ".join(values[:20]) + (" …" if len(values) > 20 else ""))
        )
    if cfg.get("created"):
        pairs.append(("Run date", str(cfg["created"])))
    machine = cfg.get("machine")
    if isinstance(machine, dict):
        pairs.append(
            (
                "Machine",
                ", ".join(
                    f"{k} {v}"
                    for k, v in machine.items()
                    if k in ("platform", "python", "cpu_count")
                ),
            )
        )
    run_version = cfg.get("coxmt_version")
    pairs.append(("coxmt version", f"{run_version or 'unknown'} (run), {__version__} (report)"))
    return pairs


# ---------------------------------------------------------------- tables
def _chosen_table(run: RunData) -> Table | None:
    """How often each setting won the inner CV of the tuned models (column ``chosen``)."""
    res = run.results
    if "chosen" not in res.columns or not (res["chosen"].str.len() > 0).any():
        return None
    rows = []
    for model, g in res[res["chosen"].str.len() > 0].groupby("model", sort=False):
        counts = g["chosen"].value_counts()
        for text, n in counts.items():
            setting = ", ".join(f"{k}={v}" for k, v in json.loads(str(text)).items())
            rows.append([Cell(str(model)), Cell(setting or "(defaults)", wrap=True),
                         Cell(f"{n} of {len(g)}")])  # fmt: skip
    return Table(
        ["Model", "Setting chosen by the inner CV", "Outer folds"],
        rows,
        "Nested cross-validation: the setting each outer training fold's inner CV chose "
        "(for a model with a fallback, the fallback's class when it ranked better).",
        numeric_from=2,
    )


def _results_table(run: RunData, summary: pd.DataFrame) -> Table:
    cols = group_columns(run.results)
    metrics = run.metrics
    keys = [*cols, "model"]
    wide = {k: g for k, g in summary.groupby(keys, sort=False, dropna=False)}
    best: dict[tuple[Any, ...], float] = {}
    for m in metrics:
        sub = summary[summary["metric"] == m]
        for gkey, g in sub.groupby(cols, sort=False, dropna=False) if cols else [((), sub)]:
            gkey = gkey if isinstance(gkey, tuple) else (gkey,)
            vals = g["mean"].to_numpy(dtype=np.float64)
            if np.isfinite(vals).any():
                best[(*gkey, m)] = float(
                    np.nanmax(vals) if _HIGHER_IS_BETTER[m] else np.nanmin(vals)
                )
    header = [c.capitalize() for c in cols] + ["Model", "Folds"]
    header += [METRIC_LABELS[m] + (" ↓" if m == "ibs" else "") for m in metrics]
    rows: list[list[Cell]] = []
    starts: list[int] = []
    previous = None
    for key, g in wide.items():
        key = key if isinstance(key, tuple) else (key,)
        if key[:-1] != previous:
            starts.append(len(rows))
            previous = key[:-1]
        by_metric = g.set_index("metric")
        n = int(by_metric["n"].max())
        row = [Cell(str(v)) for v in key[:-1]] + [Cell(str(key[-1])), Cell(str(n))]
        for m in metrics:
            r = by_metric.loc[m]
            text = _num(r["mean"]) + (f" ± {_num(r['sd'])}" if np.isfinite(r["sd"]) else "")
            sub = (
                f"95% CI [{_num(r['ci_low'])}, {_num(r['ci_high'])}]"
                if np.isfinite(r["ci_low"])
                else ""
            )
            if int(r["n"]) != n:
                sub = (sub + "; " if sub else "") + f"{int(r['n'])} folds"
            is_best = np.isfinite(r["mean"]) and np.isclose(
                r["mean"], best.get((*key[:-1], m), np.nan)
            )
            row.append(Cell(text, sub, bold=bool(is_best) and len(wide) > 1))
        rows.append(row)
    caption = (
        "Mean ± sd over test folds (all repeats). "
        + "95% CI: t-interval over folds (optimistic, see below). "
        + "Best mean per column in bold; ↓ lower is better."
    )
    return Table(
        header, rows, caption, numeric_from=len(cols) + 1, group_starts=starts if cols else []
    )


def _paired_table(run: RunData, paired: pd.DataFrame, reference: str) -> Table:
    cols = [c for c in group_columns(run.results) if c in paired.columns]
    only_c = len(paired) > MAX_PAIRED_ROWS and (paired["metric"] == "c_index").any()
    if only_c:
        paired = paired[paired["metric"] == "c_index"]
    rank = {m: i for i, m in enumerate(run.metrics)}
    paired = paired.sort_values("metric", key=lambda s: s.map(rank), kind="stable")
    show_metric = paired["metric"].nunique() > 1
    header = [c.capitalize() for c in cols] + ["Model"] + (["Metric"] if show_metric else [])
    header += ["Pairs", "Δ mean", "95% CI of Δ", "p (Wilcoxon)", "p (corrected t)"]
    rows: list[list[Cell]] = []
    starts: list[int] = []
    previous = None
    for r in paired.itertuples(index=False):
        d = r._asdict()
        key = (d["metric"], *(d[c] for c in cols))
        if key != previous:
            starts.append(len(rows))
            previous = key
        metric = [Cell(METRIC_LABELS.get(d["metric"], d["metric"]))] if show_metric else []
        rows.append(
            [Cell(str(d[c])) for c in cols]
            + [Cell(str(d["model"])), *metric, Cell(str(d["n_pairs"]))]
            + [
                Cell(f"{float(d['mean_diff']):+.3f}" if np.isfinite(d["mean_diff"]) else "n/a"),
                Cell(f"{_num(d['ci_low'])} to {_num(d['ci_high'])}"),
                Cell(plots.format_p(float(d["wilcoxon_p"])), bold=bool(d["wilcoxon_p"] < 0.05)),
                Cell(plots.format_p(float(d["corrected_p"])), bold=bool(d["corrected_p"] < 0.05)),
            ]
        )
    caption = (
        ("Harrell's C-index only (all metrics would make this table too long). " if only_c else "")
        + f"Δ = {reference} - model, paired on (repeat, fold); Δ > 0: {reference} scores higher, "
        "which is better for the C-indices and worse for the IBS. CI: percentile bootstrap over "
        "folds. The corrected resampled t-test (Nadeau & Bengio, 2003) allows for the overlap of "
        "training sets between folds; the Wilcoxon test does not. p < 0.05 in bold; no "
        "correction for multiple comparisons."
    )
    return Table(
        header, rows, caption, numeric_from=len(cols) + 1 + show_metric, group_starts=starts
    )


# ---------------------------------------------------------------- figures
def _image(name: str, fig: Any, caption: str, alt: str) -> Image:
    return Image(name, png_bytes(fig), caption, alt)


def _group_label_column(frame: pd.DataFrame) -> str | None:
    varying = [
        c for c in group_columns(frame) if frame[c].nunique(dropna=True) > 1 and c != "setting"
    ]
    return "+".join(varying) if varying else None


def _boxplots(run: RunData) -> list[Image]:
    res = run.results
    group = _group_label_column(res)
    if group is not None and group not in res.columns:
        parts = group.split("+")
        res = res.assign(**{group: res[parts].astype(str).agg(" · ".join, axis=1)})
    out = []
    for m in run.metrics:
        values = pd.to_numeric(res[m], errors="coerce")
        if not np.isfinite(values.to_numpy(dtype=np.float64)).any():
            continue
        fig = plots.plot_cindex_boxplot(res, m, group=group, order=run.models)
        label = METRIC_LABELS[m]
        cap = (
            f"{label} per model; each point is one test fold (box: quartiles and median; "
            "whiskers: 1.5 IQR)."
        )
        if "setting" in group_columns(res):
            cap += " All settings are pooled; see the scaling curves for the effect of the setting."
        out.append(_image(f"boxplot_{m}.png", fig, cap, f"Box plot of {label} per model"))
    return out


def _km_plots(run: RunData, xlabel: str) -> tuple[list[Image], Table | None, list[str]]:
    pred = run.predictions
    notes: list[str] = []
    if pred is None or pred.empty:
        return [], None, notes
    if "setting" in group_columns(pred) and pred["setting"].nunique(dropna=True) > 1:
        values = list(pd.unique(pred["setting"].dropna()))
        num = pd.to_numeric(pd.Series(values), errors="coerce")
        last = values[int(num.to_numpy().argmax())] if num.notna().all() else values[-1]
        pred = pred[pred["setting"] == last]
        notes.append(f"Kaplan-Meier plots are shown at setting {last} (the largest) only.")
    cols = [c for c in group_columns(pred) if pred[c].nunique(dropna=True) > 1]
    dup_keys = [*cols, "model", "repeat", "fold", "row"]
    if "row" in pred.columns and pred.duplicated(subset=dup_keys).any():
        notes.append(
            "predictions.csv repeats patients within a fold (for instance several "
            "settings without a setting column): Kaplan-Meier plots omitted."
        )
        return [], None, notes
    first = int(pred["repeat"].min())
    combos: list[tuple[str, tuple[Any, ...]]] = []
    for model in run.models:
        sub = pred[pred["model"] == model]
        if sub.empty:
            continue
        keys = (
            [()]
            if not cols
            else [k if isinstance(k, tuple) else (k,) for k in sub.groupby(cols, sort=False).groups]
        )
        combos += [(model, k) for k in keys]
    if len(combos) > MAX_KM_PLOTS:
        notes.append(
            f"{len(combos)} model/group combinations: Kaplan-Meier plots are shown for "
            f"the first {MAX_KM_PLOTS} only."
        )
    images, rows = [], []
    for model, key in combos[:MAX_KM_PLOTS]:
        sub = pred[pred["model"] == model]
        for c, v in zip(cols, key, strict=True):
            sub = sub[sub[c] == v]
        name = model + (f" ({_label(key, cols)})" if cols else "")
        try:
            grouped = plots.median_risk_groups(sub, repeat=first)
            p = plots.logrank_risk_groups(sub, repeat=first)
            fig = plots.plot_km_risk_groups(sub, model, repeat=first, xlabel=xlabel, title=name)
        except ValueError as exc:
            notes.append(f"Kaplan-Meier plot of {name} omitted: {exc}")
            continue
        n_folds = grouped["fold"].nunique()
        cap = (
            f"{name}: test patients split at the median predicted risk of their test fold; "
            f"the {n_folds} test folds of repeat {first} pooled (each patient once). "
            f"Log-rank {plots.p_equals(p)}."
        )
        images.append(_image(f"km_{_slug(name)}.png", fig, cap, f"Kaplan-Meier curves, {name}"))
        counts = []
        for g in ("low", "high"):
            gg = grouped[grouped["risk_group"] == g]
            counts.append(f"{len(gg)} ({int(gg['event'].astype(float).sum())})")
        rows.append(
            [Cell(name), *(Cell(c) for c in counts), Cell(plots.format_p(p), bold=bool(p < 0.05))]
        )
    table = None
    if rows:
        table = Table(
            ["Model", "Low risk: n (events)", "High risk: n (events)", "Log-rank p"],
            rows,
            "Median split within each test fold; out-of-fold predictions.",
        )
    return images, table, notes


def _scaling(run: RunData) -> list[Image]:
    res = run.results
    if "setting" not in group_columns(res) or res["setting"].nunique(dropna=True) < 2:
        return []
    res = res[res["setting"].notna()]
    label = str(run.config.get("setting_name") or "setting")
    facet = "cohort" if "cohort" in res.columns and res["cohort"].nunique() > 1 else None
    fig = plots.plot_scaling_curves(res, "setting", run.metrics, xlabel=label, facet=facet)
    hue_extra = "experiment" in res.columns and res["experiment"].nunique() > 1
    cap = (
        f"Mean ± sd over test folds (all repeats) of each metric against the {label}; one "
        "line per model"
        + (" and experiment" if hue_extra else "")
        + ("; one row of panels per cohort" if facet else "")
        + "."
    )
    return [_image("scaling.png", fig, cap, f"Metrics against the {label}")]


# ---------------------------------------------------------------- document
_HOW_TO_READ = [
    (
        "Harrell's C-index:",
        "the fraction of comparable patient pairs that the model orders "
        "correctly, i.e. the patient predicted to be at higher risk died first. 0.5 is a coin "
        "flip, 1.0 a perfect ordering; values of 0.6 to 0.75 are typical for cancer survival.",
    ),
    (
        "Uno's C-index:",
        "the same idea, reweighted for censoring (inverse probability of "
        "censoring weights from the training fold) and truncated before the last follow-up, so "
        "it depends less on how many patients were censored.",
    ),
    (
        "Integrated Brier score (IBS):",
        "the squared error of the predicted survival "
        "probabilities averaged over time, weighted for censoring. Lower is better; 0 is perfect "
        "and 0.25 is what a constant prediction of 50% survival scores.",
    ),
    (
        "Kaplan-Meier plots:",
        "patients of each test fold are split at the fold's median "
        "predicted risk; well separated curves (small log-rank p) mean the risk score stratifies "
        "patients. Predictions are out-of-fold: no patient is scored by a model trained on them.",
    ),
    (
        "Confidence intervals over folds are optimistic:",
        "cross-validation folds share most of "
        "their training patients, so their scores are not independent and the intervals are too "
        "narrow. Compare models with the paired tests (the corrected t-test accounts for the "
        "overlap), and confirm a result on an external cohort before relying on it.",
    ),
]


def _document(run: RunData, title: str, reference: str | None) -> Document:
    summary = summary_table(run)
    xlabel = "Time"
    data_cfg = run.config.get("data")
    if isinstance(data_cfg, dict) and data_cfg.get("time_col"):
        xlabel = f"Time ({data_cfg['time_col']})"
    n_rep, n_fold = run.results["repeat"].nunique(), run.results["fold"].nunique()
    subtitle = (
        f"{len(run.models)} model(s) · {n_fold}-fold cross-validation \u00d7 {n_rep} "
        f"repeat(s) · results folder {run.path.name}"
    )
    sections = [Section("Configuration", [KeyValues(_config_pairs(run))], "configuration")]
    if run.config:
        sections[0].blocks.append(
            Details(
                "Full configuration (config.json)", json.dumps(run.config, indent=2, default=str)
            )
        )
    results_blocks: list[Any] = [_results_table(run, summary)]
    boxes = _boxplots(run)
    if boxes:
        many = _group_label_column(run.results) is not None or len(run.models) > 4
        results_blocks.append(ImageGrid(boxes, wide=many))
    sections.append(Section("Results", results_blocks, "results"))
    if "notes" in run.results.columns and (run.results["notes"].str.len() > 0).any():
        noted = run.results[run.results["notes"].str.len() > 0]
        rows = [
            [
                Cell(str(r.model)),
                Cell(str(r.repeat)),
                Cell(str(r.fold)),
                Cell(str(r.notes), wrap=True),
            ]
            for r in noted.head(50).itertuples()
        ]
        sections[-1].blocks.append(
            Table(
                ["Model", "Repeat", "Fold", "Note"],
                rows,
                "Folds with notes (metrics that could not be computed are n/a).",
                numeric_from=99,
            )
        )
    chosen = _chosen_table(run)
    if chosen is not None:
        sections[-1].blocks.append(chosen)
    paired, why = paired_table(run, reference)
    if paired is not None and reference is not None:
        sections.append(
            Section(
                f"Paired comparison with {reference}",
                [_paired_table(run, paired, reference)],
                "paired",
            )
        )
    else:
        sections.append(
            Section("Paired comparison", [Para(f"No paired tests: {why}.", True)], "paired")
        )
    km_images, km_table, km_notes = _km_plots(run, xlabel)
    km_blocks: list[Any] = [
        Para(n, True) for n in km_notes + [n for n in run.notes if "Kaplan" in n]
    ]
    if km_table is not None:
        km_blocks.insert(0, km_table)
    if km_images:
        km_blocks.append(ImageGrid(km_images))
    if km_blocks:
        sections.append(Section("Risk groups (Kaplan-Meier)", km_blocks, "kaplan-meier"))
    scaling = _scaling(run)
    if scaling:
        sections.append(Section("Scaling and ablation curves", list(scaling), "scaling"))
    sections.append(
        Section("How to read this report", [Bullets(list(_HOW_TO_READ))], "how-to-read")
    )
    other = [n for n in run.notes if "Kaplan" not in n]
    if other:
        sections[0].blocks.insert(0, Para(" ".join(other), True))
    return Document(title, subtitle, sections)


def _default_title(run: RunData) -> str:
    data = run.config.get("data")
    if isinstance(data, dict) and data.get("path"):
        name = Path(str(data["path"])).name
        for suffix in (".gz", ".csv", ".tsv", ".parquet", ".h5ad", ".txt"):
            name = name.removesuffix(suffix)
        return f"Cross-validation report: {name}"
    return f"Cross-validation report: {run.path.resolve().name}"


def build_report(
    results_dir: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    reference: str | None = "Cox-MT",
) -> Path:
    """Write an HTML and a Markdown report of a cross-validation results folder.

    Reads ``results.csv`` (required), ``predictions.csv`` and ``config.json`` of a
    folder written by :func:`coxmt.experiments.cross_validate` / ``coxmt cv``
    (optional extra columns ``cohort``, ``experiment``, ``setting`` in
    ``results.csv`` are summarised separately), and writes into ``out``:

    * ``report.html``: one self-contained page (figures embedded as PNG data URIs,
      no JavaScript) with the run configuration, a results table (mean ± sd and
      95% CI of Harrell's C, Uno's C and the IBS per model), paired tests against
      ``reference``, box plots, Kaplan-Meier curves of predicted risk groups per
      model, scaling curves when a ``setting`` column exists, and notes on reading
      the metrics;
    * ``report.md``: the same content, referencing ``figures/*.png``;
    * ``figures/``: the PNG figures.

    Every file is written atomically (temporary file + ``os.replace``).

    Parameters
    ----------
    results_dir : path
        Results folder of a cross-validation run.
    out : path, optional
        Output folder (created if needed). Defaults to ``results_dir``.
    title : str, optional
        Page title. Defaults to "Cross-validation report: <data file>".
    reference : str or None, default "Cox-MT"
        Model the others are compared with; no paired tests when None or absent.

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.

    Raises
    ------
    FileNotFoundError
        When ``results_dir`` holds no ``results.csv``.
    ValueError
        When ``results.csv`` lacks the required columns.

    Examples
    --------
    A results folder needs no more than its ``results.csv`` (a folder written by
    ``coxmt cv`` also has predictions, from which the Kaplan-Meier plots are drawn):

    >>> import tempfile, pandas as pd
    >>> d = tempfile.mkdtemp()
    >>> pd.DataFrame({"model": ["Cox-MT", "Cox-nnet"] * 3, "repeat": 0, "fold": [0, 0, 1, 1, 2, 2],
    ...               "c_index": [0.71, 0.66, 0.69, 0.68, 0.74, 0.65]}).to_csv(
    ...     f"{d}/results.csv", index=False)
    >>> build_report(d, reference="Cox-nnet").name
    'report.html'
    """
    run = load_run(results_dir)
    out_dir = Path(results_dir) if out is None else Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out {str(out_dir)!r} is a file; pass a folder for the report")
    doc = _document(run, title or _default_title(run), reference)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    footer = f"Generated {now} by coxmt {__version__} from {run.path.resolve()}."
    fig_dir = out_dir / "figures"
    for section in doc.sections:
        for block in section.blocks:
            images = block.figures if isinstance(block, ImageGrid) else [block]
            for img in images:
                if isinstance(img, Image):
                    atomic_write_bytes(fig_dir / img.name, img.png)
    atomic_write_bytes(out_dir / "report.md", render_markdown(doc, footer).encode("utf-8"))
    return atomic_write_bytes(out_dir / "report.html", render_html(doc, footer).encode("utf-8"))
