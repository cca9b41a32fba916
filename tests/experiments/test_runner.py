"""cross_validate: identical splits, no leakage, results folder, resume, determinism."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from coxmt import CoxMT, CoxNnet
from coxmt.experiments import _tasks, cross_validate, derive_seed, load_results, make_splits

from .conftest import RecordingModel, RecordingScaler, SupervisedModel

DETERMINISTIC = ["model", "repeat", "fold", "c_index", "uno_c", "ibs", "n_train", "n_test",
                 "n_events_train", "n_events_test", "n_unlabeled", "notes"]  # fmt: skip


def _cv(models, X, y, **kwargs):
    kwargs.setdefault("n_splits", 3)
    kwargs.setdefault("n_repeats", 1)
    kwargs.setdefault("verbose", False)
    return cross_validate(models, X, y, **kwargs)


def test_results_table_and_identical_splits(cohort, models):
    X, y = cohort
    res, pred = _cv(
        models, X, y, n_repeats=2, preprocessing=StandardScaler(), return_predictions=True
    )
    assert list(res.columns[:11]) == [
        "model", "repeat", "fold", "c_index", "uno_c", "ibs", "fit_seconds",
        "n_train", "n_test", "n_events_train", "n_events_test",
    ]  # fmt: skip
    assert len(res) == 2 * 2 * 3
    assert res["model"].tolist() == ["Cox-MT"] * 6 + ["Cox-nnet"] * 6
    assert res[["c_index", "uno_c", "ibs"]].notna().all().all()
    assert res["c_index"].between(0, 1).all() and (res["fit_seconds"] > 0).all()
    assert (res["notes"] == "").all()
    # every model is tested on exactly the same patients in each (repeat, fold)
    expected = make_splits(y["event"], n_splits=3, n_repeats=2, random_state=0)
    for s in expected:
        for model in models:
            sel = (pred["model"] == model) & (pred["repeat"] == s.repeat) & (pred["fold"] == s.fold)
            rows = pred.loc[sel, "row"]
            assert np.array_equal(np.sort(rows.to_numpy()), s.test)
    assert set(pred["id"]) == set(X.index)
    n_events = res.groupby(["repeat", "fold"])["n_events_train"].nunique()
    assert (n_events == 1).all()


def test_preprocessing_fitted_on_training_rows_only(cohort, recorders):
    X, y = cohort
    _cv({"m": SupervisedModel()}, X, y, preprocessing=RecordingScaler(), n_repeats=1)
    splits = make_splits(y["event"], n_splits=3, n_repeats=1, random_state=0)
    assert len(RecordingScaler.fitted_on) == 3
    for s, fitted in zip(splits, RecordingScaler.fitted_on, strict=True):
        assert sorted(fitted) == sorted(X.index[s.train])
        assert not set(fitted) & set(X.index[s.test])


def test_unlabeled_excludes_test_patients_and_skips_supervised(cohort, recorders):
    X, y = cohort
    X_unl = pd.concat([X.iloc[:30], X.iloc[:5].set_axis([f"U{i}" for i in range(5)])])
    models = {"semi": RecordingModel(), "sup": SupervisedModel()}
    res = _cv(models, X, y, X_unlabeled=X_unl, n_repeats=1)
    splits = make_splits(y["event"], n_splits=3, n_repeats=1, random_state=0)
    semi = [c for c in RecordingModel.calls if c["unlabeled"] is not None]
    assert len(semi) == 3 and len(RecordingModel.calls) == 6  # supervised fits get none
    for s, call in zip(splits, semi, strict=True):
        test_ids = set(X.index[s.test])
        assert not set(call["unlabeled"]) & test_ids
        assert set(call["unlabeled"]) == set(X_unl.index) - test_ids
    assert (res.loc[res["model"] == "sup", "n_unlabeled"] == 0).all()
    assert (res.loc[res["model"] == "semi", "n_unlabeled"] > 5).all()


def test_random_state_set_per_repeat_and_fold(cohort, recorders):
    X, y = cohort
    models = {"a": RecordingModel(random_state=99), "b": SupervisedModel()}
    _cv(models, X, y, random_state=3, n_repeats=2)
    seeds = [c["random_state"] for c in RecordingModel.calls]
    expected = [derive_seed(3, r, k) for r in range(2) for k in range(3) for _ in range(2)]
    assert seeds == expected


def test_metric_failures_become_nan_with_notes(cohort, recorders):
    X, y = cohort
    res = _cv({"m": SupervisedModel()}, X, y, n_repeats=1)
    assert res["ibs"].isna().all()  # no predict_survival_function
    assert res["notes"].str.contains("no predict_survival_function").all()
    assert res["c_index"].notna().all()


def test_error_score(cohort):
    X, y = cohort
    bad = CoxNnet(max_epochs=5, learning_rate=-1.0)
    with pytest.raises(ValueError, match=r"model 'bad', repeat 0, fold 0: learning_rate"):
        _cv({"bad": bad}, X, y)
    res = _cv({"bad": bad}, X, y, error_score=np.nan)
    assert res["c_index"].isna().all()
    assert res["notes"].str.startswith("fit failed: ValueError").all()


def test_results_dir_schema(tmp_path, cohort, models):
    X, y = cohort
    res = _cv(models, X, y, n_repeats=1, results_dir=tmp_path, metadata={"path": "cohort.csv"})
    names = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "splits.csv", "results.csv", "predictions.csv", "parts"} <= names
    assert not [p for p in tmp_path.rglob("*.tmp")]
    assert len(list((tmp_path / "parts").iterdir())) == 6
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["n_splits"] == 3 and config["n_repeats"] == 1 and config["random_state"] == 0
    assert config["models"]["Cox-MT"]["params"]["max_epochs"] == 20
    assert config["data"]["path"] == "cohort.csv" and config["data"]["n_samples"] == 120
    assert {"coxmt_version", "created", "machine", "config_hash"} <= set(config)
    results, predictions = load_results(tmp_path)
    pd.testing.assert_frame_equal(results, res)
    assert list(predictions.columns) == [
        "model",
        "repeat",
        "fold",
        "row",
        "id",
        "time",
        "event",
        "risk",
    ]
    assert len(predictions) == 2 * len(X)
    splits = pd.read_csv(tmp_path / "splits.csv")
    assert list(splits.columns) == ["repeat", "fold", "row", "id", "set"]


def test_resume_after_interruption(tmp_path, cohort, models, monkeypatch):
    X, y = cohort
    full = _cv(models, X, y, n_repeats=1, results_dir=tmp_path / "full")

    real = _tasks.run_task
    calls = {"n": 0}

    def interrupted(task, data):
        if calls["n"] == 3:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(task, data)

    monkeypatch.setattr(_tasks, "run_task", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _cv(models, X, y, n_repeats=1, results_dir=tmp_path / "run")
    assert len(list((tmp_path / "run" / "parts").glob("*.json"))) == 3
    assert not (tmp_path / "run" / "results.csv").exists()

    counted = {"n": 0}

    def counting(task, data):
        counted["n"] += 1
        return real(task, data)

    monkeypatch.setattr(_tasks, "run_task", counting)
    resumed = _cv(models, X, y, n_repeats=1, results_dir=tmp_path / "run")
    assert counted["n"] == 6 - 3  # finished parts are loaded, not recomputed
    pd.testing.assert_frame_equal(resumed[DETERMINISTIC], full[DETERMINISTIC])
    # deleting parts of a finished run recomputes exactly those
    for part in sorted((tmp_path / "run" / "parts").glob("*.json"))[:2]:
        part.unlink()
    counted["n"] = 0
    again = _cv(models, X, y, n_repeats=1, results_dir=tmp_path / "run")
    assert counted["n"] == 2
    pd.testing.assert_frame_equal(again[DETERMINISTIC], full[DETERMINISTIC])
    a = pd.read_csv(tmp_path / "run" / "predictions.csv", float_precision="round_trip")
    b = pd.read_csv(tmp_path / "full" / "predictions.csv", float_precision="round_trip")
    pd.testing.assert_frame_equal(a, b)


def test_changed_configuration_is_refused(tmp_path, cohort, models):
    X, y = cohort
    _cv({"Cox-nnet": models["Cox-nnet"]}, X, y, results_dir=tmp_path)
    changed = {"Cox-nnet": CoxNnet(max_epochs=21)}
    with pytest.raises(
        ValueError, match=r"different configuration \(differs in: models\).*--overwrite"
    ):
        _cv(changed, X, y, results_dir=tmp_path)
    res = _cv(changed, X, y, results_dir=tmp_path, overwrite=True)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["models"]["Cox-nnet"]["params"]["max_epochs"] == 21
    assert len(res) == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"backend": "spark"}, ValueError, "backend must be", id="backend"),
        pytest.param({"n_jobs": 0}, ValueError, "n_jobs must be", id="n_jobs"),
        pytest.param({"random_state": None}, ValueError, "non-negative integer", id="seed"),
        pytest.param({"ids": ["a"] * 120}, ValueError, "IDs must be unique", id="dup-ids"),
        pytest.param(
            {"X_unlabeled": np.zeros((3, 4))}, ValueError, "X_unlabeled has 4 features", id="unl"
        ),
    ],
)
def test_bad_arguments(cohort, models, kwargs, error, match):
    X, y = cohort
    with pytest.raises(error, match=match):
        _cv(models, X, y, **kwargs)


def test_bad_estimators(cohort):
    X, y = cohort
    with pytest.raises(TypeError, match="non-empty dict"):
        _cv([CoxNnet()], X, y)
    with pytest.raises(TypeError, match="has no fit / predict"):
        _cv({"x": object()}, X, y)


def test_ray_backend_needs_ray(cohort, models, monkeypatch):
    X, y = cohort
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ValueError, match=r"pip install coxmt\[ray\]"):
        _cv(models, X, y, backend="ray")


def test_numpy_inputs_and_given_splits(cohort, models):
    X, y = cohort
    Xa = X.to_numpy()
    pairs = [(np.arange(0, 80), np.arange(80, 120)), (np.arange(40, 120), np.arange(0, 40))]
    res = _cv({"Cox-MT": models["Cox-MT"]}, Xa, (y["event"], y["time"]), splits=pairs,
              X_unlabeled=Xa[:10] + 0.1)  # fmt: skip
    assert res[["repeat", "fold", "n_test", "n_unlabeled"]].values.tolist() == [
        [0, 0, 40, 10], [0, 1, 40, 10],
    ]  # fmt: skip


@pytest.mark.slow
def test_process_pool_equals_in_process(cohort):
    X, y = cohort
    models = {"Cox-MT": CoxMT(max_epochs=10), "Cox-nnet": CoxNnet(max_epochs=10)}
    one = _cv(models, X, y, n_repeats=1, preprocessing=StandardScaler())
    two = _cv(models, X, y, n_repeats=1, preprocessing=StandardScaler(), n_jobs=2)
    pd.testing.assert_frame_equal(one[DETERMINISTIC], two[DETERMINISTIC], check_exact=True)


def test_verbose_and_n_jobs_params_do_not_change_the_configuration():
    from coxmt.experiments._store import config_hash, describe, strip_no_effect

    a = strip_no_effect(describe(CoxNnet(max_epochs=5)))
    b = strip_no_effect(describe(CoxNnet(max_epochs=5, verbose=True)))
    c = strip_no_effect(describe(CoxNnet(max_epochs=6)))
    assert config_hash({"m": a}) == config_hash({"m": b}) != config_hash({"m": c})
    assert "verbose" in describe(CoxNnet())["params"]  # still recorded in config.json


def test_a_parameter_added_later_keeps_earlier_runs_resumable():
    """CoxMTCV's fallback at None (the behaviour before it existed) stays out of the key."""
    from coxmt.estimators.linear import PenalizedCox
    from coxmt.experiments._store import config_hash, describe, strip_no_effect
    from coxmt.model_selection import CoxMTCV

    before = describe(CoxMTCV(n_members=5))
    del before["params"]["fallback"]  # how a run started before the parameter described it
    now = strip_no_effect(describe(CoxMTCV(n_members=5)))
    with_fb = strip_no_effect(describe(CoxMTCV(n_members=5, fallback=PenalizedCox())))
    assert config_hash({"m": strip_no_effect(before)}) == config_hash({"m": now})
    assert config_hash({"m": now}) != config_hash({"m": with_fb})
    assert "fallback" in describe(CoxMTCV())["params"]  # still recorded in config.json


