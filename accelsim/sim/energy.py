"""SRAM energy per byte as a function of capacity, for levels that give no figure.

Horowitz (ISSCC 2014, 45 nm) gives a 64-bit access at 10 pJ for an 8 KB SRAM, 20 pJ for
32 KB and 100 pJ for 1 MB: 1.25, 2.5 and 12.5 pJ per byte. A power law through the two
ends, E(C) = 1.25 pJ/B x (C / 8 KiB)^k with k = log 10 / log 128 (about 0.475), gives
2.41 pJ/B at 32 KiB, within 4 % of the middle figure: energy grows roughly with the
square root of capacity, as wire length across the array does (CACTI shows the same
trend). Reads and writes cost the same in this model.
"""

from __future__ import annotations

import math

from accelsim.config.memory import MemoryLevel

__all__ = ["EXPONENT", "REFERENCE_BYTES", "REFERENCE_J", "level_energy", "sram_energy_per_byte"]

#: The small end of the fit: an 8 KiB array at 1.25 pJ per byte.
REFERENCE_BYTES = 8 * 1024
REFERENCE_J = 1.25e-12
#: Exponent through (8 KiB, 1.25 pJ/B) and (1 MiB, 12.5 pJ/B).
EXPONENT = math.log(10) / math.log(1024 * 1024 / REFERENCE_BYTES)


def sram_energy_per_byte(capacity: float) -> float:
    """J per byte read or written in an SRAM array of `capacity` bytes (the fit above)."""
    return REFERENCE_J * (capacity / REFERENCE_BYTES) ** EXPONENT


def level_energy(level: MemoryLevel) -> tuple[float, float]:
    """(read, write) J per byte of a level: its own figures, else the model at its capacity
    (per PE for per_pe levels: each PE's array is that small)."""
    model = sram_energy_per_byte(level.capacity)
    read = model if level.read_energy is None else level.read_energy
    write = model if level.write_energy is None else level.write_energy
    return read, write
