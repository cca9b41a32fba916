"""Open report.html in a real headless Chromium: the page renders and every image loads.

The report has no JavaScript. A test copy gets a tiny inline script that, on the
``load`` event, writes into ``document.title`` how many ``<img>`` elements finished
loading with a non-zero natural width; Chromium's ``--dump-dom`` prints the DOM
after loading, and the test reads the title back. A second test renders a
screenshot and checks that it is a non-blank PNG of the requested size.

Skipped when ``chromium`` is not on PATH (CI installs it with .ci/install_chromium.sh).
"""

from __future__ import annotations

import html as html_lib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (run .ci/install_chromium.sh, or "
    "apt-get install chromium) - the headless browser test of report.html is skipped",
)

_PROBE = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.title = "IMAGES " + ok.length + "/" + imgs.length + " WIDTHS " +
    imgs.map(function (i) { return i.naturalWidth; }).join(",");
});
</script>
"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--mute-audio",
        f"--user-data-dir={profile}",
        *args,
    ]
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc


def _load_probe(page: str, tmp_path: Path) -> tuple[int, int, list[int], str]:
    """(loaded, total, natural widths, dumped DOM) of ``page`` opened in Chromium."""
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()).stdout
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None, dom[:500]
    found = re.fullmatch(r"IMAGES (\d+)/(\d+) WIDTHS ([\d,]+)", html_lib.unescape(title.group(1)))
    assert found is not None, f"the load probe did not run: title {title.group(1)!r}"
    widths = [int(w) for w in found.group(3).split(",")]
    return int(found.group(1)), int(found.group(2)), widths, dom


def test_every_image_loads_in_chromium(report: Path, results_dir: Path, tmp_path: Path) -> None:
    loaded, total, widths, dom = _load_probe(report.read_text(encoding="utf-8"), tmp_path)
    n_figures = len(list((results_dir / "figures").glob("*.png")))
    assert total == n_figures == 6
    assert loaded == total, f"only {loaded} of {total} images loaded"
    assert all(w > 300 for w in widths)
    assert "Paired comparison with Cox-MT" in dom and "How to read this report" in dom


def test_probe_detects_a_broken_image(report: Path, tmp_path: Path) -> None:
    page = re.sub(
        r"data:image/png;base64,[^\"]+",
        "data:image/png;base64,AAAA",
        report.read_text(encoding="utf-8"),
        count=1,
    )
    loaded, total, _, _ = _load_probe(page, tmp_path)
    assert (loaded, total) == (5, 6)


def test_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    shot = tmp_path / "report.png"
    _chromium(tmp_path, "--window-size=1280,3000", f"--screenshot={shot}", report.as_uri())
    img = imread(shot)
    assert img.shape[:2] == (3000, 1280)
    rgb = img[..., :3]
    ink = np.mean(np.any(rgb < 0.85, axis=-1))
    assert ink > 0.03, f"the screenshot is almost blank ({ink:.1%} non-white pixels)"
    # the second model's Okabe-Ito vermillion (#D55E00) is used by the figures only (the
    # stylesheet has none), so finding it shows that the embedded plots were painted
    vermillion = np.all(np.abs(rgb - np.array([0xD5, 0x5E, 0x00]) / 255) < 0.06, axis=-1)
    assert vermillion.sum() > 200
