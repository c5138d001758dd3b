"""LayerCost: one layer's work, traffic, time and energy; network totals are a sum of them.

Time model (per layer):
    compute_time_s       = MACs / mac_rate, or PE-array cycles / clock
    data_movement_time_s = (DRAM read + write bytes) / bandwidth + latency * transfers
    total_time_s         = compute + data movement      (overlap: false, the 004 method)
                         = from the event timeline       (overlap: true, see timeline.py)
Energy: MACs * mac + SRAM reads/writes + DRAM reads/writes, each bytes * J/byte.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["LayerCost", "layer_times"]


@dataclass(frozen=True)
class LayerCost:
    """Additive per-layer cost record (bytes, seconds, joules; all for the whole batch)."""

    macs: int = 0
    compute_cycles: int = 0
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    sram_read_bytes: int = 0
    sram_write_bytes: int = 0
    transfers: int = 0
    compute_time_s: float = 0.0
    data_movement_time_s: float = 0.0
    total_time_s: float = 0.0
    energy_mac_j: float = 0.0
    energy_sram_j: float = 0.0
    energy_dram_j: float = 0.0

    def __add__(self, other: LayerCost) -> LayerCost:
        return LayerCost(*(getattr(self, f.name) + getattr(other, f.name)
                           for f in fields(self)))

    @property
    def dram_bytes(self) -> int:
        """Bytes crossing the DRAM bus in either direction."""
        return self.dram_read_bytes + self.dram_write_bytes

    @property
    def energy_j(self) -> float:
        """Total energy: MACs + SRAM + DRAM."""
        return self.energy_mac_j + self.energy_sram_j + self.energy_dram_j


def layer_times(
    compute_s: np.ndarray | float, dram_bytes: np.ndarray | float, transfers: np.ndarray | float,
    bandwidth: np.ndarray | float, latency: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """(data-movement time, serial layer time) per layer; every argument broadcasts (NumPy).

    Serial is the `overlap: false` rule: compute, then data movement, never both at once.
    """
    movement = np.asarray(dram_bytes, dtype=float) / bandwidth + np.asarray(
        latency, dtype=float) * transfers
    return movement, np.add(compute_s, movement)
