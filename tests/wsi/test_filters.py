"""Tumour-region patch filters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from coxmt.wsi import (
    CallableFilter,
    LogisticProbeFilter,
    NoTissueWarning,
    PatchFilter,
    apply_patch_filter,
    extract_features,
    load_patch_filter,
    read_features,
)

from ._synth import ground_truth


def _annotations(features_dir: Path) -> pd.DataFrame:
    """Every patch of the slide: purple blob 0 = tumor, pink blobs = non-tumor (patch centres)."""
    _, coords = read_features(features_dir / "tissue_slide.h5")
    assert coords is not None
    centres = coords + 128
    blob = ground_truth(centres[:, 0], centres[:, 1])
    return pd.DataFrame(
        {
            "slide_id": "tissue_slide",
            "x": centres[:, 0],
            "y": centres[:, 1],
            "label": np.where(blob == 0, "tumor", "non-tumor"),
        }
    )


@pytest.fixture(scope="module")
def probe_path(tmp_path_factory: pytest.TempPathFactory, features_dir: Path) -> Path:
    table = _annotations(features_dir)
    csv = tmp_path_factory.mktemp("probe") / "annotations.csv"
    table.to_csv(csv, index=False)
    probe = LogisticProbeFilter.from_annotations(csv, features_dir)
    return probe.save(csv.parent / "tumor_probe")


def test_probe_learns_tumour_patches(probe_path: Path, features_dir: Path) -> None:
    probe = LogisticProbeFilter.load(probe_path)
    table = _annotations(features_dir)
    feats, coords = read_features(features_dir / "tissue_slide.h5")
    keep = probe.select(feats, coords)
    truth = (table["label"] == "tumor").to_numpy()
    assert truth.any() and (~truth).any()
    assert (keep == truth).mean() >= 0.9
    assert probe.encoder_ == "tiny-dinov2"
    assert probe.n_train_ == len(table)


def test_probe_is_saved_without_pickle(probe_path: Path, features_dir: Path) -> None:
    meta = json.loads(probe_path.read_text())
    assert meta["type"] == "LogisticProbeFilter"
    weights = probe_path.with_suffix(".safetensors")
    assert weights.is_file()
    feats, _ = read_features(features_dir / "tissue_slide.h5")
    a = LogisticProbeFilter.load(probe_path)
    b = LogisticProbeFilter.load(probe_path.with_suffix(""))
    np.testing.assert_array_equal(a.predict_proba(feats), b.predict_proba(feats))


def test_extract_with_filter_keeps_tumour_region(
    tmp_path: Path, slide_path: Path, probe_path: Path, tiny_encoder: Any
) -> None:
    probe = load_patch_filter(probe_path)
    assert isinstance(probe, PatchFilter)
    res = extract_features(
        slide_path, tmp_path / "t.h5", tiny_encoder, patch_filter=probe, progress=False
    )
    _, coords = read_features(res.path)
    assert coords is not None and len(coords) > 0
    centres = coords + 128
    assert (ground_truth(centres[:, 0], centres[:, 1]) == 0).mean() >= 0.9


def test_filter_rejecting_everything_warns(
    tmp_path: Path, slide_path: Path, tiny_encoder: Any
) -> None:
    none = CallableFilter(lambda x: np.zeros(len(x), bool), name="nothing")
    with pytest.warns(NoTissueWarning, match="rejected all"):
        res = extract_features(
            slide_path, tmp_path / "n.h5", tiny_encoder, patch_filter=none, progress=False
        )
    assert read_features(res.path)[0].shape == (0, 64)


def test_annotation_errors(tmp_path: Path, features_dir: Path) -> None:
    good = _annotations(features_dir)
    with pytest.raises(ValueError, match=r"lack the columns \['label'\]"):
        LogisticProbeFilter.from_annotations(good.drop(columns="label"), features_dir)
    bad_label = good.copy()
    bad_label.loc[2, "label"] = "maybe"
    with pytest.raises(ValueError, match=r"\['maybe'\] at rows \[2\]"):
        LogisticProbeFilter.from_annotations(bad_label, features_dir)
    outside = good.copy()
    outside.loc[1, ["x", "y"]] = (2000, 2000)
    with pytest.raises(ValueError, match=r"rows \[1\] fall in no extracted patch"):
        LogisticProbeFilter.from_annotations(outside, features_dir)
    other = good.copy()
    other["slide_id"] = "unknown_slide"
    with pytest.raises(ValueError, match="no feature file for slide 'unknown_slide'"):
        LogisticProbeFilter.from_annotations(other, features_dir)
    one_class = good.assign(label="tumor")
    with pytest.raises(ValueError, match="needs both tumour"):
        LogisticProbeFilter.from_annotations(one_class, features_dir)


def test_probe_checks_dimension_and_fit() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        LogisticProbeFilter().predict_proba(np.zeros((2, 3)))
    rng = np.random.default_rng(0)
    probe = LogisticProbeFilter().fit(rng.normal(size=(20, 3)), np.r_[np.ones(10), np.zeros(10)])
    with pytest.raises(ValueError, match="trained on 3-dimensional features"):
        probe.predict_proba(np.zeros((2, 5)))


def test_callable_filters() -> None:
    feats = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.0]])
    coords = np.zeros((3, 2), np.int64)
    f = CallableFilter(lambda x: x[:, 0], threshold=0.5)
    assert apply_patch_filter(f, feats, coords).tolist() == [True, False, False]
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.0, 1.0]]))
        lin.bias.zero_()
    g = CallableFilter(lin, threshold=0.5, name="linear")
    assert apply_patch_filter(g, feats, coords).tolist() == [False, True, False]
    wrong = CallableFilter(lambda x: np.ones(2))
    with pytest.raises(ValueError, match=r"must return one boolean per patch, shape \(3,\)"):
        apply_patch_filter(wrong, feats, coords)


def test_load_exported_torch_filter(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(1, 1))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.zero_()
    program = torch.export.export(
        model, (torch.zeros(2, 1),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    torch.export.save(program, tmp_path / "scorer.pt2")
    g = load_patch_filter(tmp_path / "scorer.pt2", threshold=0.5)
    assert g.select(np.array([[0.9], [0.1], [0.7]]), np.zeros((3, 2))).tolist() == [
        True,
        False,
        True,
    ]


def test_load_patch_filter_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_tumor_filter.py").write_text(
        "import numpy as np\n"
        "def score(features):\n"
        "    return features[:, 0]\n"
        "class Keep:\n"
        "    name = 'keep'\n"
        "    threshold = 0.0\n"
        "    def select(self, features, coords):\n"
        "        return np.ones(len(features), bool)\n"
        "keep = Keep()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    feats = np.array([[0.9], [0.1]])
    f = load_patch_filter("my_tumor_filter:score", threshold=0.5)
    assert f.select(feats, np.zeros((2, 2))).tolist() == [True, False]
    assert load_patch_filter("my_tumor_filter:keep").name == "keep"
    with pytest.raises(ValueError, match="could not import patch filter"):
        load_patch_filter("no_such_module_xyz:f")
    with pytest.raises(ValueError, match="cannot load a patch filter"):
        load_patch_filter(tmp_path / "model.onnx")
