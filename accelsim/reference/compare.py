"""One way to compare two output arrays, shared by schedule replay and `accelsim verify`.

The relative error is measured against the largest magnitude of the expected output, so
an element near zero cannot make float rounding look like a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Agreement", "compare"]


@dataclass(frozen=True)
class Agreement:
    """Largest absolute error, that error relative to max |expected|, and the verdict."""

    max_abs_err: float
    max_rel_err: float
    passed: bool


def compare(got: np.ndarray, expected: np.ndarray, rtol: float) -> Agreement:
    """Agreement of `got` with `expected`: exact when rtol is 0, else within rtol of scale."""
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    worst = float(diff.max(initial=0.0))
    scale = float(np.abs(expected.astype(np.float64)).max(initial=0.0))
    relative = worst / scale if scale > 0 else (0.0 if worst == 0 else float("inf"))
    passed = bool(np.array_equal(got, expected)) if rtol == 0 else relative <= rtol
    return Agreement(worst, relative, passed)
