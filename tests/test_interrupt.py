"""Nothing is lost on interruption, and runs are reproducible.

``coxmt cv`` is started as a real process (``python -m coxmt``) on a small synthetic
table with enough folds to take a few seconds. As soon as the first finished part
appears in ``results/parts``, the process gets SIGTERM (or SIGINT, as Ctrl-C
sends). It must exit promptly with code 130 and a one-line message, leaving only
valid files (every part parses, no temporary files). Running the same command
again resumes from those parts without recomputing them, and the final tables
equal those of an uninterrupted run bit for bit (``fit_seconds``, a wall-clock
timing, aside).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from coxmt.cli import app
from coxmt.cli._common import sigterm_as_interrupt

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX signals (SIGTERM) are not available on Windows"
)

N, P = 150, 10
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "PYTHONWARNINGS": "ignore",
}


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, P))
    t_event = rng.exponential(np.exp(-X[:, 0]))
    t_cens = rng.exponential(1.5, size=N)
    frame = pd.DataFrame(X, columns=[f"g{j}" for j in range(P)])
    frame.insert(0, "case_id", [f"P{i:03d}" for i in range(N)])
    frame.insert(1, "time", np.minimum(t_event, t_cens))
    frame.insert(2, "event", (t_event <= t_cens).astype(int))
    path = tmp_path_factory.mktemp("data") / "cohort.csv"
    frame.to_csv(path, index=False)
    return path


def _command(table: Path, out: Path) -> list[str]:
    # 20 tasks of about 0.1 s each after a few seconds of start-up
    return [sys.executable, "-m", "coxmt", "cv", "--data", str(table), "--id-col", "case_id",
            "--models", "coxnnet", "--folds", "5", "--repeats", "4", "--epochs", "60",
            "--jobs", "1", "--no-progress", "--out", str(out)]  # fmt: skip


def _run(table: Path, out: Path) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        _command(table, out), env=ENV, capture_output=True, text=True, timeout=300, check=False
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res


@pytest.fixture(scope="module")
def reference(table: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run."""
    out = tmp_path_factory.mktemp("reference") / "results"
    _run(table, out)
    return out


def _wait_for_part(proc: subprocess.Popen[str], parts: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if parts.is_dir() and any(parts.glob("*.json")):
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(
                f"coxmt cv ended before writing a part (code {proc.returncode}):\n{out}{err}"
            )
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no part file appeared within the timeout")


def _check_left_files(out: Path) -> dict[str, int]:
    """Every file present is complete and valid; returns part name -> mtime."""
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == "coxmt-cv"
    splits = pd.read_csv(out / "splits.csv")
    assert set(splits["set"]) == {"train", "test"} and len(splits) == 20 * N
    assert not (out / "results.csv").exists()  # written only when every task has finished
    parts = {}
    for f in sorted((out / "parts").iterdir()):
        part = json.loads(f.read_text())
        assert part["config_hash"] == config["config_hash"]
        assert {"model", "repeat", "fold", "c_index", "rows", "risk"} <= set(part)
        assert len(part["rows"]) == len(part["risk"]) == part["n_test"]
        parts[f.name] = f.stat().st_mtime_ns
    return parts


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, float_precision="round_trip")


@pytest.mark.parametrize(
    "sig",
    [
        pytest.param(signal.SIGTERM, id="SIGTERM"),
        pytest.param(signal.SIGINT, id="SIGINT", marks=pytest.mark.slow),
    ],
)
def test_interrupted_cv_keeps_finished_parts_and_resumes_identically(
    table: Path, reference: Path, tmp_path: Path, sig: int
) -> None:
    out = tmp_path / "results"
    proc = subprocess.Popen(
        _command(table, out), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for_part(proc, out / "parts")
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted" in stderr and "run the same command again to resume" in stderr
    assert "Traceback" not in stdout + stderr
    parts = _check_left_files(out)
    assert 1 <= len(parts) < 20

    _run(table, out)  # resume
    for name, mtime in parts.items():  # finished parts were loaded, not recomputed
        assert (out / "parts" / name).stat().st_mtime_ns == mtime
    assert len(list((out / "parts").glob("*.json"))) == 20
    assert (out / "predictions.csv").read_bytes() == (reference / "predictions.csv").read_bytes()
    assert (out / "splits.csv").read_bytes() == (reference / "splits.csv").read_bytes()
    got, want = _read(out / "results.csv"), _read(reference / "results.csv")
    pd.testing.assert_frame_equal(
        got.drop(columns="fit_seconds"), want.drop(columns="fit_seconds"), check_exact=True
    )


def test_sigterm_becomes_keyboard_interrupt_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts the sleep
    assert signal.getsignal(signal.SIGTERM) == before


def _cli_cv(table: Path, out: Path, *extra: Any) -> pd.DataFrame:
    args = ["cv", "--data", table, "--id-col", "case_id", "--models", "coxnnet,coxph",
            "--folds", 3, "--repeats", 1, "--epochs", 20, "--no-progress", "--out", out, *extra]  # fmt: skip
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return _read(out / "results.csv").drop(columns="fit_seconds")


def test_same_command_in_a_new_folder_gives_identical_results(table: Path, tmp_path: Path) -> None:
    first = _cli_cv(table, tmp_path / "a")
    second = _cli_cv(table, tmp_path / "b")
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    assert (tmp_path / "a" / "predictions.csv").read_bytes() == (
        tmp_path / "b" / "predictions.csv"
    ).read_bytes()
    # config.json records the full command (every option, defaults included): run again
    # in a new folder, it reproduces the results
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["random_state"] == 0 and config["coxmt_version"]
    words = shlex.split(config["data"]["command"])
    assert words[:2] == ["coxmt", "cv"] and "--folds" in words and "--seed" in words
    words[words.index("--out") + 1] = str(tmp_path / "c")
    res = CliRunner().invoke(app, words[1:])
    assert res.exit_code == 0, res.output
    third = _read(tmp_path / "c" / "results.csv").drop(columns="fit_seconds")
    pd.testing.assert_frame_equal(first, third, check_exact=True)


@pytest.mark.slow
def test_cli_results_do_not_depend_on_the_number_of_workers(table: Path, tmp_path: Path) -> None:
    serial = subprocess.run(
        [*_command(table, tmp_path / "one")[:-2], "--out", str(tmp_path / "one")],
        env=ENV, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert serial.returncode == 0, serial.stderr
    cmd = _command(table, tmp_path / "two")
    cmd[cmd.index("--jobs") + 1] = "2"
    parallel = subprocess.run(
        cmd, env=ENV, capture_output=True, text=True, timeout=300, check=False
    )
    assert parallel.returncode == 0, parallel.stderr
    assert (tmp_path / "one" / "predictions.csv").read_bytes() == (
        tmp_path / "two" / "predictions.csv"
    ).read_bytes()
    pd.testing.assert_frame_equal(
        _read(tmp_path / "one" / "results.csv").drop(columns="fit_seconds"),
        _read(tmp_path / "two" / "results.csv").drop(columns="fit_seconds"),
        check_exact=True,
    )
