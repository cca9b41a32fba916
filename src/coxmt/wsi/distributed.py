"""Slide feature extraction on a Ray cluster: one task per slide.

Every slide is one Ray task that asks for a GPU when the cluster has GPUs (else
runs on a CPU). Each worker process builds the encoder once and keeps it for
the following slides. Feature files are written atomically by
:func:`~coxmt.wsi.extract_features` as each slide finishes, and complete files
are skipped when the run is started again, so a killed worker or driver loses
only the slides in flight; a task whose worker process dies is retried
(``max_retries``).

Slides, patch files, the checkpoint and the output folder must be reachable at
the same paths from every node (a shared file system).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coxmt._ray import gather_ray, import_ray, init_ray
from coxmt.wsi.encoders import build_encoder
from coxmt.wsi.features import ExtractionResult, extract_features, slide_jobs
from coxmt.wsi.filters import load_patch_filter

__all__ = ["EncoderSpec", "SlideOutcome", "encoder_spec", "extract_slides_ray"]


@dataclass(frozen=True)
class EncoderSpec:
    """How each worker builds its encoder (the arguments of :func:`~coxmt.wsi.build_encoder`)."""

    name: str = "vit_small_patch14_dinov2"
    checkpoint: str | None = None
    input_size: int = 224
    backend: str = "auto"
    random_weights: bool = False
    device: str = "auto"
    model_kwargs: tuple[tuple[str, Any], ...] = ()

    def build(self) -> Any:
        return build_encoder(
            self.name,
            self.checkpoint,
            input_size=self.input_size,
            backend=self.backend,  # type: ignore[arg-type]
            random_weights=self.random_weights,
            device=self.device,
            model_kwargs=dict(self.model_kwargs) or None,
        )


@dataclass
class SlideOutcome:
    """One finished slide: the extraction result, warnings raised, the device used."""

    slide: Path
    result: ExtractionResult
    warnings: list[str] = field(default_factory=list)
    device: str = "cpu"


_ENCODERS: dict[str, Any] = {}  # per worker process, keyed by repr(spec)


def _extract_one(
    slide: Path,
    target: Path,
    patches: Path | None,
    spec: EncoderSpec,
    filter_spec: tuple[str, float | None] | None,
    kwargs: dict[str, Any],
) -> SlideOutcome:
    encoder = _ENCODERS.get(repr(spec))
    if encoder is None:
        encoder = _ENCODERS[repr(spec)] = spec.build()
    chosen = None
    if filter_spec is not None:
        chosen = load_patch_filter(filter_spec[0], threshold=filter_spec[1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = extract_features(
            slide, target, encoder, patches=patches, patch_filter=chosen, **kwargs
        )
    return SlideOutcome(slide, result, [str(w.message) for w in caught], str(encoder.device))


def _default_gpus(ray: Any) -> float:
    try:
        return 1.0 if float(ray.cluster_resources().get("GPU", 0.0)) >= 1.0 else 0.0
    except Exception:  # pragma: no cover - a cluster that cannot report resources
        return 0.0


def extract_slides_ray(
    slides: Sequence[str | Path],
    out_dir: str | Path,
    encoder: EncoderSpec,
    *,
    patches_dir: str | Path | None = None,
    patch_filter: str | Path | None = None,
    filter_threshold: float | None = None,
    address: str | None = None,
    num_gpus: float | None = None,
    num_cpus: float = 1,
    max_retries: int = 3,
    on_result: Callable[[SlideOutcome], None] | None = None,
    **kwargs: Any,
) -> list[ExtractionResult]:
    """Extract patch features of many slides, one Ray task per slide.

    Parameters
    ----------
    slides : sequence of paths
        Slide files or folders (see :func:`~coxmt.wsi.find_slides`).
    out_dir : path
        Folder for ``<slide_id>.h5`` feature files.
    encoder : EncoderSpec
        Encoder settings; every worker builds the encoder once.
    patches_dir : path, optional
        Folder of ``<slide_id>.h5`` patch files (default: segment and patch in the task).
    patch_filter : str or path, optional
        Patch filter specification for :func:`~coxmt.wsi.load_patch_filter`.
    filter_threshold : float, optional
        Overrides the filter's threshold.
    address : str, optional
        Ray cluster address; None uses ``RAY_ADDRESS`` or starts Ray on this machine.
    num_gpus : float, optional
        GPUs per task; default 1 when the cluster has GPUs, else 0 (CPU). With
        ``encoder.device="auto"`` a task without a GPU runs on the CPU.
    num_cpus : float, default 1
        CPUs per task (raise it to the number of ``readers`` to pack tasks tightly).
    max_retries : int, default 3
        Re-runs of a slide whose worker process died.
    on_result : callable, optional
        Called with each :class:`SlideOutcome` as it finishes (progress output).
    **kwargs
        Passed to :func:`~coxmt.wsi.extract_features` (``batch_size``, ``amp``,
        ``readers``, ``magnification``, ``overwrite`` ...).

    Returns
    -------
    list of ExtractionResult
        In the order of the slides.

    Examples
    --------
    >>> spec = EncoderSpec("vit_small_patch14_dinov2", "vits14.safetensors")
    >>> extract_slides_ray(["slides/"], "features/", spec, address="auto")  # doctest: +SKIP
    """
    ray = import_ray("extracting features on a Ray cluster")
    jobs = [
        (path.resolve(), target.resolve(), patches)
        for path, target, patches in slide_jobs(slides, out_dir, patches_dir)
    ]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    if not jobs:
        return []
    init_ray(address)
    gpus = _default_gpus(ray) if num_gpus is None else float(num_gpus)
    remote = ray.remote(_extract_one).options(
        num_cpus=num_cpus, num_gpus=gpus, max_retries=int(max_retries)
    )
    filt = None if patch_filter is None else (str(patch_filter), filter_threshold)
    options = {"progress": False, **kwargs}
    index = {}
    for k, (path, target, patches) in enumerate(jobs):
        ref = remote.remote(path, target, patches, encoder, filt, options)
        index[ref] = k
    results: list[ExtractionResult | None] = [None] * len(jobs)

    def done(ref: Any, outcome: SlideOutcome) -> None:
        results[index[ref]] = outcome.result
        if on_result is not None:
            on_result(outcome)

    gather_ray(list(index), done)
    return [r for r in results if r is not None]


def encoder_spec(
    name: str | Path,
    checkpoint: str | Path | None,
    *,
    input_size: int = 224,
    backend: str = "auto",
    device: str = "auto",
    random_weights: bool = False,
    model_kwargs: Mapping[str, Any] | None = None,
) -> EncoderSpec:
    """An :class:`EncoderSpec` with absolute paths (workers may start in other folders)."""
    nm = str(Path(name).resolve()) if str(name).endswith(".json") else str(name)
    ck = None if checkpoint is None else str(Path(checkpoint).resolve())
    kw = tuple(sorted((model_kwargs or {}).items()))
    return EncoderSpec(nm, ck, int(input_size), backend, random_weights, device, kw)
