"""
Slides to features to a slide model and a multimodal model
==========================================================

The whole-slide-image pipeline on generated slides: tissue segmentation, a patch grid
at 20x, patch features from a vision transformer written to CLAM/TRIDENT-style ``.h5``
files, patients matched to their feature files, then a slide-only Cox-MT
(:class:`~coxmt.WSICoxMT`, gated attention-MIL) and a multimodal RNA-seq + slides
Cox-MT (:class:`~coxmt.MultimodalCoxMT`, cross-attention).

Everything runs offline: the slides are drawn here, and the encoder is a small,
randomly initialised DINOv2-style ViT (a real run loads a local checkpoint, e.g.
``build_encoder("vit_small_patch14_dinov2", "dinov2_vits14.safetensors")``). Random
features carry little about the tissue, so the C-indexes below only show that the
pieces fit together. Needs the ``wsi`` extra (``pip install "coxmt[wsi]"``).
"""

# %%
# Generated slides
# ----------------
# Each patient gets a small pyramidal TIFF (1,024 px square at 0.5 microns per pixel,
# i.e. 20x, two levels) with pink tissue on white; a hidden risk sets how much of the
# tissue is purple "tumour". Outcomes are drawn from that risk, with censoring.
import tempfile
from pathlib import Path

import numpy as np
import tifffile

rng = np.random.default_rng(0)
workdir = tempfile.TemporaryDirectory()  # removed at the end of the page
root = Path(workdir.name)
(root / "slides").mkdir()

n_patients = 24
ids = [f"P{i:03d}" for i in range(n_patients)]
tumour_share = rng.uniform(0.05, 0.6, n_patients)


