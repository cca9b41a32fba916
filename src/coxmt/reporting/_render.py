"""A small document model (sections of paragraphs, tables, figures) and its HTML/Markdown renderers.

The HTML is one self-contained file: figures are embedded as base64 PNG data
URIs, the stylesheet is inline, there is no JavaScript, and every piece of text
goes through :func:`html.escape`. The Markdown references the PNG files in
``figures/``.
"""

from __future__ import annotations

import base64
import html
import re
import struct
from dataclasses import dataclass, field

__all__ = [
    "Bullets",
    "Cell",
    "Details",
    "Document",
    "Image",
    "ImageGrid",
    "KeyValues",
    "Para",
    "Section",
    "Table",
    "render_html",
    "render_markdown",
]


@dataclass
class Para:
    text: str
    muted: bool = False


@dataclass
class Bullets:
    items: list[tuple[str, str]]  # (bold lead, text)


@dataclass
class Cell:
    text: str
    sub: str = ""
    bold: bool = False
    wrap: bool = False  # let long text wrap (cells do not wrap by default)


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    numeric_from: int = 1  # columns from this index are right-aligned
    group_starts: list[int] = field(default_factory=list)  # rows that open a new group


@dataclass
class KeyValues:
    pairs: list[tuple[str, str]]


@dataclass
class Image:
    name: str  # file name under figures/
    png: bytes
    caption: str
    alt: str


@dataclass
class ImageGrid:
    figures: list[Image]
    wide: bool = False  # one figure per row


@dataclass
class Details:
    summary: str
    text: str


Block = Para | Bullets | Table | KeyValues | Image | ImageGrid | Details


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    anchor: str = ""


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]


def _png_width(png: bytes) -> int:
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        return 0
    return int(struct.unpack(">I", png[16:20])[0])


