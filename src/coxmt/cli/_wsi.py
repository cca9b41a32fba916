"""Whole-slide-image commands: ``coxmt wsi segment | patch | extract | train-filter | heatmap``.

Each command takes slide files or folders of slides, and writes one output per
slide named after the slide (file name without extension). Outputs that
already exist are skipped, so an interrupted run can simply be started again.
The slide-only and multimodal models (``coxmt wsi fit | predict | evaluate``)
are in :mod:`coxmt.cli._wsi_models`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, cast

import typer
from rich.markup import escape

from coxmt.cli import _wsi_models
from coxmt.cli._common import cli_errors, console, err_console

__all__ = ["register", "wsi_app"]

wsi_app = typer.Typer(
    name="wsi",
    help=(
        "Whole-slide images: tissue segmentation, patching and patch feature extraction "
        "(CLAM/TRIDENT-compatible .h5 files); slide-only and multimodal (RNA-seq + slides) "
        "survival models trained, scored and evaluated from feature files and a clinical table. "
        "Needs the 'wsi' extra of coxmt."
    ),
    no_args_is_help=True,
)

_SLIDES_HELP = "Slide files, or folders of slides (.svs, .ndpi, .mrxs, tiled .tif ...)."
_MPP_HELP = (
    "Microns per pixel of level 0, for slides that do not record it (0.25 for a 40x scan, "
    "0.5 for 20x); applies to every slide given."
)
_MAG_HELP = "Target magnification of the patches (20 = 0.5 microns per pixel, 40 = 0.25)."


@contextmanager
def _report_warnings() -> Iterator[None]:
    """Print library warnings (e.g. a slide without tissue) as yellow lines, not tracebacks."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        err_console.print(
            f"[yellow]warning:[/yellow] {escape(str(w.message))}", highlight=False, soft_wrap=True
        )


def _slides(inputs: list[Path]) -> list[Path]:
    from coxmt.wsi import find_slides

    found = find_slides(inputs)
    if not found:
        raise ValueError(
            f"no slide files found in {[str(p) for p in inputs]}; give slide files or folders "
            "that contain them"
        )
    return found


def _each_slide(
    slides: list[Path],
    out_dir: Path,
    suffix: str,
    work: Callable[[Path, Path], tuple[str, bool]],
    *,
    skip_existing: bool,
) -> None:
    """Run ``work(slide, target) -> (message, skipped)`` for each slide, with a summary."""
    from coxmt.wsi.slide import _slide_id

    out_dir.mkdir(parents=True, exist_ok=True)
    done = skipped = 0
    for path in slides:
        target = out_dir / f"{_slide_id(path)}{suffix}"
        if skip_existing and target.exists():
            message, was_skipped = f"skipped ({target.name} exists)", True
        else:
            with _report_warnings():
                message, was_skipped = work(path, target)
        style = "dim" if was_skipped else "default"
        console.print(f"{escape(path.name)}: [{style}]{escape(message)}[/{style}]", highlight=False)
        skipped += was_skipped
        done += not was_skipped
    console.print(
        f"{done} slide(s) processed, {skipped} skipped; output in {escape(str(out_dir))}",
        highlight=False,
    )


def _each_open_slide(
    slides: list[Path],
    out_dir: Path,
    suffix: str,
    work: Callable[[Any, Path], tuple[str, bool]],
    *,
    mpp: float | None,
    skip_existing: bool,
) -> None:
    """:func:`_each_slide` with ``work(slide, target)`` given the opened slide (``--mpp`` applied)."""
    from coxmt.wsi import open_slide

    def on_path(path: Path, target: Path) -> tuple[str, bool]:
        with open_slide(path, mpp=mpp) as slide:
            return work(slide, target)

    _each_slide(slides, out_dir, suffix, on_path, skip_existing=skip_existing)


