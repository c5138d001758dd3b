"""Pausing Python's cyclic garbage collector around work that makes many objects at once.

A schedule is tens of thousands of small acyclic records, a figure some 10^5 short-lived
objects: while they are made, the collector would scan them again and again (a third of a
large schedule build, a fifth of drawing the layers figure) and find little to free.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["collector_paused"]


@contextlib.contextmanager
def collector_paused(promote: bool = False) -> Iterator[None]:
    """Pause the cyclic collector inside the block; on exit restore it as it was.

    `promote`: what was made meanwhile joins the oldest generation unscanned (frozen, then
    thawed there), for records that outlive the block and hold no cycles: re-enabled with
    them young, the collector would scan them all at the next allocation (a third of a
    64 KiB simulation again). Without it they stay young, and cycles made in the block (a
    figure's) are collected soon after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if promote:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
