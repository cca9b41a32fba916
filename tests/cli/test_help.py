"""``--help`` of the tool and of every command: rendered, no ``<bool>``, every command listed."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from coxmt.cli import app
from coxmt.cli._common import THREADS_HELP

# commands that train or score a model take --threads (same default and help everywhere)
THREADED = {
    ("demo",), ("fit",), ("predict",), ("evaluate",), ("cv",), ("sweep",),
    ("wsi", "fit"), ("wsi", "predict"), ("wsi", "evaluate"),
}  # fmt: skip


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    if hasattr(command, "commands"):  # a group (typer may vendor its own click)
        for name, sub in sorted(command.commands.items()):
            out += _paths(sub, (*prefix, name))
    return out


ROOT = typer.main.get_command(app)
PATHS = _paths(ROOT)


def _help(path: tuple[str, ...]) -> str:
    res = CliRunner().invoke(app, [*path, "--help"])
    assert res.exit_code == 0, res.output
    return res.output


def test_every_command_is_found() -> None:
    names = {" ".join(p) for p in PATHS}
    expected = {"fit", "predict", "evaluate", "cv", "sweep", "demo", "report", "wsi", "wsi fit",
                "wsi predict", "wsi evaluate", "wsi extract", "wsi heatmap"}  # fmt: skip
    assert expected <= names, sorted(names)


@pytest.mark.parametrize("path", [pytest.param(p, id=" ".join(p) or "coxmt") for p in PATHS])
def test_help_renders_plainly(path: tuple[str, ...]) -> None:
    text = _help(path)
    assert "<bool>" not in text and "--help" in text
    command: Any = ROOT
    for name in path:
        command = command.commands[name]
    if hasattr(command, "commands"):  # a group lists each of its commands
        for name in command.commands:
            assert f" {name} " in text or f" {name}\n" in text, (name, text)
    if path in THREADED:
        assert "--threads" in text
        (threads,) = [p for p in command.params if p.name == "threads"]
        assert threads.default == 1 and threads.help.startswith(THREADS_HELP)