def _json_object(text: str | None, option: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{option} must be a JSON object, got {text!r} ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{option} must be a JSON object like '{{\"init_values\": 1e-5}}'")
    return value


@cli_errors
def segment(
    slides: list[Path] = typer.Argument(..., help=_SLIDES_HELP),
    out_dir: Path = typer.Option(..., "--out-dir", "-o", help="Folder for the masks."),
    mpp: float | None = typer.Option(None, help=_MPP_HELP),
    overview_mpp: float = typer.Option(
        8.0, help="Resolution of the overview segmented (microns/pixel)."
    ),
    threshold: float | None = typer.Option(
        None, help="Saturation threshold 0-255 (default: Otsu's, at least 15)."
    ),
    min_tissue_area: float = typer.Option(0.01, help="Drop tissue pieces smaller than this (mm²)."),
    max_hole_area: float = typer.Option(0.01, help="Fill holes in tissue up to this size (mm²)."),
    overview: bool = typer.Option(
        True, help="Also save the overview image as <slide>_overview.jpg."
    ),
    overwrite: bool = typer.Option(False, help="Redo slides whose mask already exists."),
) -> None:
    """Segment tissue; writes <slide>_tissue.png (white = tissue) per slide."""
    from PIL import Image

    from coxmt._atomic import atomic_path
    from coxmt.wsi import segment_slide

    def work(slide: Any, target: Path) -> tuple[str, bool]:
        tissue = segment_slide(
            slide,
            overview_mpp=overview_mpp,
            threshold=threshold,
            min_tissue_area=min_tissue_area,
            max_hole_area=max_hole_area,
        )
        if overview:
            image, _ = slide.read_overview(overview_mpp / slide.require_mpp())
            with atomic_path(target.parent / f"{slide.slide_id}_overview.jpg") as tmp:
                Image.fromarray(image).save(tmp, format="JPEG", quality=90)
        tissue.save_png(target)
        return f"tissue {100 * tissue.tissue_fraction:.1f}% of the slide -> {target.name}", False

    _each_open_slide(
        _slides(slides), out_dir, "_tissue.png", work, mpp=mpp, skip_existing=not overwrite
    )


@cli_errors
def patch(
    slides: list[Path] = typer.Argument(..., help=_SLIDES_HELP),
    out_dir: Path = typer.Option(..., "--out-dir", "-o", help="Folder for the patch files."),
    magnification: float = typer.Option(20.0, help=_MAG_HELP),
    patch_size: int = typer.Option(256, help="Patch side in pixels at that magnification."),
    stride: int | None = typer.Option(None, help="Step between patches (default: patch size)."),
    tissue_threshold: float = typer.Option(
        0.5, help="Keep patches with at least this fraction of tissue."
    ),
    mpp: float | None = typer.Option(None, help=_MPP_HELP),
    overview_mpp: float = typer.Option(8.0, help="Resolution of the tissue mask (microns/pixel)."),
    overwrite: bool = typer.Option(False, help="Redo slides whose patch file already exists."),
) -> None:
    """Lay a patch grid over tissue; writes <slide>.h5 with level-0 'coords' (CLAM layout)."""
    from coxmt.wsi import patch_slide

    def work(slide: Any, target: Path) -> tuple[str, bool]:
        grid = patch_slide(
            slide,
            magnification=magnification,
            patch_size=patch_size,
            stride=stride,
            tissue_threshold=tissue_threshold,
            overview_mpp=overview_mpp,
        )
        grid.save(target)
        lv = grid.level
        message = (
            f"{len(grid)} patches of {lv.patch_size} px at {lv.magnification:g}x "
            f"(level {lv.level}, read {lv.read_size} px) -> {target.name}"
        )
        return message, False

    _each_open_slide(_slides(slides), out_dir, ".h5", work, mpp=mpp, skip_existing=not overwrite)


@cli_errors
def extract(
    slides: list[Path] = typer.Argument(..., help=_SLIDES_HELP),
    out_dir: Path = typer.Option(..., "--out-dir", "-o", help="Folder for the feature files."),
    checkpoint: Path = typer.Option(
        ..., help="Local weight file (.safetensors, .pth, .bin); nothing is downloaded."
    ),
    encoder: str = typer.Option(
        "vit_small_patch14_dinov2",
        help="timm model name (vit_small_patch14_dinov2, vit_base_patch14_dinov2, ...) or a "
        ".json ViT configuration.",
    ),
    patches_dir: Path | None = typer.Option(
        None, help="Folder of <slide>.h5 patch files from 'coxmt wsi patch' (default: patch now)."
    ),
    magnification: float = typer.Option(20.0, help=_MAG_HELP),
    patch_size: int = typer.Option(256, help="Patch side in pixels at that magnification."),
    tissue_threshold: float = typer.Option(
        0.5, help="Keep patches with at least this fraction of tissue."
    ),
    mpp: float | None = typer.Option(None, help=_MPP_HELP),
    input_size: int = typer.Option(224, help="Patches are resized to this side for the encoder."),
    batch_size: int = typer.Option(32, help="Patches per forward pass."),
    readers: int = typer.Option(4, help="Threads reading patches from the slide."),
    device: str = typer.Option("auto", help="auto (CUDA when available), cpu, cuda, cuda:1 ..."),
    amp: bool = typer.Option(True, help="Mixed precision (float16 autocast) on CUDA."),
    encoder_backend: str = typer.Option(
        "auto", help="Model code: auto (timm if it imports), builtin, timm."
    ),
    model_kwargs: str | None = typer.Option(
        None,
        help="Extra model arguments as JSON, e.g. '{\"init_values\": 1e-5}' (timm.create_model "
        "arguments, or ViT settings for the built-in model).",
    ),
    patch_filter: str | None = typer.Option(
        None,
        "--filter",
        help="Keep only patches a filter selects (tumour regions): a probe .json from "
        "'coxmt wsi train-filter', a torch.export .pt2 model, or module:attribute. Off by default.",
    ),
    filter_threshold: float | None = typer.Option(None, help="Override the filter's threshold."),
    overwrite: bool = typer.Option(False, help="Redo slides whose feature file already exists."),
    progress: bool = typer.Option(True, help="Show a progress bar per slide."),
    backend: str = typer.Option(
        "local",
        help="Where slides are processed: local (one after another here) or ray (one Ray task "
        "per slide on a cluster, a GPU each when it has GPUs; needs a shared file system).",
    ),
    address: str | None = typer.Option(
        None, help="Ray cluster address for --backend ray (default: $RAY_ADDRESS, else local)."
    ),
    gpus_per_task: float | None = typer.Option(
        None, help="GPUs per slide task with --backend ray (default: 1 if the cluster has GPUs)."
    ),
) -> None:
    """Extract patch features; writes <slide>.h5 with 'features' (N, D) and 'coords' (N, 2)."""
    from coxmt.wsi import build_encoder, extract_features, load_patch_filter

    if backend in ("auto", "builtin", "timm"):  # the model-code option's former name
        encoder_backend, backend = backend, "local"
    if backend not in ("local", "ray"):
        raise ValueError(
            f"--backend must be 'local' or 'ray', got {backend!r} (the model code is chosen "
            "with --encoder-backend)"
        )
    if encoder_backend not in ("auto", "builtin", "timm"):
        raise ValueError(
            f"--encoder-backend must be auto, builtin or timm, got {encoder_backend!r}"
        )
    kwargs = _json_object(model_kwargs, "--model-kwargs")
    if backend == "ray":
        _extract_ray(
            slides, out_dir, encoder, checkpoint, encoder_backend, kwargs, address=address,
            gpus=gpus_per_task, patches_dir=patches_dir, patch_filter=patch_filter,
            filter_threshold=filter_threshold, input_size=input_size, device=device,
            magnification=magnification, patch_size=patch_size,
            tissue_threshold=tissue_threshold, mpp=mpp, batch_size=batch_size, readers=readers,
            amp=amp, overwrite=overwrite,
        )  # fmt: skip
        return
    if address is not None or gpus_per_task is not None:
        raise ValueError("--address and --gpus-per-task only apply to --backend ray")
    enc = build_encoder(
        encoder,
        checkpoint,
        input_size=input_size,
        backend=cast(Literal["auto", "builtin", "timm"], encoder_backend),
        device=device,
        model_kwargs=kwargs,
    )
    chosen = load_patch_filter(patch_filter, threshold=filter_threshold) if patch_filter else None
    console.print(
        escape(f"encoder {enc.name} ({enc.backend}, {enc.embed_dim}-d) on {enc.device}"),
        highlight=False,
    )

    def work(path: Path, target: Path) -> tuple[str, bool]:
        from coxmt.wsi.slide import _slide_id

        patches: Any = None
        if patches_dir is not None:
            patches = patches_dir / f"{_slide_id(path)}.h5"
            if not patches.is_file():
                raise ValueError(
                    f"no patch file {str(patches)!r} for slide {path.name!r}; run 'coxmt wsi "
                    "patch' first or leave out --patches-dir"
                )
        result = extract_features(
            path,
            target,
            enc,
            patches=patches,
            magnification=magnification,
            patch_size=patch_size,
            tissue_threshold=tissue_threshold,
            mpp=mpp,
            batch_size=batch_size,
            readers=readers,
            amp=amp,
            patch_filter=chosen,
            overwrite=overwrite,
            progress=progress,
        )
        if result.skipped:
            return f"skipped ({target.name} exists, {result.n_patches} patches)", True
        return f"{result.n_patches} patches -> {target.name}", False

    # extract_features decides on resume itself (complete file, same encoder)
    _each_slide(_slides(slides), out_dir, ".h5", work, skip_existing=False)


def _extract_ray(
    slides: list[Path],
    out_dir: Path,
    encoder: str,
    checkpoint: Path,
    encoder_backend: str,
    model_kwargs: dict[str, Any] | None,
    *,
    address: str | None,
    gpus: float | None,
    patches_dir: Path | None,
    patch_filter: str | None,
    filter_threshold: float | None,
    input_size: int,
    device: str,
    **kwargs: Any,
) -> None:
    """``coxmt wsi extract --backend ray``: one Ray task per slide."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ValueError("--backend ray needs the ray extra: pip install 'coxmt[ray]'") from None
    from coxmt.wsi.distributed import SlideOutcome, encoder_spec, extract_slides_ray

    if gpus is not None and gpus < 0:
        raise ValueError(f"--gpus-per-task must be >= 0, got {gpus}")
    spec = encoder_spec(
        encoder, checkpoint, input_size=input_size, backend=encoder_backend, device=device,
        model_kwargs=model_kwargs,
    )  # fmt: skip
    counts = {"done": 0, "skipped": 0}

    def report(outcome: SlideOutcome) -> None:
        for message in outcome.warnings:
            err_console.print(
                f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True
            )
        res = outcome.result
        if res.skipped:
            counts["skipped"] += 1
            text = f"[dim]skipped ({res.path.name} exists, {res.n_patches} patches)[/dim]"
        else:
            counts["done"] += 1
            text = escape(f"{res.n_patches} patches -> {res.path.name} ({outcome.device})")
        console.print(f"{escape(outcome.slide.name)}: {text}", highlight=False)

    extract_slides_ray(
        _slides(slides), out_dir, spec, patches_dir=patches_dir,
        patch_filter=patch_filter, filter_threshold=filter_threshold, address=address,
        num_gpus=gpus, on_result=report, **kwargs,
    )  # fmt: skip
    console.print(
        f"{counts['done']} slide(s) processed, {counts['skipped']} skipped; output in "
        f"{escape(str(out_dir))}",
        highlight=False,
    )


@cli_errors
def train_filter(
    annotations: Path = typer.Argument(
        ..., help="CSV with slide_id, x, y (level-0 pixels) and label (tumor / non-tumor)."
    ),
    features_dir: Path = typer.Option(
        ..., help="Folder of <slide_id>.h5 feature files from 'coxmt wsi extract'."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Probe file to write (.json; weights go beside it)."
    ),
    threshold: float = typer.Option(0.5, help="Keep patches with tumour probability >= this."),
    c: float = typer.Option(1.0, "--C", help="Inverse L2 regularisation strength."),
) -> None:
    """Train a logistic tumour probe on patch features, for 'coxmt wsi extract --filter'."""
    from coxmt.wsi import LogisticProbeFilter

    probe = LogisticProbeFilter.from_annotations(
        annotations, features_dir, threshold=threshold, C=c
    )
    path = probe.save(out)
    console.print(
        escape(
            f"tumour probe trained on {probe.n_train_} patches ({len(probe.coef_)}-d features) "
            f"-> {path}"
        ),
        highlight=False,
    )


@cli_errors
def heatmap(
    slide: Path = typer.Argument(..., help="The whole-slide image the patches came from."),
    attention: Path = typer.Argument(
        ...,
        help="Attention file (coords + attention): from 'coxmt wsi predict --attention-dir', or "
        "written by coxmt.nn.write_attention_h5.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output PNG."),
    patch_size: int | None = typer.Option(
        None, help="Patch side in level-0 pixels (inferred from the coordinate grid)."
    ),
    overview_mpp: float = typer.Option(8.0, help="Resolution of the drawing (microns/pixel)."),
    mpp: float | None = typer.Option(None, help=_MPP_HELP),
    alpha: float = typer.Option(0.5, help="Opacity of the heat colours (0-1)."),
    raw: bool = typer.Option(False, help="Colour raw scores instead of their percentiles."),
) -> None:
    """Draw per-patch attention scores over the slide overview (PNG)."""
    from coxmt.wsi.heatmap import render_heatmap

    path = render_heatmap(
        slide,
        attention,
        out,
        patch_size=patch_size,
        overview_mpp=overview_mpp,
        mpp=mpp,
        alpha=alpha,
        percentile=not raw,
    )
    console.print(escape(f"heatmap -> {path}"), highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``wsi`` command group to ``app``."""
    present = {c.name or c.callback.__name__ for c in wsi_app.registered_commands if c.callback}
    for name, func in (
        ("segment", segment),
        ("patch", patch),
        ("extract", extract),
        ("train-filter", train_filter),
        ("heatmap", heatmap),
    ):
        if name not in present and func.__name__ not in present:
            wsi_app.command(name)(func)
    _wsi_models.register(wsi_app)
    app.add_typer(wsi_app, name="wsi")
