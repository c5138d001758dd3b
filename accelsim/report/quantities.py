"""Quantities written for people: decimal SI prefixes and binary sizes.

Kept apart from the tables (which import the simulator's results) so that the plots, and
the process that draws them, import only this and matplotlib.
"""

from __future__ import annotations

import math

__all__ = ["binary_size", "si", "size_text"]

_PREFIXES = (
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
    (1.0, ""),
    (1e-3, "m"),
    (1e-6, "µ"),
    (1e-9, "n"),
    (1e-12, "p"),
)


def si(value: float, unit: str, digits: int = 3) -> str:
    """A value with a decimal SI prefix: si(1.36e6, 'B') -> '1.36 MB', si(2e-4, 'J') -> '200 µJ'."""
    if not math.isfinite(value) or value == 0:
        return f"{value:g} {unit}"
    rounding = 1 - 5 * 10 ** -(digits + 1)  # 999.96 kB reads as 1 MB, not 1e+03 kB
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale * rounding:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}"


_BINARY = ((1024**4, "TiB"), (1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB"))


def binary_size(capacity_bytes: float) -> bool:
    """True when a size reads best in binary units: a whole number of KiB (256 KiB, 1 MiB)."""
    return capacity_bytes >= 1024 and float(capacity_bytes) % 1024 == 0


def size_text(value: float, binary: bool, digits: int = 3) -> str:
    """Bytes in binary units (size_text(262144, True) -> '256 KiB') or decimal SI ('262 kB').

    Reports choose `binary` once, from the SRAM capacity the user wrote, so every SRAM
    figure of a run reads in the same units.
    """
    if binary:
        for scale, unit in _BINARY:
            if abs(value) >= scale:
                scaled = value / scale
                text = f"{scaled:.{digits}g}" if abs(scaled) < 1000 else f"{scaled:,.0f}"
                return f"{text} {unit}"
    return si(value, "B", digits)
