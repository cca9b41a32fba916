"""Cross-validation, sweeps and slide extraction on a real (local) Ray instance.

One Ray instance with two CPUs serves the whole module; every test skips when
Ray is not installed (``pip install coxmt[ray]``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from coxmt import CoxMT, CoxNnet
from coxmt.experiments import _tasks, cross_validate, load_results

REPO = Path(__file__).resolve().parents[1]
DETERMINISTIC = ["model", "repeat", "fold", "c_index", "uno_c", "ibs", "n_train", "n_test",
                 "n_events_train", "n_events_test", "n_unlabeled", "notes"]  # fmt: skip


@pytest.fixture(scope="module")
def ray_session() -> Any:
    """A local Ray instance (2 CPUs, no dashboard) whose workers can import ``tests``."""
    ray = pytest.importorskip("ray", reason="needs the ray extra: pip install 'coxmt[ray]'")
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "RAY_USAGE_STATS_ENABLED")}
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), str(REPO / "src"), saved["PYTHONPATH"]) if p
    )
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            object_store_memory=100 * 2**20,
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """90 labeled patients x 6 features with IDs, and 30 unlabeled ones."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 6))
    t_event = rng.exponential(np.exp(-(0.9 * X[:, 0] - 0.6 * X[:, 1])))
    t_cens = rng.exponential(1.5, size=120)
    cols = [f"g{j}" for j in range(6)]
    frame = pd.DataFrame(X, columns=cols, index=[f"P{i}" for i in range(120)])
    y = np.empty(90, dtype=[("event", bool), ("time", np.float64)])
    y["event"], y["time"] = (t_event <= t_cens)[:90], np.minimum(t_event, t_cens)[:90]
    return frame.iloc[:90], y, frame.iloc[90:]


def _models() -> dict[str, Any]:
    # one torch thread, as in the Ray workers, so results agree bit for bit
    return {
        "Cox-MT": CoxMT(max_epochs=15, n_threads=1),
        "Cox-nnet": CoxNnet(max_epochs=15, n_threads=1),
    }


def _cv(models: dict[str, Any], cohort: Any, **kwargs: Any) -> Any:
    X, y, Xu = cohort
    kwargs.setdefault("n_splits", 3)
    return cross_validate(
        models, X, y, X_unlabeled=Xu, n_repeats=1, preprocessing=StandardScaler(),
        verbose=False, **kwargs,
    )  # fmt: skip


def test_ray_backend_equals_local(ray_session: Any, cohort: Any, tmp_path: Path) -> None:
    _cv(_models(), cohort, results_dir=tmp_path / "local")
    _cv(_models(), cohort, results_dir=tmp_path / "ray", backend="ray")
    local_res, local_pred = load_results(tmp_path / "local")
    ray_res, ray_pred = load_results(tmp_path / "ray")
    pd.testing.assert_frame_equal(
        local_res[DETERMINISTIC], ray_res[DETERMINISTIC], check_exact=True
    )
    pd.testing.assert_frame_equal(local_pred, ray_pred, check_exact=True)
    assert len(list((tmp_path / "ray" / "parts").glob("*.json"))) == 6


class KillOnce(BaseEstimator):  # type: ignore[misc]
    """Wraps an estimator; the first fit of each fold kills its own worker process."""

    def __init__(self, estimator: Any = None, marker_dir: str = "") -> None:
        self.estimator = estimator
        self.marker_dir = marker_dir

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> KillOnce:
        marker = Path(self.marker_dir) / f"seed-{self.estimator.random_state}"
        if self.marker_dir and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-task
        self.estimator_ = clone(self.estimator).fit(X, y, X_unlabeled=X_unlabeled)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.estimator_.predict(X)

    def predict_survival_function(self, X: Any, times: Any = None) -> np.ndarray:
        return self.estimator_.predict_survival_function(X, times)


