"""Mapping: where each tensor lives and what moves when (the schedule), per policy."""

from __future__ import annotations

from accelsim.mapping.options import BUFFERINGS, Buffering, BuildOptions
from accelsim.mapping.policies import POLICIES, build_schedule
from accelsim.mapping.schedule import (
    Alloc,
    Compute,
    Free,
    LayerSchedule,
    Load,
    Region,
    Schedule,
    Store,
    TensorPlacement,
    Tile,
)
from accelsim.mapping.tiling import Sizes, TilePlan, search_tiles

__all__ = ["BUFFERINGS", "POLICIES", "Alloc", "Buffering", "BuildOptions", "Compute", "Free",
           "LayerSchedule", "Load", "Region", "Schedule", "Sizes", "Store", "TensorPlacement",
           "Tile", "TilePlan", "build_schedule", "search_tiles"]
