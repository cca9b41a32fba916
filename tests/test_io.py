"""Model files: safetensors + JSON, checksums, versioning, atomic replacement."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coxmt import CoxMT, CoxNnet
from coxmt.io import (
    FORMAT_VERSION,
    RegisteredModel,
    atomic_write_text,
    load_model,
    registered_model_classes,
    save_model,
)

from .conftest import make_survival_data


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CoxNnet, np.ndarray]:
    X, event, time, _ = make_survival_data(n=60, p=4, seed=2)
    model = CoxNnet(max_epochs=3, random_state=0).fit(X, (event, time))
    path = save_model(model, tmp_path_factory.mktemp("m") / "model")
    return path, model, X


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_no_pickle_in_model_files(saved) -> None:
    path, _, _ = saved
    for f in path.iterdir():
        assert b"\x80\x04\x95" not in f.read_bytes()[:64]  # no pickle protocol header
    config = json.loads((path / "config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION
    assert config["class"] == "CoxNnet"
    assert len(config["checksums"]["weights.safetensors"]) == 64


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(
            lambda p: (p / "weights.safetensors").unlink(),
            "incomplete: weights.safetensors is missing",
            id="no-weights",
        ),
        pytest.param(
            lambda p: (p / "config.json").unlink(),
            "incomplete: config.json is missing",
            id="no-config",
        ),
        pytest.param(
            lambda p: (p / "weights.safetensors").write_bytes(
                (p / "weights.safetensors").read_bytes()[:-100]
            ),
            "does not match the checksum",
            id="truncated",
        ),
        pytest.param(
            lambda p: (p / "weights.safetensors").write_bytes(
                (p / "weights.safetensors").read_bytes()[:-8] + b"\x00" * 8
            ),
            "modified or truncated",
            id="tampered",
        ),
        pytest.param(
            lambda p: (p / "config.json").write_text("{not json"), "corrupted", id="bad-json"
        ),
        pytest.param(
            lambda p: (p / "config.json").write_text(
                json.dumps(
                    {
                        **json.loads((p / "config.json").read_text()),
                        "format_version": FORMAT_VERSION + 1,
                    }
                )
            ),
            "newer|Upgrade coxmt",
            id="newer-format",
        ),
        pytest.param(
            lambda p: (p / "config.json").write_text(
                json.dumps({**json.loads((p / "config.json").read_text()), "class": "os.system"})
            ),
            "unknown model class 'os.system'",
            id="unknown-class",
        ),
    ],
)
def test_damaged_model_directories_are_refused(saved, tmp_path: Path, damage, message: str) -> None:
    path, _, _ = saved
    broken = _copy(path, tmp_path / "broken")
    damage(broken)
    with pytest.raises(ValueError, match=message):
        load_model(broken)


def test_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no model at"):
        load_model(tmp_path / "nothing")
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        load_model(f)


def test_other_class_refused(saved) -> None:
    path, _, _ = saved
    with pytest.raises(ValueError, match="holds a CoxNnet, not a CoxMT"):
        CoxMT.load(path)


def test_save_replaces_existing_model_atomically(saved, tmp_path: Path) -> None:
    path, _, X = saved
    target = _copy(path, tmp_path / "target")
    X2, e2, t2, _ = make_survival_data(n=60, p=4, seed=9)
    other = CoxNnet(max_epochs=3, random_state=1).fit(X2, (e2, t2))
    save_model(other, target)
    np.testing.assert_array_equal(load_model(target).predict(X), other.predict(X))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]  # no temp folders left


def test_save_refuses_to_clobber_a_non_model_folder(saved, tmp_path: Path) -> None:
    _, model, _ = saved
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "precious.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a coxmt model directory"):
        save_model(model, folder)
    assert (folder / "precious.csv").read_text() == "a,b\n1,2\n"


def test_unfitted_or_foreign_objects_are_refused(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    with pytest.raises(ValueError, match="cannot save a LinearRegression"):
        save_model(LinearRegression(), tmp_path / "m")


def test_atomic_write_text(tmp_path: Path) -> None:
    p = atomic_write_text(tmp_path / "sub" / "a.txt", "hello")
    assert p.read_text() == "hello"
    atomic_write_text(p, "again")
    assert p.read_text() == "again"
    assert [f.name for f in p.parent.iterdir()] == ["a.txt"]


# -- the model class registry ---------------------------------------------------------------
def test_saved_model_names_its_class_and_module(saved) -> None:
    path, _, _ = saved
    config = json.loads((path / "config.json").read_text())
    assert (config["class"], config["module"]) == ("CoxNnet", "coxmt.estimators.cox_nnet")


def test_estimators_register_themselves() -> None:
    known = registered_model_classes()
    for cls in (CoxMT, CoxNnet):
        assert known[cls.__name__] is cls
    assert "SavedModelMixin" not in known  # mixins without _from_state are left out


class _Constant(RegisteredModel):
    """A minimal model class outside coxmt.estimators that registers itself."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict]:
        return {"value": np.array([self.value])}, {}

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict) -> _Constant:
        return cls(float(arrays["value"][0]))