@pytest.mark.slow
def test_killed_workers_are_retried(ray_session: Any, cohort: Any, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    inner = CoxMT(max_epochs=15, n_threads=1)
    killer = {"Cox-MT": KillOnce(inner, str(markers))}
    out = tmp_path / "run"
    got = _cv(killer, cohort, backend="ray", results_dir=out, ray_options={"max_retries": 2})
    pids = {int(p.read_text()) for p in markers.iterdir()}
    assert len(list(markers.iterdir())) == 3 and all(not _alive(pid) for pid in pids)
    assert len(got) == 3 and got["c_index"].notna().all() and (got["notes"] == "").all()
    expected = _cv({"Cox-MT": KillOnce(inner, "")}, cohort)
    pd.testing.assert_frame_equal(expected[DETERMINISTIC], got[DETERMINISTIC], check_exact=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_interrupted_ray_run_resumes(
    ray_session: Any, cohort: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver stopped after two finished tasks keeps them; the rerun fits only the rest."""
    from coxmt.experiments._store import ResultsStore

    original = ResultsStore.save_part
    saved: list[tuple[str, int, int]] = []

    def save_then_stop(self: Any, part: dict[str, Any], digest: str) -> None:
        original(self, part, digest)
        saved.append((part["model"], part["repeat"], part["fold"]))
        if len(saved) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(ResultsStore, "save_part", save_then_stop)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _cv(_models(), cohort, backend="ray", results_dir=out)
    assert len(list((out / "parts").glob("*.json"))) == 2
    monkeypatch.setattr(ResultsStore, "save_part", original)
    submitted: list[Any] = []
    run_ray = _tasks.run_ray
    monkeypatch.setattr(
        "coxmt.experiments._runner.run_ray",
        lambda tasks, *a, **k: (submitted.extend(tasks), run_ray(tasks, *a, **k)),
    )
    resumed = _cv(_models(), cohort, backend="ray", results_dir=out)
    assert len(submitted) == 4 and not {t.key for t in submitted} & set(saved)
    local = _cv(_models(), cohort)
    pd.testing.assert_frame_equal(local[DETERMINISTIC], resumed[DETERMINISTIC], check_exact=True)


def test_task_errors_surface_as_the_original_exception(ray_session: Any, cohort: Any) -> None:
    with pytest.raises(ValueError, match=r"model 'bad', repeat 0, fold \d: .*learning_rate"):
        _cv({"bad": CoxNnet(learning_rate=-1.0)}, cohort, backend="ray")


def test_gpu_requests() -> None:
    task = _tasks.Task("m", 0, 0, CoxMT(device="cuda"), None, np.arange(2), np.arange(2), None)
    assert _tasks.ray_task_options(task) == {"num_gpus": 1}
    assert _tasks.ray_task_options(task, {"num_gpus": 0.25}) == {"num_gpus": 0.25}
    from coxmt.pipeline import make_survival_pipeline

    task.estimator = make_survival_pipeline(StandardScaler(), CoxMT())
    assert _tasks.ray_task_options(task, {"max_retries": 1}) == {"max_retries": 1}


@pytest.fixture(scope="module")
def cli_app() -> Any:
    import typer

    from coxmt.cli._experiments import register as register_cv
    from coxmt.cli._wsi import register as register_wsi

    root = typer.Typer()

    @root.callback()
    def _main() -> None:
        """Test root."""

    register_cv(root)
    register_wsi(root)
    return root


def test_cli_cv_and_sweep_on_ray(
    ray_session: Any, cohort: Any, tmp_path: Path, cli_app: Any
) -> None:
    X, y, _ = cohort
    table = X.assign(time=y["time"], event=y["event"].astype(int))
    table.index.name = "case_id"
    data = tmp_path / "cohort.csv"
    table.to_csv(data)
    runner = CliRunner()
    common = ["--data", str(data), "--id-col", "case_id", "--features", "^g", "--folds", "2",
              "--repeats", "1", "--epochs", "5", "--no-progress"]  # fmt: skip
    outs = {}
    for backend in ("local", "ray"):
        outs[backend] = tmp_path / backend
        r = runner.invoke(
            cli_app,
            ["cv", *common, "--models", "coxnnet", "--backend", backend, "--out",
             str(outs[backend])],
        )  # fmt: skip
        assert r.exit_code == 0, r.output
    a, b = load_results(outs["local"])[0], load_results(outs["ray"])[0]
    pd.testing.assert_frame_equal(a[DETERMINISTIC], b[DETERMINISTIC], check_exact=True)
    r = runner.invoke(cli_app, ["sweep", *common, "--grid", "dropout=0,0.1", "--backend", "ray"])
    assert r.exit_code == 0, r.output
    assert "dropout=0.1" in r.output
    r = runner.invoke(cli_app, ["cv", *common, "--address", "auto"])
    assert r.exit_code == 2 and "--backend ray" in r.output


def test_wsi_extract_on_ray_equals_local(ray_session: Any, tmp_path: Path, cli_app: Any) -> None:
    pytest.importorskip("h5py")
    pytest.importorskip("tifffile")
    from tests.wsi._synth import write_slide

    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from coxmt.wsi import VisionTransformer, ViTConfig, read_features

    slides = tmp_path / "slides"
    slides.mkdir()
    write_slide(slides / "a.tif", size=1024, levels=2)
    write_slide(slides / "b.tif", size=1024, levels=2, seed=1)
    config = ViTConfig(embed_dim=32, depth=1, num_heads=2, img_size=56, name="tiny")
    cfg = config.to_json(tmp_path / "tiny.json")
    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    state = VisionTransformer(config).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    runner = CliRunner()
    common = ["wsi", "extract", str(slides), "--encoder", str(cfg), "--checkpoint", str(weights),
              "--input-size", "56", "--device", "cpu", "--no-progress"]  # fmt: skip
    # "--backend builtin" is the former spelling of --encoder-backend builtin
    r = runner.invoke(cli_app, [*common, "-o", str(tmp_path / "local"), "--backend", "builtin"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli_app, [*common, "-o", str(tmp_path / "ray"), "--backend", "ray"])
    assert r.exit_code == 0, r.output
    assert "2 slide(s) processed, 0 skipped" in r.output and "(cpu)" in r.output
    for sid in ("a", "b"):
        f_local, xy_local = read_features(tmp_path / "local" / f"{sid}.h5")
        f_ray, xy_ray = read_features(tmp_path / "ray" / f"{sid}.h5")
        assert len(f_local) > 0
        np.testing.assert_array_equal(xy_local, xy_ray)
        np.testing.assert_allclose(f_local, f_ray, rtol=1e-5, atol=1e-6)
    r = runner.invoke(cli_app, [*common, "-o", str(tmp_path / "ray"), "--backend", "ray"])
    assert "0 slide(s) processed, 2 skipped" in r.output