def draw_slide(path: Path, share: float, seed: int, size: int = 1024, mpp: float = 0.5) -> None:
    """White background, one elliptic piece of tissue, a share of it purple."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.full((size, size, 3), 243, np.int16) + g.integers(-3, 4, (size, size, 1))
    tissue = ((xx - 0.5) / 0.42) ** 2 + ((yy - 0.5) / 0.38) ** 2 < 1
    tumour = tissue & (xx < 0.08 + 0.84 * share)
    img[tissue] = (235, 150, 195)
    img[tumour] = (125, 60, 165)
    img[tissue] += g.integers(-25, 26, (int(tissue.sum()), 3))
    img8 = img.clip(0, 255).astype(np.uint8)
    with tifffile.TiffWriter(path) as tw:
        for level in range(2):
            d = 2**level
            res = 1e4 / (mpp * d)  # pixels per centimetre
            tw.write(
                img8[::d, ::d],
                tile=(256, 256),
                photometric="rgb",
                compression="zlib",
                subfiletype=0 if level == 0 else 1,
                resolution=(res, res),
                resolutionunit="CENTIMETER",
            )


for i, pid in enumerate(ids):
    draw_slide(root / "slides" / f"{pid}-DX1.tif", tumour_share[i], seed=i)

risk_true = 3.0 * (tumour_share - tumour_share.mean())
event_time = rng.exponential(24 * np.exp(-risk_true))
censor_time = rng.uniform(6, 60, n_patients)
time = np.minimum(event_time, censor_time)
event = event_time <= censor_time
print(f"{n_patients} patients, {event.sum()} events")

# %%
# Tissue and patches
# ------------------
# :func:`~coxmt.wsi.segment_slide` finds tissue on a low-resolution overview (saturation,
# median blur, Otsu threshold); :func:`~coxmt.wsi.grid_patches` lays 256-pixel patches
# at 20x over it (``coxmt wsi segment`` and ``coxmt wsi patch`` on the command line).
import matplotlib.pyplot as plt

from coxmt.wsi import grid_patches, open_slide, segment_slide

with open_slide(root / "slides" / "P000-DX1.tif") as slide:
    tissue = segment_slide(slide)
    grid = grid_patches(slide, tissue, magnification=20, patch_size=256)
    overview, _ = slide.read_overview(8.0)
print(f"{tissue.tissue_fraction:.0%} of the overview is tissue")
print(f"{len(grid)} patches of {grid.level.patch_size} px at {grid.level.magnification:g}x")
fig, axes = plt.subplots(1, 2, figsize=(7, 3.5))
axes[0].imshow(overview)
axes[0].set_title("slide P000 (overview)")
axes[1].imshow(tissue.mask, cmap="gray")
axes[1].set_title("tissue mask")
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()

# %%
# Patch features
# --------------
# :func:`~coxmt.wsi.build_encoder` builds the encoder (here the built-in DINOv2 ViT
# shrunk to 2 blocks of width 64, random weights); :func:`~coxmt.wsi.extract_slides`
# segments, patches and encodes every slide and writes ``<slide>.h5`` with ``features``
# (N, D) and ``coords`` (N, 2), skipping slides already done (``coxmt wsi extract``).
from coxmt.wsi import build_encoder, extract_slides, read_features

encoder = build_encoder(
    "vit_small_patch14_dinov2",
    random_weights=True,
    backend="builtin",
    device="cpu",
    model_kwargs={"embed_dim": 64, "depth": 2, "num_heads": 2},
)
results = extract_slides([root / "slides"], root / "features", encoder, progress=False)
print(f"{len(results)} feature files; first: {results[0]}")
features, coords = read_features(root / "features" / "P000-DX1.h5")
print(features.shape, coords.shape)

# %%
# Patients and their feature files
# ---------------------------------
# :func:`~coxmt.wsi.match_slides` gives each patient the list of its feature files (a
# "bag" of patches), by a ``slide_ids`` column or, as here, by the ID that starts the
# file name. A patient without a slide gets ``None`` and is kept.
from coxmt.wsi import find_feature_files, match_slides

match = match_slides(ids, find_feature_files(root / "features"))
bags = match.bags
print(bags[0], sum(b is None for b in bags), "patients without a slide")

# %%
# A slide model
# -------------
# :class:`~coxmt.WSICoxMT`: gated attention pooling of the patches (attention-MIL) and a
# Cox head, trained with Mean Teacher. Train on 16 patients, test on 8.
from coxmt import WSICoxMT

train, test = np.arange(16), np.arange(16, n_patients)
y = (event, time)
y_train, y_test = (event[train], time[train]), (event[test], time[test])
bags_train, bags_test = [bags[i] for i in train], [bags[i] for i in test]

wsi = WSICoxMT(
    model_dim=32, attention_dim=16, hidden_dim=16, learning_rate=1e-2, max_epochs=30, random_state=0
)
wsi.fit(bags_train, y_train)
print(f"slide model: C-index {wsi.score(bags_test, y_test):.3f} on the 8 test patients")

# %%
# Attention shows which patches weigh in the risk: one score per patch with its
# coordinates (``coxmt wsi heatmap`` draws them over the slide).
att = wsi.attention(bags_test[:1], all_patches=True)[0]
print(sorted(att))
print(np.round(att["patch_scores"], 3), att["coords"][:2])

# %%
# A multimodal model
# ------------------
# :class:`~coxmt.MultimodalCoxMT` turns the RNA-seq profile into gene tokens and the
# patches into patch tokens, lets the two attend to each other and predicts the hazard
# from both. A patient without slides (``None``) or without RNA-seq (a row of NaN) keeps
# a learned placeholder instead of being dropped. The RNA-seq here is generated: 40
# genes, two of which follow the hidden risk.
from coxmt import MultimodalCoxMT

X_rna = rng.normal(size=(n_patients, 40))
X_rna[:, :2] += risk_true[:, None]
X_rna[3] = np.nan  # patient P003 has no RNA-seq

mm = MultimodalCoxMT(
    n_rna_tokens=4,
    model_dim=32,
    n_heads=2,
    hidden_dim=16,
    learning_rate=1e-2,
    max_epochs=30,
    random_state=0,
)
mm.fit(X_rna[train], bags_train, y_train)
print(f"missing RNA-seq in training: {mm.n_missing_rna_}, missing slides: {mm.n_missing_wsi_}")
print(f"multimodal model: C-index {mm.score(X_rna[test], bags_test, y_test):.3f}")
print(np.round(mm.predict(X_rna[test], bags_test), 3))

# %%
# The same from the command line: ``coxmt wsi fit --table train.csv --features-dir
# features/ --model multimodal-coxmt ...`` (see :doc:`/cli`).
workdir.cleanup()
