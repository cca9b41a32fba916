"""The ``coxmt wsi`` commands, through a local typer app."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from coxmt.cli._wsi import register
from coxmt.wsi import read_features, read_patch_coords

from ._synth import ground_truth


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _main() -> None:
        """Test root."""

    register(root)
    return root


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def test_help_lists_commands(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["wsi", "--help"])
    assert result.exit_code == 0, result.output
    for command in ("segment", "patch", "extract", "train-filter"):
        assert command in result.output


def test_segment_patch_extract(
    app: typer.Typer,
    runner: CliRunner,
    tmp_path: Path,
    slide_path: Path,
    tiny_vit: tuple[Path, Path],
) -> None:
    cfg, weights = tiny_vit
    masks = tmp_path / "masks"
    r = runner.invoke(app, ["wsi", "segment", str(slide_path), "-o", str(masks)])
    assert r.exit_code == 0, r.output
    assert (masks / "tissue_slide_tissue.png").is_file()
    assert (masks / "tissue_slide_overview.jpg").is_file()
    assert "tissue" in r.output

    patches = tmp_path / "patches"
    r = runner.invoke(app, ["wsi", "patch", str(slide_path.parent), "-o", str(patches)])
    assert r.exit_code == 0, r.output
    coords, attrs = read_patch_coords(patches / "tissue_slide.h5")
    assert len(coords) > 0 and attrs["patch_size"] == 256 and attrs["patch_level"] == 0

    feats_dir = tmp_path / "features"
    args = [
        "wsi", "extract", str(slide_path), "-o", str(feats_dir), "--encoder", str(cfg),
        "--checkpoint", str(weights), "--patches-dir", str(patches), "--device", "cpu",
        "--batch-size", "4", "--no-progress",
    ]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "1 slide(s) processed, 0 skipped" in r.output
    feats, xy = read_features(feats_dir / "tissue_slide.h5")
    assert feats.shape == (len(coords), 64)
    assert xy is not None and np.array_equal(xy, coords)
    centres = xy + 128
    assert np.all(ground_truth(centres[:, 0], centres[:, 1]) >= 0)

    # resume: a second run skips the slide
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "0 slide(s) processed, 1 skipped" in r.output

    # train a probe from annotations, then extract with it
    blob = ground_truth(centres[:, 0], centres[:, 1])
    csv = tmp_path / "annotations.csv"
    pd.DataFrame(
        {
            "slide_id": "tissue_slide",
            "x": centres[:, 0],
            "y": centres[:, 1],
            "label": np.where(blob == 0, "tumor", "non-tumor"),
        }
    ).to_csv(csv, index=False)
    probe = tmp_path / "probe.json"
    r = runner.invoke(
        app, ["wsi", "train-filter", str(csv), "--features-dir", str(feats_dir), "-o", str(probe)]
    )
    assert r.exit_code == 0, r.output
    assert probe.is_file() and probe.with_suffix(".safetensors").is_file()
    r = runner.invoke(
        app,
        [*args[:4], str(tmp_path / "tumor_only"), *args[5:], "--filter", str(probe)],
    )
    assert r.exit_code == 0, r.output
    kept, _ = read_features(tmp_path / "tumor_only" / "tissue_slide.h5")
    assert 0 < len(kept) < len(feats)


def test_white_slide_warns_without_failing(
    app: typer.Typer,
    runner: CliRunner,
    tmp_path: Path,
    white_slide_path: Path,
    tiny_vit: tuple[Path, Path],
) -> None:
    cfg, weights = tiny_vit
    r = runner.invoke(
        app,
        [
            "wsi",
            "extract",
            str(white_slide_path),
            "-o",
            str(tmp_path),
            "--encoder",
            str(cfg),
            "--checkpoint",
            str(weights),
            "--device",
            "cpu",
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "no tissue" in r.output
    assert read_features(tmp_path / "white_slide.h5")[0].shape == (0, 64)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["segment"], id="segment"),
        pytest.param(["patch"], id="patch"),
    ],
)
def test_not_a_slide_exits_with_message(
    app: typer.Typer, runner: CliRunner, tmp_path: Path, command: list[str]
) -> None:
    bad = tmp_path / "bad.svs"
    bad.write_text("hello")
    r = runner.invoke(app, ["wsi", *command, str(bad), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert "not a readable whole-slide image" in r.output


def test_missing_mpp_and_checkpoint_messages(
    app: typer.Typer, runner: CliRunner, tmp_path: Path, nompp_slide_path: Path
) -> None:
    r = runner.invoke(app, ["wsi", "patch", str(nompp_slide_path), "-o", str(tmp_path)])
    assert r.exit_code == 2
    assert "--mpp" in r.output
    r = runner.invoke(
        app, ["wsi", "patch", str(nompp_slide_path), "-o", str(tmp_path), "--mpp", "0.5"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "wsi",
            "extract",
            str(nompp_slide_path),
            "-o",
            str(tmp_path),
            "--checkpoint",
            str(tmp_path / "missing.safetensors"),
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 2
    assert "does not exist" in r.output


def test_bad_model_kwargs(
    app: typer.Typer,
    runner: CliRunner,
    tmp_path: Path,
    slide_path: Path,
    tiny_vit: tuple[Path, Path],
) -> None:
    cfg, weights = tiny_vit
    args = ["wsi", "extract", str(slide_path), "-o", str(tmp_path), "--encoder", str(cfg)]
    r = runner.invoke(app, [*args, "--checkpoint", str(weights), "--model-kwargs", "[1]"])
    assert r.exit_code == 2
    assert "--model-kwargs must be a JSON object" in r.output
