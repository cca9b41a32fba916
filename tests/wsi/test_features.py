"""Feature extraction end to end, resume, empty slides and feature-file readers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from coxmt.wsi import (
    NoTissueWarning,
    extract_features,
    extract_slides,
    feature_file_info,
    find_slides,
    open_slide,
    patch_slide,
    read_features,
    write_features,
)

from ._synth import ground_truth


def test_pipeline_writes_clam_trident_h5(features_dir: Path, slide_path: Path) -> None:
    import h5py

    path = features_dir / "tissue_slide.h5"
    feats, coords = read_features(path)
    assert feats.dtype == np.float32
    assert feats.shape[1] == 64
    assert coords is not None and coords.shape == (len(feats), 2)
    assert len(feats) >= 8
    assert np.isfinite(feats).all()
    # coordinates are level-0 positions on tissue, none in the background quadrant
    centres = coords + 128
    assert np.all(ground_truth(centres[:, 0], centres[:, 1]) >= 0)
    assert not np.any((coords[:, 0] >= 1100) & (coords[:, 1] >= 1100))
    with open_slide(slide_path) as slide:
        grid = patch_slide(slide)
    assert np.array_equal(coords, grid.coords)
    with h5py.File(path) as f:
        assert f["coords"].dtype == np.int64
        attrs = dict(f.attrs)
        assert dict(f["features"].attrs)["encoder"] == "tiny-dinov2"
    assert attrs["encoder"] == "tiny-dinov2"
    assert attrs["patch_size"] == 256
    assert attrs["magnification"] == 20.0
    assert attrs["mpp"] == pytest.approx(0.5)
    assert attrs["patch_size_level0"] == 256
    assert attrs["patch_filter"] == "none"
    assert not list(features_dir.glob(".*tmp"))


def test_features_match_direct_encoding(
    features_dir: Path, slide_path: Path, tiny_encoder: Any
) -> None:
    feats, coords = read_features(features_dir / "tissue_slide.h5")
    assert coords is not None
    x, y = coords[0]
    with open_slide(slide_path) as slide:
        patch = slide.read_region((int(x), int(y)), 0, (256, 256))
    direct = tiny_encoder.encode(patch[None])
    np.testing.assert_allclose(feats[0], direct[0], atol=1e-4)


def test_resume_skips_complete_files(
    tmp_path: Path, slide_path: Path, features_dir: Path, tiny_encoder: Any
) -> None:
    out = tmp_path / "tissue_slide.h5"
    out.write_bytes((features_dir / "tissue_slide.h5").read_bytes())
    before = os.stat(out).st_mtime_ns
    result = extract_features(slide_path, out, tiny_encoder, progress=False)
    assert result.skipped
    assert result.n_patches == len(read_features(out)[0])
    assert os.stat(out).st_mtime_ns == before
    # an incomplete (truncated) file is redone
    out.write_bytes(b"partial")
    again = extract_slides([slide_path], tmp_path, tiny_encoder, progress=False)
    assert not again[0].skipped
    assert again[0].n_patches == result.n_patches


def test_resume_refuses_other_encoder(tmp_path: Path, slide_path: Path, tiny_encoder: Any) -> None:
    out = tmp_path / "tissue_slide.h5"
    write_features(out, np.zeros((1, 8)), np.zeros((1, 2)), {"encoder": "uni", "patch_size": 256})
    with pytest.raises(ValueError, match=r"from encoder 'uni'.*overwrite"):
        extract_features(slide_path, out, tiny_encoder, progress=False)


def test_white_slide_gives_empty_features_and_warning(
    tmp_path: Path, white_slide_path: Path, tiny_encoder: Any
) -> None:
    out = tmp_path / "white.h5"
    with pytest.warns(NoTissueWarning, match="no tissue"):
        result = extract_features(white_slide_path, out, tiny_encoder, progress=False)
    feats, coords = read_features(out)
    assert result.n_patches == 0
    assert feats.shape == (0, 64)
    assert coords is not None and coords.shape == (0, 2)
    info = feature_file_info(out)
    assert info is not None and info["n_patches"] == 0


def test_non_slide_file_is_a_clear_error(tmp_path: Path, tiny_encoder: Any) -> None:
    bad = tmp_path / "notes.svs"
    bad.write_text("not a slide")
    with pytest.raises(ValueError, match="not a readable whole-slide image"):
        extract_features(bad, tmp_path / "notes.h5", tiny_encoder, progress=False)
    assert not (tmp_path / "notes.h5").exists()


def test_precomputed_patches_and_batching(
    tmp_path: Path, slide_path: Path, features_dir: Path, tiny_encoder: Any
) -> None:
    with open_slide(slide_path) as slide:
        grid = patch_slide(slide)
    patches = grid.save(tmp_path / "patches" / "tissue_slide.h5")
    res = extract_slides(
        [slide_path],
        tmp_path / "feats",
        tiny_encoder,
        patches_dir=patches.parent,
        batch_size=3,
        prefetch=0,
        progress=False,
    )
    ref, _ = read_features(features_dir / "tissue_slide.h5")
    got, _ = read_features(res[0].path)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    with pytest.raises(ValueError, match="no patch file"):
        extract_slides([slide_path], tmp_path / "x", tiny_encoder, patches_dir=tmp_path)


def test_find_slides(tmp_path: Path, slide_path: Path) -> None:
    assert find_slides([slide_path.parent]) == [slide_path]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "s.svs").write_text("x")
    (tmp_path / "b" / "s.tif").write_text("x")
    with pytest.raises(ValueError, match=r"share the names \['s'\]"):
        find_slides([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(ValueError, match="does not exist"):
        find_slides([tmp_path / "none"])


# --- readers for CLAM / TRIDENT files ------------------------------------------------------


def test_read_clam_pt_with_sibling_coords(tmp_path: Path) -> None:
    import h5py

    feats = torch.randn(5, 16)
    coords = np.arange(10).reshape(5, 2) * 256
    (tmp_path / "pt_files").mkdir()
    (tmp_path / "h5_files").mkdir()
    torch.save(feats, tmp_path / "pt_files" / "s1.pt")
    with h5py.File(tmp_path / "h5_files" / "s1.h5", "w") as f:
        f["features"] = feats.numpy()
        f["coords"] = coords
    got, xy = read_features(tmp_path / "pt_files" / "s1.pt")
    np.testing.assert_allclose(got, feats.numpy())
    assert xy is not None and np.array_equal(xy, coords)


def test_read_trident_style_files(tmp_path: Path) -> None:
    import h5py

    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["features"] = np.ones((1, 3, 8), np.float16)  # batched layout
        f["coords"] = np.zeros((1, 3, 2), np.int32)
    feats, coords = read_features(tmp_path / "t.h5")
    assert feats.shape == (3, 8) and feats.dtype == np.float32
    assert coords is not None and coords.shape == (3, 2)
    torch.save({"features": torch.ones(4, 8), "coords": torch.zeros(4, 2)}, tmp_path / "t.pt")
    feats, coords = read_features(tmp_path / "t.pt")
    assert feats.shape == (4, 8) and coords is not None
    torch.save(torch.ones(4, 8), tmp_path / "plain.pt")
    assert read_features(tmp_path / "plain.pt")[1] is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param({"coords": np.zeros((2, 2))}, "has no 'features' dataset", id="no-features"),
        pytest.param(
            {"features": np.zeros((3, 4)), "coords": np.zeros((2, 2))},
            "'coords' has shape",
            id="length-mismatch",
        ),
        pytest.param({"features": np.zeros(4)}, "must be a 2-D array", id="1d"),
    ],
)
def test_bad_feature_files(tmp_path: Path, content: dict[str, Any], message: str) -> None:
    import h5py

    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        for k, v in content.items():
            f[k] = v
    with pytest.raises(ValueError, match=message):
        read_features(path)
    assert feature_file_info(path) is None


def test_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        read_features(tmp_path / "none.h5")
    (tmp_path / "x.csv").write_text("a")
    with pytest.raises(ValueError, match="unknown feature file type"):
        read_features(tmp_path / "x.csv")
    (tmp_path / "x.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        read_features(tmp_path / "x.h5")
    torch.save({"emb": torch.ones(2)}, tmp_path / "d.pt")
    with pytest.raises(ValueError, match="without a 'features' entry"):
        read_features(tmp_path / "d.pt")
    with pytest.raises(ValueError, match=r"coords must have shape \(N, 2\)"):
        write_features(tmp_path / "w.h5", np.zeros((2, 3)), np.zeros((3, 2)))


def test_encoder_failure_stops_the_reader_thread(
    tmp_path: Path, slide_path: Path, tiny_encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    calls = {"n": 0}

    def failing_encode(batch: np.ndarray, **kwargs: Any) -> np.ndarray:
        calls["n"] += 1
        raise RuntimeError("out of memory")

    monkeypatch.setattr(tiny_encoder, "encode", failing_encode)
    with pytest.raises(RuntimeError, match="out of memory"):
        extract_features(slide_path, tmp_path / "f.h5", tiny_encoder, batch_size=1, progress=False)
    assert calls["n"] == 1
    assert not any(t.name.startswith("read-") for t in threading.enumerate())
    assert not (tmp_path / "f.h5").exists()


@pytest.mark.parametrize("readers", [pytest.param(1, id="one-reader"), pytest.param(3, id="three")])
def test_reader_threads_keep_patch_order(
    tmp_path: Path, slide_path: Path, features_dir: Path, tiny_encoder: Any, readers: int
) -> None:
    res = extract_features(
        slide_path, tmp_path / "r.h5", tiny_encoder, batch_size=2, readers=readers, progress=False
    )
    ref, ref_xy = read_features(features_dir / "tissue_slide.h5")
    got, xy = read_features(res.path)
    assert xy is not None and ref_xy is not None and np.array_equal(xy, ref_xy)
    np.testing.assert_allclose(got, ref, atol=1e-5)
