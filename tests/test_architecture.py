"""The layer contract (ARCHITECTURE.md), checked with import-linter on every test run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run ``lint-imports`` on ``root/pyproject.toml`` with ``root/src`` importable."""
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = [str(exe)] if exe.exists() else [shutil.which("lint-imports") or "lint-imports"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [*cmd, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_layer_contract_is_kept() -> None:
    result = _lint_imports(ROOT)
    if result.returncode != 0:
        pytest.fail(f"lint-imports failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    assert "0 broken" in result.stdout


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the package and its configuration, to break on purpose."""
    shutil.copytree(ROOT / "src" / "coxmt", tmp_path / "src" / "coxmt",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "line", "message"),
    [
        pytest.param(
            "nn/mlp.py", "    from coxmt.estimators import CoxMT  # noqa",
            "coxmt.nn is not allowed to import coxmt.estimators", id="upward-inside-a-function",
        ),
        pytest.param(
            "io.py", "import coxmt.estimators  # noqa",
            "coxmt.io is not allowed to import coxmt.estimators", id="file-format-knows-a-class",
        ),
        pytest.param(
            "wsi/distributed.py", "import coxmt.experiments  # noqa",
            "coxmt.wsi is not allowed to import coxmt.experiments", id="wsi-to-experiments",
        ),
    ],
)  # fmt: skip
def test_a_violation_breaks_the_contract(
    package_copy: Path, module: str, line: str, message: str
) -> None:
    path = package_copy / "src" / "coxmt" / module
    text = path.read_text()
    if line.startswith(" "):  # an import inside a function counts too
        text += f"\n\ndef _late() -> None:\n{line}\n"
    else:
        text += f"\n{line}\n"
    path.write_text(text)
    result = _lint_imports(package_copy)
    assert result.returncode != 0
    assert message in " ".join(result.stdout.split())