class _FakeRay:
    """The few Ray calls the ray backend makes, run synchronously in this process."""

    def __init__(self) -> None:
        self.started = False
        self.options: dict = {}

    def is_initialized(self) -> bool:
        return self.started

    def init(self, **kwargs) -> None:
        self.started = True

    def put(self, obj):
        return ("ref", obj)

    def get(self, ref):
        return ref[1]

    def remote(self, **options):
        self.options = options

        def wrap(fn):
            class _Remote:
                @staticmethod
                def remote(*args):
                    return ("ref", fn(*(a[1] if isinstance(a, tuple) else a for a in args)))

            return _Remote

        return wrap

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def cancel(self, ref) -> None:
        pass


def test_ray_backend_runs_one_task_per_fit(cohort, models, monkeypatch):
    X, y = cohort
    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(_tasks, "_limit_threads", lambda: None)
    models = {"Cox-nnet": models["Cox-nnet"]}
    local = _cv(models, X, y, n_splits=2)
    remote = _cv(models, X, y, n_splits=2, backend="ray")
    assert fake.started and fake.options == {"num_cpus": 1}
    pd.testing.assert_frame_equal(local[DETERMINISTIC], remote[DETERMINISTIC])


def test_chosen_settings_are_recorded_per_outer_fold(tmp_path, cohort):
    """Nested CV: the results say which setting each outer training fold's inner CV chose."""
    from coxmt.estimators.linear import PenalizedCox
    from coxmt.model_selection import CoxMTCV, InnerCVSearch
    from coxmt.pipeline import make_survival_pipeline

    X, y = cohort
    grid = {"learning_rate": [1e-3, 3e-2]}
    models = {
        "search": make_survival_pipeline(
            StandardScaler(), InnerCVSearch(CoxNnet(max_epochs=10), grid, cv=2)
        ),
        "plain": CoxNnet(max_epochs=10),
        # ridge Cox ranks this linear signal better than a 3-epoch network
        "cv+ridge": CoxMTCV(
            CoxMT(max_epochs=3), {"learning_rate": [1e-4]}, cv=2, fallback=PenalizedCox()
        ),
    }
    res = _cv(models, X, y, results_dir=tmp_path)
    searched = res[res["model"] == "search"]["chosen"].map(json.loads)
    assert len(searched) == 3 and all(set(c) == {"learning_rate"} for c in searched)
    assert all(c["learning_rate"] in grid["learning_rate"] for c in searched)
    assert (res[res["model"] == "plain"]["chosen"] == "").all()
    ridge = res[res["model"] == "cv+ridge"]["chosen"].map(json.loads).tolist()
    assert ridge == [{"estimator": "PenalizedCox"}] * 3
    results, _ = load_results(tmp_path)
    pd.testing.assert_series_equal(results["chosen"], res["chosen"])


def test_parts_written_before_the_chosen_column_still_resume(tmp_path, cohort, models):
    X, y = cohort
    full = _cv(models, X, y, results_dir=tmp_path)
    for part in (tmp_path / "parts").glob("*.json"):  # as an earlier version wrote them
        d = json.loads(part.read_text())
        del d["chosen"]
        part.write_text(json.dumps(d))
    (tmp_path / "results.csv").unlink()
    again = _cv(models, X, y, results_dir=tmp_path)
    pd.testing.assert_frame_equal(again[DETERMINISTIC], full[DETERMINISTIC])
    assert (again["chosen"] == "").all()
