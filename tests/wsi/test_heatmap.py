"""Attention heatmaps end to end: slide -> features -> WSICoxMT attention -> h5 -> PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from coxmt.cli._wsi import register
from coxmt.estimators import WSICoxMT
from coxmt.nn import write_attention_h5
from coxmt.wsi.heatmap import read_attention_h5, render_heatmap


@pytest.fixture(scope="module")
def attention_file(features_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    h5 = sorted(features_dir.glob("*.h5"))[0]
    rng = np.random.default_rng(0)
    # 12 "patients" sharing the slide's feature file, with random outcomes: enough to train
    bags = [h5] * 12
    y = (rng.random(12) < 0.6, rng.exponential(size=12) + 0.1)
    y[0][0] = True
    model = WSICoxMT(model_dim=8, hidden_dim=8, max_epochs=2, batch_size=None, random_state=0)
    model.fit(bags, y)
    record = model.attention([h5], all_patches=True)[0]
    assert record["coords"] is not None
    out = tmp_path_factory.mktemp("att") / "slide_attention.h5"
    write_attention_h5(out, record["coords"], record["patch_scores"], model="WSICoxMT")
    return out


def test_attention_file_layout(attention_file: Path) -> None:
    coords, scores, attrs = read_attention_h5(attention_file)
    assert coords.shape == (len(scores), 2)
    assert np.isclose(scores.sum(), 1.0, atol=1e-4)
    assert attrs["model"] == "WSICoxMT"


def test_render_heatmap_colours_the_patches(
    slide_path: Path, attention_file: Path, tmp_path: Path
) -> None:
    from matplotlib.image import imread

    out = render_heatmap(slide_path, attention_file, tmp_path / "heat.png")
    img = imread(out)
    assert img.shape[0] > 100 and img.shape[1] > 200
    right = img[:, img.shape[1] // 2 :, :3]
    # the overlay adds saturated heat colours that the H&E-like overview does not have
    assert (np.ptp(right, axis=2) > 0.3).mean() > 0.001
    assert [p.name for p in tmp_path.iterdir()] == ["heat.png"]


def test_heatmap_cli_and_errors(slide_path: Path, attention_file: Path, tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def _main() -> None:
        """Test root."""

    register(app)
    runner = CliRunner()
    out = tmp_path / "h.png"
    r = runner.invoke(app, ["wsi", "heatmap", str(slide_path), str(attention_file), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file()
    bad = tmp_path / "bad.h5"
    write_attention_h5(bad, np.zeros((0, 2)), np.zeros(0))
    r = runner.invoke(app, ["wsi", "heatmap", str(slide_path), str(bad), "-o", str(out)])
    assert r.exit_code == 2
    assert "holds no patches" in r.output
    assert "Traceback" not in r.output
