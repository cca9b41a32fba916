"""A sphinx-gallery image scraper for the figures that coxmt's plotting functions return.

In a module of its own so that Sphinx can pickle the configuration that holds it.
"""

from __future__ import annotations

from typing import Any


class FigureScraper:
    """Show the matplotlib figures that coxmt's plotting functions return.

    coxmt.reporting builds figures with ``matplotlib.figure.Figure`` (not pyplot), which
    sphinx-gallery's own matplotlib scraper does not see: a figure assigned to a variable
    of the tutorial is shown after the block that made it.
    """

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def __repr__(self) -> str:  # a stable repr keeps sphinx-gallery's cache valid
        return "FigureScraper"

    def __call__(self, block: Any, block_vars: dict[str, Any], gallery_conf: dict[str, Any]) -> str:
        from matplotlib.figure import Figure
        from sphinx_gallery.scrapers import figure_rst

        if block_vars.get("image_path_iterator") is None:
            return ""
        paths = []
        for value in list(block_vars["example_globals"].values()):
            if isinstance(value, Figure) and id(value) not in self.seen:
                self.seen.add(id(value))
                if value.canvas.manager is not None:  # a pyplot figure: matplotlib's scraper
                    continue
                path = next(block_vars["image_path_iterator"])
                value.savefig(path, dpi=100, bbox_inches="tight")
                paths.append(path)
        return figure_rst(paths, gallery_conf["src_dir"])