_CSS = """
:root { --fg: #1d2330; --muted: #5b6472; --line: #d9dde3; --accent: #0072B2; --bg-alt: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #ffffff;
  font: 15px/1.55 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "DejaVu Sans", sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 32px 28px 56px; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 14px; margin-bottom: 8px; }
h1 { font-size: 28px; margin: 0 0 4px; letter-spacing: -0.01em; }
.subtitle { color: var(--muted); margin: 0; }
nav { font-size: 13.5px; margin: 10px 0 0; color: var(--muted); }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; }
h2 { font-size: 20px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
p { margin: 8px 0; }
.muted { color: var(--muted); font-size: 13.5px; }
table { border-collapse: collapse; margin: 10px 0 6px; font-size: 14px; width: auto; max-width: 100%; }
.table-wrap { overflow-x: auto; }
th, td { padding: 6px 11px; border-bottom: 1px solid var(--line); vertical-align: top; text-align: left;
  white-space: nowrap; }
tr.group-start td { border-top: 2px solid #b9c0ca; }
th { background: var(--bg-alt); font-weight: 600; border-bottom: 2px solid #c5cbd3; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
td .sub { display: block; color: var(--muted); font-size: 12px; }
td strong { color: #000; }
p.caption { color: var(--muted); font-size: 12.5px; margin: 4px 0 14px; max-width: 880px; }
table.kv th { background: none; border-bottom: 1px solid var(--line); width: 190px; white-space: normal; }
table.kv td, td.wrap { white-space: normal; }
figure { margin: 14px 0 20px; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid #eceef1; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 6px; max-width: 820px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 6px 22px; }
.grid.wide { grid-template-columns: 1fr; }
ul.read { padding-left: 20px; } ul.read li { margin: 6px 0; }
details { margin: 12px 0; } summary { cursor: pointer; color: var(--accent); }
pre { background: var(--bg-alt); border: 1px solid var(--line); padding: 12px; overflow-x: auto;
  font-size: 12.5px; line-height: 1.4; }
footer { margin-top: 40px; color: var(--muted); font-size: 12.5px; border-top: 1px solid var(--line);
  padding-top: 10px; }
@media print { main { max-width: none; } .grid { display: block; } }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_table(t: Table) -> str:
    out = ['<div class="table-wrap"><table>']
    cls = [' class="num"' if i >= t.numeric_from else "" for i in range(len(t.header))]
    out.append(
        "<thead><tr>"
        + "".join(f"<th{c}>{_e(h)}</th>" for c, h in zip(cls, t.header, strict=True))
        + "</tr></thead>"
    )
    out.append("<tbody>")
    starts = set(t.group_starts[1:])
    for i, row in enumerate(t.rows):
        cells = []
        for c, cell in zip(cls, row, strict=True):
            body = _e(cell.text)
            if cell.bold:
                body = f"<strong>{body}</strong>"
            if cell.sub:
                body += f'<span class="sub">{_e(cell.sub)}</span>'
            cells.append(f'<td class="wrap">{body}</td>' if cell.wrap else f"<td{c}>{body}</td>")
        tr = '<tr class="group-start">' if i in starts else "<tr>"
        out.append(tr + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    if t.caption:
        out.append(f'<p class="caption">{_e(t.caption)}</p>')
    return "\n".join(out)


def _html_figure(f: Image) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    width = _png_width(f.png)
    w = f' width="{round(width * 0.64)}"' if width else ""
    return (
        f'<figure id="fig-{_e(f.name.rsplit(".", 1)[0])}"><img src="data:image/png;base64,{data}"'
        f' alt="{_e(f.alt)}"{w}><figcaption>{_e(f.caption)}</figcaption></figure>'
    )


def _html_block(b: Block) -> str:
    if isinstance(b, Para):
        return f'<p class="muted">{_e(b.text)}</p>' if b.muted else f"<p>{_e(b.text)}</p>"
    if isinstance(b, Bullets):
        items = "".join(
            f"<li><strong>{_e(lead)}</strong> {_e(text)}</li>" if lead else f"<li>{_e(text)}</li>"
            for lead, text in b.items
        )
        return f'<ul class="read">{items}</ul>'
    if isinstance(b, Table):
        return _html_table(b)
    if isinstance(b, KeyValues):
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in b.pairs)
        return f'<table class="kv"><tbody>{rows}</tbody></table>'
    if isinstance(b, Image):
        return _html_figure(b)
    if isinstance(b, ImageGrid):
        cls = "grid wide" if b.wide else "grid"
        return f'<div class="{cls}">' + "".join(_html_figure(f) for f in b.figures) + "</div>"
    return f"<details><summary>{_e(b.summary)}</summary><pre>{_e(b.text)}</pre></details>"


def render_html(doc: Document, footer: str) -> str:
    """The whole report as one HTML page."""
    nav = "".join(f'<a href="#{_e(s.anchor)}">{_e(s.title)}</a>' for s in doc.sections if s.anchor)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(doc.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f'<header><h1>{_e(doc.title)}</h1><p class="subtitle">{_e(doc.subtitle)}</p>'
        f"<nav>{nav}</nav></header>",
    ]
    for s in doc.sections:
        anchor = f' id="{_e(s.anchor)}"' if s.anchor else ""
        parts.append(f"<section{anchor}><h2>{_e(s.title)}</h2>")
        parts.extend(_html_block(b) for b in s.blocks)
        parts.append("</section>")
    parts += [f"<footer>{_e(footer)}</footer>", "</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def _md(text: object) -> str:
    """Plain text for Markdown: markup characters escaped, no raw HTML, one line."""
    out = _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")
    return out.replace("<", "&lt;").replace(">", "&gt;")


def _md_table(t: Table) -> list[str]:
    def cell(c: Cell) -> str:
        text = f"**{_md(c.text)}**" if c.bold and c.text else _md(c.text)
        return text + (f" ({_md(c.sub)})" if c.sub else "")

    align = ["---:" if i >= t.numeric_from else ":---" for i in range(len(t.header))]
    lines = [
        "| " + " | ".join(_md(h) for h in t.header) + " |",
        "| " + " | ".join(align) + " |",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    if t.caption:
        lines += ["", f"*{_md(t.caption)}*"]
    return lines


def _md_figure(f: Image) -> list[str]:
    return [f"![{_md(f.alt)}](figures/{f.name})", "", f"*{_md(f.caption)}*"]


def _md_block(b: Block) -> list[str]:
    if isinstance(b, Para):
        return [f"*{_md(b.text)}*" if b.muted else _md(b.text)]
    if isinstance(b, Bullets):
        return [
            f"- **{_md(lead)}** {_md(text)}" if lead else f"- {_md(text)}" for lead, text in b.items
        ]
    if isinstance(b, Table):
        return _md_table(b)
    if isinstance(b, KeyValues):
        return _md_table(
            Table(["Item", "Value"], [[Cell(k), Cell(v)] for k, v in b.pairs], numeric_from=99)
        )
    if isinstance(b, Image):
        return _md_figure(b)
    if isinstance(b, ImageGrid):
        out: list[str] = []
        for f in b.figures:
            out += [*_md_figure(f), ""]
        return out[:-1]
    fence = "```"
    return [
        f"<details><summary>{html.escape(b.summary)}</summary>",
        "",
        fence + "json",
        b.text.replace(fence, "` ` `"),
        fence,
        "",
        "</details>",
    ]


def render_markdown(doc: Document, footer: str) -> str:
    """The report as Markdown; figures are referenced from ``figures/``."""
    lines = [f"# {_md(doc.title)}", "", _md(doc.subtitle), ""]
    for s in doc.sections:
        lines += [f"## {_md(s.title)}", ""]
        for b in s.blocks:
            lines += [*_md_block(b), ""]
    lines += ["---", "", f"*{_md(footer)}*", ""]
    return "\n".join(lines)