class ConstantModel(_Constant):
    pass


def test_a_registered_class_outside_coxmt_round_trips(tmp_path: Path) -> None:
    assert "_Constant" not in registered_model_classes()  # private bases are left out
    assert registered_model_classes()["ConstantModel"] is ConstantModel
    back = load_model(save_model(ConstantModel(2.5), tmp_path / "m"))
    assert type(back) is ConstantModel and back.value == 2.5


def test_unregistered_class_names_the_import_that_registers_it(tmp_path: Path) -> None:
    path = save_model(ConstantModel(1.0), tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    config["class"] = "GoneModel"
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ValueError, match=r"unknown model class 'GoneModel'.*tests\.test_io is imported"
    ):
        load_model(path)
    config["module"] = "my_lab.models"
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ValueError, match=r"known: \[.*'CoxNnet'.*`import my_lab\.models` registers it"
    ):
        load_model(path)


def test_two_classes_with_one_name_are_refused() -> None:
    with pytest.raises(
        ValueError, match="a model class named 'ConstantModel' is already registered"
    ):
        type("ConstantModel", (_Constant,), {"__module__": "elsewhere"})


def test_builtin_models_load_in_a_fresh_process(saved) -> None:
    """Only coxmt.io is imported: the class is found through the coxmt package's public names."""
    path, _, X = saved
    code = (
        "import sys, numpy as np\n"
        "from coxmt.io import load_model\n"
        "assert 'coxmt.estimators' not in sys.modules\n"
        f"m = load_model({str(path)!r})\n"
        "print(type(m).__name__, m.n_features_in_)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["CoxNnet", str(X.shape[1])]


@pytest.mark.skipif(
    importlib.util.find_spec("sksurv") is None, reason="scikit-survival is not installed"
)
def test_coxmt_models_outside_the_facade_load_in_a_fresh_process(tmp_path: Path) -> None:
    """A class of a coxmt module that the package does not export loads through its module."""
    from coxmt.estimators import RandomSurvivalForest

    X, event, time, _ = make_survival_data(n=60, p=4, seed=2)
    model = RandomSurvivalForest(n_estimators=3, random_state=0).fit(X, (event, time))
    path = save_model(model, tmp_path / "rsf")
    code = (
        "import sys\n"
        "from coxmt.io import load_model\n"
        "assert 'coxmt.estimators' not in sys.modules\n"
        f"print(type(load_model({str(path)!r})).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["RandomSurvivalForest"]


def test_atomic_write_text_is_coxmt_atomic(tmp_path: Path) -> None:
    from coxmt import _atomic

    assert atomic_write_text is _atomic.atomic_write_text  # one home, re-exported by coxmt.io


@pytest.mark.parametrize(
    ("params", "backend"),
    [
        pytest.param({}, "stacked", id="full-batch"),
        pytest.param({"batch_size": 16}, "loop", id="mini-batches"),
    ],
)
def test_backend_is_saved_and_loaded(tmp_path: Path, params: dict, backend: str) -> None:
    X, event, time, _ = make_survival_data(n=60, p=4, seed=2)
    model = CoxMT(max_epochs=2, random_state=0, **params).fit(X, (event, time))
    assert model.backend_ == backend
    path = save_model(model, tmp_path / "m")
    assert json.loads((path / "config.json").read_text())["backend"] == backend
    assert load_model(path).backend_ == backend


def test_files_saved_without_backend_get_the_backend_auto_picks(saved, tmp_path: Path) -> None:
    path = _copy(saved[0], tmp_path / "old")
    config = json.loads((path / "config.json").read_text())
    del config["backend"]
    (path / "config.json").write_text(json.dumps(config))
    assert load_model(path).backend_ == "stacked"  # batch_size=None: full batch


def test_a_file_naming_a_coxmt_module_outside_the_model_packages_imports_nothing(
    tmp_path: Path,
) -> None:
    """Only modules of coxmt.estimators / coxmt.model_selection are imported because a file says so."""
    path = save_model(ConstantModel(1.0), tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    config.update({"class": "Report", "module": "coxmt.reporting._render"})
    (path / "config.json").write_text(json.dumps(config))
    code = (
        "import sys\n"
        "from coxmt.io import load_model\n"
        "try:\n"
        f"    load_model({str(path)!r})\n"
        "except ValueError as exc:\n"
        "    print('refused' if 'unknown model class' in str(exc) else exc)\n"
        "print('coxmt.reporting._render' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["refused", "False"]
