"""Patch feature extraction: slide -> tissue -> patches -> encoder -> one ``.h5`` per slide.

Output files follow CLAM/TRIDENT (``features`` (N, D) float32, ``coords`` (N, 2)
level-0 pixels) and are written atomically, so a slide whose output exists and
is complete is skipped on the next run (resume).
"""

from __future__ import annotations

import threading
import warnings
from collections import deque
from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from coxmt.wsi.encoders import PatchEncoder
from coxmt.wsi.filters import PatchFilter, apply_patch_filter
from coxmt.wsi.io import feature_file_info, write_features
from coxmt.wsi.patching import PatchGrid, grid_patches, load_patch_grid
from coxmt.wsi.slide import SLIDE_EXTENSIONS, Slide, _slide_id, open_slide
from coxmt.wsi.tissue import segment_slide

__all__ = [
    "ExtractionResult",
    "NoTissueWarning",
    "extract_features",
    "extract_slides",
    "find_slides",
    "patch_slide",
]


class NoTissueWarning(UserWarning):
    """A slide yielded no patches (no tissue, or all rejected by the patch filter)."""


@dataclass(frozen=True)
class ExtractionResult:
    """Outcome of :func:`extract_features` for one slide.

    Attributes
    ----------
    slide_id : str
    path : Path
        The feature file.
    n_patches : int
        Rows in the feature file.
    skipped : bool
        True when a complete file already existed and nothing was computed.
    """

    slide_id: str
    path: Path
    n_patches: int
    skipped: bool


