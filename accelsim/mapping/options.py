"""BuildOptions: how a schedule is built beyond its policy (buffering, reference, passes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["BUFFERINGS", "Buffering", "BuildOptions"]

#: How transfers may run ahead of computes (overlap mode):
#: `none`: every transfer just before the compute that needs it (the serial schedule);
#: `filters`: also load later layers' filters early, only where the serial schedule's
#: occupancy leaves room, so nothing else changes; `full`: also give tiled layers two tile
#: buffer sets and load the next tile while the current one computes.
Buffering = Literal["none", "filters", "full"]
BUFFERINGS: tuple[Buffering, ...] = ("none", "filters", "full")


@dataclass(frozen=True)
class BuildOptions:
    """How a schedule is built beyond its policy: buffering; the serial schedule's
    per-layer SRAM peaks that bound where early filter loads fit (empty: no early loads);
    samples per pass of the network (0: the best, see accelsim.mapping.batching)."""

    buffering: Buffering = "none"
    reference_peaks: tuple[int, ...] = ()
    sub_batch: int = 0
    #: Passes of the network this build is one of (the tile budget is for all of them).
    passes: int = 1
