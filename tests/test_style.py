"""House style runs with the tests: ruff (lint) and mypy (types) must pass on the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    # the interpreter's own ruff: the suite passes without the virtual environment activated
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "accelsim", "tests",
                          "benchmarks", "examples"], cwd=ROOT, capture_output=True, text=True)
    assert "No module named ruff" not in run.stderr, "ruff is missing: pip install -e '.[dev]'"
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_is_clean() -> None:
    run = subprocess.run([sys.executable, "-m", "mypy", "accelsim"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
