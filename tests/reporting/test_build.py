"""build_report: files, contents, escaping, optional inputs and errors."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coxmt.reporting import build_report
from tests.reporting._synthetic import make_results_dir

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URI = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _html(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_writes_html_markdown_and_figures(report: Path, results_dir: Path) -> None:
    assert report == results_dir / "report.html"
    figures = sorted(p.name for p in (results_dir / "figures").glob("*.png"))
    assert figures == [
        "boxplot_c_index.png",
        "boxplot_ibs.png",
        "boxplot_uno_c.png",
        "km_cox-mt.png",
        "km_cox-nnet.png",
        "km_coxph.png",
    ]
    assert (results_dir / "report.md").is_file()
    assert not list(results_dir.glob(".*.tmp")) and not list(results_dir.glob("figures/.*"))


def test_html_is_self_contained(report: Path, results_dir: Path) -> None:
    html = _html(report)
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html.lower()
    assert 'src="http' not in html and 'href="http' not in html
    images = DATA_URI.findall(html)
    assert len(images) == html.count("<img ") == len(list((results_dir / "figures").glob("*.png")))
    for b64 in images:
        assert base64.b64decode(b64)[:8] == PNG_MAGIC


def test_html_reports_configuration(report: Path) -> None:
    html = _html(report)
    assert "<title>Cross-validation report: tcga_brca</title>" in html
    for text in (
        "Cox-MT (CoxMT)",
        "Cox-nnet (CoxNnet)",
        "3-fold \u00d7 2 repeat(s)",
        "<th>Seed</th><td>7</td>",
        "90 patients, 54 events, 1558 features",
        "2025-01-02T03:04:05+00:00",
        "0.1.0 (run)",
    ):
        assert text in html, text


def test_results_table_holds_mean_sd_and_ci(report: Path, results: pd.DataFrame) -> None:
    html = _html(report)
    for model, sub in results.groupby("model"):
        c = sub["c_index"]
        assert f"{c.mean():.3f} ± {c.std(ddof=1):.3f}" in html, model
        ibs = sub["ibs"]
        assert f"{ibs.mean():.3f} ± {ibs.std(ddof=1):.3f}" in html, model
    assert html.count("95% CI [") == 9  # 3 models x 3 metrics


def test_paired_tests_against_cox_mt(report: Path, results: pd.DataFrame) -> None:
    html = _html(report)
    assert "Paired comparison with Cox-MT" in html
    assert "p (corrected t)" in html and "p (Wilcoxon)" in html
    ref = results[results["model"] == "Cox-MT"].set_index(["repeat", "fold"])["c_index"]
    other = results[results["model"] == "CoxPH"].set_index(["repeat", "fold"])["c_index"]
    assert f"{(ref - other).mean():+.3f}" in html


def test_kaplan_meier_and_reading_notes(report: Path) -> None:
    html = _html(report)
    assert "Risk groups (Kaplan-Meier)" in html
    assert "3 test folds of repeat 0 pooled" in html
    assert "optimistic" in html and "0.5 is a coin flip" in html
    assert "Scaling and ablation curves" not in html


def test_markdown_references_existing_figures(report: Path, results_dir: Path) -> None:
    md = (results_dir / "report.md").read_text(encoding="utf-8")
    refs = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", md)
    assert len(refs) == 6
    assert all((results_dir / ref).is_file() for ref in refs)
    assert md.startswith("# Cross-validation report: tcga\\_brca")  # Markdown-escaped
    assert "| Model | Folds |" in md


def test_setting_column_gives_scaling_curves(setting_report: Path, setting_dir: Path) -> None:
    out = setting_report.parent
    assert out != setting_dir and not (setting_dir / "report.html").exists()
    html = _html(setting_report)
    assert "<h1>Scaling study</h1>" in html
    assert "Scaling and ablation curves" in html and (out / "figures" / "scaling.png").is_file()
    assert "<th>Cohort</th><th>Setting</th><th>Model</th>" in html
    assert "Kaplan-Meier plots are shown at setting 1000 (the largest) only." in html
    # one KM figure per model and cohort at the largest setting
    assert len(list(out.glob("figures/km_*.png"))) == 6
    assert "Harrell&#x27;s C-index only" in html  # 12 comparisons x 3 metrics: C only
    assert html.count("<img ") == len(list(out.glob("figures/*.png")))


def test_missing_results_csv_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError,
        match=r"not a cross-validation results folder "
        r"\(results.csv is missing\); create one with `coxmt cv",
    ):
        build_report(tmp_path)


def test_results_without_required_columns(tmp_path: Path) -> None:
    pd.DataFrame({"model": ["A"], "c_index": [0.6]}).to_csv(tmp_path / "results.csv", index=False)
    with pytest.raises(ValueError, match=r"lacks the columns \['repeat', 'fold'\]"):
        build_report(tmp_path)


def test_out_must_be_a_folder(results_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file; pass a folder"):
        build_report(results_dir, tmp_path / "file")


def test_without_predictions_and_config(tmp_path: Path) -> None:
    d = make_results_dir(tmp_path / "bare", predictions=False, config=False)
    html = _html(build_report(d, reference=None))
    assert "predictions.csv not found" in html and "config.json not found" in html
    assert "km_" not in html and "No paired tests: no reference model was given" in html
    assert "3-fold \u00d7 2 repeat(s)" in html
    assert "Cross-validation report: bare" in html


def test_text_is_escaped(tmp_path: Path) -> None:
    evil = '<img src=x onerror="alert(1)">'
    models = {evil: ("x.Evil", 1.0), "Cox-MT": ("coxmt.CoxMT", 0.8)}
    d = make_results_dir(tmp_path / "evil", models=models)
    report = build_report(d, title="<script>alert(2)</script> & co")
    html = _html(report)
    md = (report.parent / "report.md").read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", "", md, flags=re.S)  # config.json is shown in a code block
    assert "<img" not in prose and "<script" not in prose and "&lt;img src=x" in prose
    assert evil not in html and "<script" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<title>&lt;script&gt;alert(2)&lt;/script&gt; &amp; co</title>" in html


def test_nan_metrics_and_notes(tmp_path: Path) -> None:
    d = make_results_dir(tmp_path / "nan")
    res = pd.read_csv(d / "results.csv")
    res.loc[0, "uno_c"] = np.nan
    res["notes"] = res["notes"].astype(object)
    res.loc[0, "notes"] = "uno_c: no comparable pairs before tau"
    res.to_csv(d / "results.csv", index=False)
    html = _html(build_report(d))
    assert "5 folds" in html  # Uno's C of Cox-MT over the 5 finite folds
    assert "uno_c: no comparable pairs before tau" in html


def test_reference_not_among_models(bare_dir: Path) -> None:
    html = _html(build_report(bare_dir, reference="RSF"))
    assert "No paired tests: the reference model &#x27;RSF&#x27; is not among the models" in html


def test_rebuild_is_reproducible(report: Path, results_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / results_dir.name  # same folder name, so only the footer path differs
    shutil.copytree(results_dir, copy)
    again = build_report(copy)
    footer = re.compile(r"<footer>.*?</footer>", re.S)
    assert footer.sub("", _html(again)) == footer.sub("", _html(report))
    for png in (results_dir / "figures").glob("*.png"):
        assert (copy / "figures" / png.name).read_bytes() == png.read_bytes()


def test_settings_chosen_by_inner_cv_are_counted(tmp_path: Path) -> None:
    d = make_results_dir(tmp_path / "chosen")
    res = pd.read_csv(d / "results.csv")
    tuned = res["model"] == "Cox-MT"
    n = int(tuned.sum())
    res["chosen"] = ""
    res.loc[tuned, "chosen"] = ['{"learning_rate": 0.01}'] * (n - 1) + ['{"estimator": "Ridge"}']
    res.to_csv(d / "results.csv", index=False)
    report = build_report(d)
    md = (report.parent / "report.md").read_text(encoding="utf-8")
    assert "Setting chosen by the inner CV" in md
    assert re.search(rf"\| Cox-MT \| learning\\?_rate=0.01 \| +{n - 1} of {n} \|", md)
    assert re.search(rf"\| Cox-MT \| estimator=Ridge \| +1 of {n} \|", md)
    # no tuned model (all empty, read back as NaN): no table
    res["chosen"] = ""
    res.to_csv(d / "results.csv", index=False)
    assert "Setting chosen" not in _html(build_report(d))
