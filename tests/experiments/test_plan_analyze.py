"""The plan's analysis script (benchmarks/experiments/plan/analyze.py) on small fake runs:
arms joined on identical splits, finished models only, and refusals."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def analyze(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    spec = importlib.util.spec_from_file_location(
        "plan_analyze", REPO / "benchmarks" / "experiments" / "plan" / "analyze.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    monkeypatch.setattr(module, "JOIN", {"new": [("base", "main")]})
    monkeypatch.setattr(module, "PAIRS", {})
    return module


def _write_run(
    root: Path, arm: str, run: str, fingerprint: str, models: dict[str, list[float]]
) -> None:
    """One unfinished run folder: config.json and one part per (model, fold)."""
    folder = root / arm / "runs" / run
    (folder / "parts").mkdir(parents=True)
    config = {"splits_sha256": fingerprint, "n_splits": 2, "n_repeats": 2}
    (folder / "config.json").write_text(json.dumps(config))
    for model, scores in models.items():
        for k, c in enumerate(scores):
            part = {"model": model, "repeat": k // 2, "fold": k % 2, "c_index": c,
                    "uno_c": c, "ibs": 0.2, "n_train": 80, "n_test": 20}  # fmt: skip
            (folder / "parts" / f"{model}__{k}.json").write_text(json.dumps(part))


def test_join_adds_finished_models_of_the_other_arm(analyze: Any, tmp_path: Path) -> None:
    new = [0.62, 0.58, 0.66, 0.61]
    _write_run(tmp_path, "new", "main__luad__r2", "abc", {"new model": new})
    base = {"ridge": [0.60, 0.59, 0.61, 0.57], "half done": [0.6, 0.7]}
    _write_run(tmp_path, "base", "main__luad__r2", "abc", base)
    lines, out = analyze.analyse_part("new", tmp_path / "new" / "main")
    models = {r["model"] for r in out["cohorts"]["luad"]["models"]}
    assert models == {"new model", "ridge"}  # the unfinished model is left out
    assert any("finished models of base" in line for line in lines)
    (pair,) = [p for p in out["pairs"] if p["metric"] == "c_index"]
    assert pair["diff"] == pytest.approx(np.mean(np.subtract(new, base["ridge"])))


def test_join_refuses_different_splits(analyze: Any, tmp_path: Path) -> None:
    _write_run(tmp_path, "new", "main__luad__r2", "abc", {"new model": [0.6] * 4})
    _write_run(tmp_path, "base", "main__luad__r2", "xyz", {"ridge": [0.6] * 4})
    with pytest.raises(SystemExit, match="different outer splits on luad"):
        analyze.analyse_part("new", tmp_path / "new" / "main")


def test_a_model_in_two_arms_must_reproduce(analyze: Any, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(analyze, "JOIN", {"new": [("base", "main"), ("early", "main")]})
    _write_run(tmp_path, "new", "main__ucec__r2", "abc", {"new model": [0.5, 0.6, 0.7, 0.8]})
    _write_run(tmp_path, "base", "main__ucec__r2", "abc", {"old": [0.55, 0.65, 0.75, 0.85]})
    _write_run(tmp_path, "early", "main__ucec__r2", "abc", {"old": [0.55, 0.65, 0.75, 0.85]})
    lines, _ = analyze.analyse_part("new", tmp_path / "new" / "main")
    assert any("old on ucec reproduced by early" in line for line in lines)
    _write_run(tmp_path, "early", "main__brca__r2", "abc", {"old": [0.5] * 4})
    changed = {"model": "old", "repeat": 0, "fold": 0, "c_index": 0.9, "uno_c": 0.9, "ibs": 0.2}
    changed.update(n_train=80, n_test=20)
    part = tmp_path / "early" / "runs" / "main__ucec__r2" / "parts" / "old__0.json"
    part.write_text(json.dumps(changed))
    with pytest.raises(SystemExit, match="old on ucec: early does not reproduce"):
        analyze.analyse_part("new", tmp_path / "new" / "main")


def test_label_fraction_runs_are_analysed_per_fraction(analyze: Any, tmp_path: Path) -> None:
    for fraction in ("0.1", "0.25"):
        _write_run(tmp_path, "b", f"labels__brca__f{fraction}", "abc",
                   {"m1": [0.6, 0.7, 0.6, 0.7], "m2": [0.5, 0.6, 0.5, 0.6]})  # fmt: skip
    _, out = analyze.analyse_part("b", tmp_path / "b" / "labels")
    assert set(out["cohorts"]) == {"brca / 0.1", "brca / 0.25"}
    assert all(p["pairs"] == 4 for p in out["pairs"])
