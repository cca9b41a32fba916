"""Sphinx configuration of the coxmt documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``. The API pages
are written from the packages' ``__all__`` (so they list the public API and nothing else),
the command-line pages from ``coxmt <command> --help``, and the tutorials in
``docs/tutorials/`` are executed by sphinx-gallery: an example that raises fails the build.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(DOCS / "_ext"))
# one thread per process: the examples train small networks, and extra threads only
# oversubscribe the cores of a shared machine
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from figure_scraper import FigureScraper  # noqa: E402

import coxmt  # noqa: E402

project = "coxmt"
author = "coxmt developers"
copyright = "coxmt developers, BSD-3-Clause"
release = coxmt.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "tutorials/README.rst", "**/GALLERY_HEADER.rst"]
html_theme = "pydata_sphinx_theme"
html_title = f"coxmt {release}"
html_static_path: list[str] = []
html_theme_options = {
    "header_links_before_dropdown": 4,
    "navigation_depth": 3,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
# pages without sub-pages need no section navigation
html_sidebars = {page: [] for page in ("index", "cli", "plan", "citing", "changelog")}

# -- API reference --------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
myst_heading_anchors = 3

#: The public modules documented in the API reference, in reading order, with one line each.
API_MODULES = {
    "coxmt": "The package: the estimators and helpers most code needs.",
    "coxmt.estimators": "scikit-learn compatible survival estimators.",
    "coxmt.model_selection": "Fitting and choosing models when unlabeled patients are involved.",
    "coxmt.preprocessing": "RNA-seq preprocessing: transform, top-variance genes, z-scores, clipping.",
    "coxmt.pipeline": "Pipelines that pass X_unlabeled through their steps.",
    "coxmt.metrics": "Concordance, Brier score, time-dependent AUC, bootstrap intervals.",
    "coxmt.losses": "Cox partial likelihood (Breslow, Efron) and the consistency loss.",
    "coxmt.baseline": "Breslow baseline hazard: survival curves for any risk model.",
    "coxmt.experiments": "Cross-validated comparisons on identical splits, paired statistics.",
    "coxmt.reporting": "HTML/Markdown reports and plots.",
    "coxmt.data": "Survival tables, the built-in cohort, feature tables.",
    "coxmt.io": "Saving and loading models (safetensors + JSON).",
    "coxmt.predict": "Scoring tables with a saved model.",
    "coxmt.training": "Training loop, Mean Teacher rules, callbacks.",
    "coxmt.nn": "PyTorch modules: MLP, attention-MIL, cross-attention fusion.",
    "coxmt.wsi": "Whole-slide images: tissue, patches, feature extraction, slide matching.",
}


def _public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    return [n for n in module.__all__ if not n.startswith("__")]


def _api_page(module_name: str) -> str:
    lines = [module_name, "=" * len(module_name), "", f".. automodule:: {module_name}", ""]
    if module_name == "coxmt":
        # The facade re-exports names documented on their own module's page: link there.
        homes = {name: coxmt._LAZY[name] for name in _public_names(module_name)}
        lines += [".. autosummary::", ""]
        lines += [
            f"   ~{home.removeprefix('coxmt.')}.{name}"
            for name, home in homes.items()
            if not home.startswith("coxmt._")
        ]
        lines += [
            "",
            ".. currentmodule:: coxmt",
            "",
            ".. autosummary::",
            "   :toctree: generated/",
            "",
        ]
        lines += [f"   {name}" for name, home in homes.items() if home.startswith("coxmt._")]
        lines.append("")
        return "\n".join(lines)
    lines += [
        ".. rubric:: Public names",
        "",
        f".. currentmodule:: {module_name}",
        "",
        ".. autosummary::",
        "   :toctree: generated/",
        "",
    ]
    lines += [f"   {name}" for name in _public_names(module_name)]
    lines.append("")
    return "\n".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write_api_pages() -> None:
    """One page per public module, listing exactly its ``__all__``."""
    folder = DOCS / "api"
    folder.mkdir(exist_ok=True)
    toc = [
        "API reference",
        "=============",
        "",
        "The public API: every name in the ``__all__`` of these modules, and nothing else.",
        "Names starting with ``_`` are internal and may change without notice.",
        "The examples in these docstrings run as doctests in CI (``--doctest-modules`` in",
        "pytest's ``addopts``), so they work with the version they document.",
        "",
        ".. list-table::",
        "   :widths: 30 70",
        "",
    ]
    for name, summary in API_MODULES.items():
        slug = name.replace(".", "_")
        _write_if_changed(folder / f"{slug}.rst", _api_page(name))
        toc += [f"   * - :doc:`{name} <{slug}>`", f"     - {summary}"]
    toc += ["", ".. toctree::", "   :hidden:", ""]
    toc += [f"   {name.replace('.', '_')}" for name in API_MODULES]
    toc.append("")
    _write_if_changed(folder / "index.rst", "\n".join(toc))


def write_cli_help() -> None:
    """``coxmt <command> --help`` of every command, as text files for the CLI page."""
    import typer
    from typer.testing import CliRunner

    from coxmt.cli import app

    folder = DOCS / "cli" / "_help"
    folder.mkdir(parents=True, exist_ok=True)
    runner = CliRunner()
    root = typer.main.get_command(app)
    paths: list[list[str]] = [[]]
    for name, command in getattr(root, "commands", {}).items():
        paths.append([name])
        if hasattr(command, "commands"):
            paths += [[name, sub] for sub in command.commands]
    env = {"COLUMNS": "88", "TERMINAL_WIDTH": "88", "NO_COLOR": "1"}
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env=env, prog_name="coxmt")
        if result.exit_code != 0:
            raise RuntimeError(f"coxmt {' '.join(path)} --help failed:\n{result.output}")
        stem = "_".join(["coxmt", *path]).replace("-", "_")
        _write_if_changed(folder / f"{stem}.txt", result.output.rstrip() + "\n")


def write_plan_page() -> None:
    """The pre-registered plan (benchmarks/experiments/plan/PLAN.md) as a page.

    Its links to the files beside it become their repository paths, in code style.
    """
    import re

    folder = "benchmarks/experiments/plan"
    text = (ROOT / folder / "PLAN.md").read_text(encoding="utf-8")
    text = re.sub(
        r"\[`?([^\]`]+)`?\]\((?!https?:)([^)]+)\)",
        lambda m: f"`{folder}/{m.group(2)}`",
        text,
    )
    head = "% generated by conf.py from benchmarks/experiments/plan/PLAN.md: edit that file\n\n"
    note = (
        "\n\n*This page reproduces `benchmarks/experiments/plan/PLAN.md` of the repository; "
        "the files it names are in the same folder.*\n"
    )
    first, _, rest = text.partition("\n")
    _write_if_changed(DOCS / "plan.md", head + first + note + rest)


write_api_pages()
write_cli_help()
write_plan_page()

# -- Tutorials (executed at build time) -----------------------------------------------


sphinx_gallery_conf = {
    "examples_dirs": ["tutorials"],
    "gallery_dirs": ["auto_tutorials"],
    "filename_pattern": r"/",  # execute every tutorial
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": False,  # run them all, then fail the build (below)
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "capture_repr": ("_repr_html_", "__repr__"),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 1,
    "image_scrapers": (FigureScraper(), "matplotlib"),  # ours first: it skips pyplot figures
}


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Document coxmt's own methods only, not those inherited from scikit-learn or torch."""
    if what == "class" and callable(obj):
        module = getattr(obj, "__module__", None) or "coxmt"
        if not module.startswith("coxmt"):
            return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
