"""The small helpers at the bottom of the layers: devices, optional imports, seeds, Ray, files."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from coxmt._atomic import atomic_write_bytes, atomic_write_text
from coxmt._device import resolve_device
from coxmt._optional import require, try_import
from coxmt._random import draw_seed
from coxmt._ray import gather_ray, init_ray

CUDA = torch.cuda.is_available()


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        pytest.param("cpu", "cpu", id="cpu"),
        pytest.param(torch.device("cpu"), "cpu", id="torch-device"),
        pytest.param("auto", "cuda" if CUDA else "cpu", id="auto"),
        pytest.param(None, "cuda" if CUDA else "cpu", id="none-is-auto"),
    ],
)
def test_resolve_device(device, expected: str) -> None:
    assert resolve_device(device).type == expected


@pytest.mark.skipif(CUDA, reason="checks the error raised without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1", torch.device("cuda")])
def test_explicit_cuda_without_cuda_is_an_error(device) -> None:
    with pytest.raises(ValueError, match="no CUDA device is available; use device='cpu'"):
        resolve_device(device)


def test_estimators_and_slide_encoders_share_resolve_device() -> None:
    from coxmt.estimators import _base
    from coxmt.wsi import encoders

    assert _base.resolve_device is encoders.resolve_device is resolve_device


def test_require_names_the_purpose_and_the_extra() -> None:
    assert require("json", purpose="x") is sys.modules["json"]
    with pytest.raises(
        ImportError,
        match=r"^RSF needs the package 'scikit-survival'.*pip install coxmt\[baselines\]$",
    ):
        require(
            "no_such_sksurv.ensemble", purpose="RSF", extra="baselines", package="scikit-survival"
        )
    with pytest.raises(ImportError, match=r"install it with: pip install no_such_mod$"):
        require("no_such_mod.sub", purpose="reading")


def test_try_import_treats_any_failure_as_missing(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "coxmt_broken_dep.py").write_text(
        "raise RuntimeError('operator torchvision::nms does not exist')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert try_import("coxmt_broken_dep") is None  # not ImportError, still "not available"
    assert try_import("coxmt_no_such_dep") is None
    assert try_import("json") is sys.modules["json"]


def test_draw_seed() -> None:
    assert draw_seed(5) == 5
    rs = np.random.RandomState(0)
    first, second = draw_seed(rs), draw_seed(rs)
    assert first != second  # a RandomState advances
    assert first == draw_seed(np.random.RandomState(0))
    assert 0 <= draw_seed(None) < 2**31 - 1


def test_atomic_writes(tmp_path) -> None:
    p = atomic_write_bytes(tmp_path / "a" / "b.bin", b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    atomic_write_text(p, "é")
    assert p.read_bytes() == "é".encode()
    assert sorted(f.name for f in p.parent.iterdir()) == ["b.bin"]  # no temporary file left


class _FakeRay:
    """ray.wait/get/cancel over precomputed results, finishing in the order given."""

    def __init__(self, values: dict[str, object], order: list[str]) -> None:
        self.values, self.order = values, list(order)
        self.cancelled: list[str] = []
        self.started = False

    def is_initialized(self) -> bool:
        return self.started

    def init(self, **kwargs) -> None:
        self.started = True
        self.kwargs = kwargs

    def wait(self, refs: list[str], num_returns: int = 1):
        ref = next(r for r in self.order if r in refs)
        self.order.remove(ref)
        return [ref], [r for r in refs if r != ref]

    def get(self, ref: str):
        value = self.values[ref]
        if isinstance(value, Exception):
            err = RuntimeError("RayTaskError")
            err.cause = value  # type: ignore[attr-defined]
            raise err
        return value

    def cancel(self, ref: str) -> None:
        self.cancelled.append(ref)


def test_gather_ray_hands_results_over_as_they_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeRay({"a": 1, "b": 2, "c": 3}, order=["b", "c", "a"])
    monkeypatch.setitem(sys.modules, "ray", fake)
    seen: list[tuple[str, object]] = []
    gather_ray(["a", "b", "c"], lambda ref, value: seen.append((ref, value)))
    assert seen == [("b", 2), ("c", 3), ("a", 1)]
    init_ray("ray://head:10001")
    assert fake.started and fake.kwargs["address"] == "ray://head:10001"


def test_gather_ray_reraises_the_task_error_and_cancels_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _FakeRay({"a": 1, "b": ValueError("bad fold"), "c": 3}, order=["a", "b", "c"])
    monkeypatch.setitem(sys.modules, "ray", fake)
    seen: list[object] = []
    with pytest.raises(ValueError, match="bad fold"):
        gather_ray(["a", "b", "c"], lambda ref, value: seen.append(value))
    assert seen == [1] and fake.cancelled == ["c"]


def test_ray_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install coxmt\[ray\]"):
        init_ray()