def find_slides(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders into a sorted list of slide files.

    Folders contribute their files with a slide extension (:data:`SLIDE_EXTENSIONS`).

    Examples
    --------
    >>> find_slides(["slides/"])  # doctest: +SKIP
    [PosixPath('slides/a.svs'), PosixPath('slides/b.svs')]
    """
    out: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file() and p.suffix.lower() in SLIDE_EXTENSIONS
                )
            )
        elif path.is_file():
            out.append(path)
        else:
            raise ValueError(f"slide path {str(path)!r} does not exist")
    ids = [_slide_id(p) for p in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(
            f"several slides share the names {dupes}; output files are named by slide, "
            "so process them in separate runs or rename them"
        )
    return out


def patch_slide(
    slide: Slide,
    *,
    magnification: float = 20.0,
    patch_size: int = 256,
    stride: int | None = None,
    tissue_threshold: float = 0.5,
    **segment_kwargs: Any,
) -> PatchGrid:
    """Segment tissue and lay the patch grid (both steps of the pipeline before the encoder).

    Examples
    --------
    >>> with open_slide("slide.svs") as slide:  # doctest: +SKIP
    ...     grid = patch_slide(slide, magnification=20, patch_size=256)
    """
    tissue = segment_slide(slide, **segment_kwargs)
    return grid_patches(
        slide,
        tissue,
        magnification=magnification,
        patch_size=patch_size,
        stride=stride,
        tissue_threshold=tissue_threshold,
    )


def _read_batches(
    slide: Slide, grid: PatchGrid, batch_size: int, prefetch: int, readers: int = 1
) -> Generator[np.ndarray, None, None]:
    """Yield uint8 (B, S, S, 3) batches in order, read ahead by ``readers`` threads.

    With one reader the open slide is used by that thread alone; with more, each
    thread opens its own handle (OpenSlide and tiffslide handles are then never
    shared between threads). ``prefetch=0`` reads in the calling thread.
    """
    lv = grid.level
    size = (lv.read_size, lv.read_size)
    starts = iter(range(0, len(grid.coords), batch_size))
    handles: list[Slide] = []
    lock = threading.Lock()
    local = threading.local()

    def handle() -> Slide:
        own = getattr(local, "slide", None)
        if own is None:
            if readers <= 1:
                own = slide
            else:
                own = open_slide(slide.path, backend=slide.backend, mpp=slide.mpp)
            local.slide = own
            with lock:
                handles.append(own)
        return own

    def read(start: int, wsi: Slide | None = None) -> np.ndarray:
        wsi = wsi or handle()
        xy = grid.coords[start : start + batch_size]
        return np.stack([wsi.read_region((int(x), int(y)), lv.level, size) for x, y in xy])

    if prefetch <= 0:
        for start in starts:
            yield read(start, slide)
        return
    pool = ThreadPoolExecutor(
        max_workers=max(1, readers), thread_name_prefix=f"read-{grid.slide_id}"
    )
    pending: deque[Future[np.ndarray]] = deque()
    try:
        for start in islice(starts, max(prefetch, readers)):
            pending.append(pool.submit(read, start))
        while pending:
            try:
                batch = pending.popleft().result()
            except Exception as exc:
                raise RuntimeError(
                    f"reading patches of slide {grid.slide_id!r} failed: {exc}"
                ) from exc
            following = next(starts, None)
            if following is not None:
                pending.append(pool.submit(read, following))
            yield batch
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True)
        for own in handles:
            if own is not slide:
                own.close()


def _attrs(encoder: PatchEncoder, grid: PatchGrid, slide: Slide) -> dict[str, Any]:
    attrs = grid.attrs()
    attrs.update(
        encoder=encoder.name,
        encoder_backend=encoder.backend,
        feature_dim=encoder.embed_dim,
        input_size=encoder.input_size,
        slide_file=slide.path.name,
    )
    return attrs


def extract_features(
    slide: str | Path,
    output: str | Path,
    encoder: PatchEncoder,
    *,
    patches: PatchGrid | str | Path | None = None,
    magnification: float = 20.0,
    patch_size: int = 256,
    tissue_threshold: float = 0.5,
    mpp: float | None = None,
    batch_size: int = 32,
    amp: bool = True,
    patch_filter: PatchFilter | None = None,
    overwrite: bool = False,
    progress: bool = True,
    prefetch: int = 2,
    readers: int = 4,
) -> ExtractionResult:
    """Extract patch features of one slide into a CLAM/TRIDENT-style ``.h5`` file.

    Parameters
    ----------
    slide : str or Path
        Slide file.
    output : str or Path
        Feature file to write (``<slide_id>.h5`` by convention).
    encoder : PatchEncoder
        From :func:`coxmt.wsi.build_encoder`; runs on its device.
    patches : PatchGrid or path, optional
        Precomputed patches (a :class:`PatchGrid`, or a patch ``.h5`` from
        ``coxmt wsi patch``/CLAM/TRIDENT). By default tissue is segmented and a
        grid laid now.
    magnification, patch_size, tissue_threshold
        Patch grid settings used when ``patches`` is None (see :func:`grid_patches`).
    mpp : float, optional
        Microns per pixel of level 0, for slides that do not record it.
    batch_size : int, default 32
    amp : bool, default True
        float16 autocast on CUDA.
    patch_filter : PatchFilter, optional
        Keeps only the selected patches (e.g. tumour regions); off by default.
    overwrite : bool, default False
        Recompute even when a complete output exists.
    progress : bool, default True
        Show a tqdm progress bar.
    prefetch : int, default 2
        Batches read ahead of the encoder (0 reads in the calling thread).
    readers : int, default 4
        Threads reading patches, each with its own slide handle; more keep a GPU busy.

    Returns
    -------
    ExtractionResult

    Warns
    -----
    NoTissueWarning
        When the slide yields no patches; a file with (0, D) features is still written.

    Examples
    --------
    >>> from coxmt.wsi import build_encoder
    >>> enc = build_encoder("vit_small_patch14_dinov2", "vits14.safetensors")  # doctest: +SKIP
    >>> extract_features("slide.svs", "features/slide.h5", enc)  # doctest: +SKIP
    """
    output = Path(output)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size!r}")
    slide_path = Path(slide)
    slide_id = _slide_id(slide_path)
    info = feature_file_info(output)
    if info is not None and not overwrite:
        if str(info.get("encoder", encoder.name)) != encoder.name:
            raise ValueError(
                f"{str(output)!r} already holds features from encoder {info.get('encoder')!r}, "
                f"not {encoder.name!r}; write to another folder or pass overwrite=True "
                "(CLI --overwrite)"
            )
        return ExtractionResult(slide_id, output, int(info["n_patches"]), skipped=True)
    with open_slide(slide_path, mpp=mpp) as wsi:
        if patches is None:
            grid = patch_slide(
                wsi,
                magnification=magnification,
                patch_size=patch_size,
                tissue_threshold=tissue_threshold,
            )
        elif isinstance(patches, PatchGrid):
            grid = patches
        else:
            grid = load_patch_grid(patches, wsi)
        attrs = _attrs(encoder, grid, wsi)
        chunks: list[np.ndarray] = []
        bar = tqdm(total=len(grid), desc=slide_id, unit="patch", disable=not progress, leave=False)
        batches = _read_batches(wsi, grid, batch_size, prefetch, readers)
        try:
            for batch in batches:
                chunks.append(encoder.encode(batch, patch_size=grid.level.patch_size, amp=amp))
                bar.update(len(batch))
        finally:
            batches.close()  # stops the reader thread before the slide is closed
            bar.close()
    features = (
        np.concatenate(chunks).astype(np.float32)
        if chunks
        else np.zeros((0, encoder.embed_dim), np.float32)
    )
    coords = grid.coords
    attrs["n_patches_tissue"] = len(coords)
    if len(coords) == 0:
        warnings.warn(
            f"slide {slide_id!r}: no tissue patches found (tissue_threshold="
            f"{grid.tissue_threshold:g}); writing an empty feature file with shape "
            f"(0, {encoder.embed_dim})",
            NoTissueWarning,
            stacklevel=2,
        )
    elif patch_filter is not None:
        keep = apply_patch_filter(patch_filter, features, coords)
        features, coords = features[keep], coords[keep]
        if not keep.any():
            warnings.warn(
                f"slide {slide_id!r}: the patch filter {patch_filter.name!r} rejected all "
                f"{len(keep)} patches; writing an empty feature file",
                NoTissueWarning,
                stacklevel=2,
            )
    attrs["patch_filter"] = patch_filter.name if patch_filter is not None else "none"
    write_features(output, features, coords, attrs)
    return ExtractionResult(slide_id, output, len(features), skipped=False)


def extract_slides(
    slides: Sequence[str | Path],
    out_dir: str | Path,
    encoder: PatchEncoder,
    *,
    patches_dir: str | Path | None = None,
    **kwargs: Any,
) -> list[ExtractionResult]:
    """Run :func:`extract_features` over many slides, writing ``<out_dir>/<slide_id>.h5``.

    Slides whose complete output already exists are skipped (resume).

    Parameters
    ----------
    slides : sequence of paths
        Slide files or folders (see :func:`find_slides`).
    out_dir : path
        Output folder.
    encoder : PatchEncoder
    patches_dir : path, optional
        Folder of ``<slide_id>.h5`` patch files to use instead of segmenting again.
    **kwargs
        Passed to :func:`extract_features`.

    Examples
    --------
    >>> results = extract_slides(["slides/"], "features/", enc)  # doctest: +SKIP
    """
    return [
        extract_features(path, target, encoder, patches=patches, **kwargs)
        for path, target, patches in slide_jobs(slides, out_dir, patches_dir)
    ]


def slide_jobs(
    slides: Sequence[str | Path], out_dir: str | Path, patches_dir: str | Path | None = None
) -> list[tuple[Path, Path, Path | None]]:
    """``(slide, feature file, patch file or None)`` for each slide of an extraction run.

    The feature file is ``<out_dir>/<slide_id>.h5``; with ``patches_dir`` every
    slide needs its ``<patches_dir>/<slide_id>.h5`` (a missing one is an error
    before any work starts).
    """
    out = Path(out_dir)
    jobs: list[tuple[Path, Path, Path | None]] = []
    for path in find_slides(slides):
        sid = _slide_id(path)
        patches: Path | None = None
        if patches_dir is not None:
            patches = Path(patches_dir) / f"{sid}.h5"
            if not patches.is_file():
                raise ValueError(
                    f"no patch file {str(patches)!r} for slide {path.name!r}; run "
                    "'coxmt wsi patch' first or leave out the patches folder"
                )
        jobs.append((path, out / f"{sid}.h5", patches))
    return jobs
