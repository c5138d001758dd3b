"""SramTracker: the SRAM as policies see it while they build a schedule.

Every action goes through it, so occupancy, the peak and the capacity invariant are
accounted in one place: an action that would exceed capacity raises ScheduleError,
which is a bug in a policy, never a result.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.errors import ScheduleError
from accelsim.mapping.schedule import (
    Action,
    Alloc,
    Compute,
    Free,
    LayerSchedule,
    Load,
    Region,
    Store,
)

__all__ = ["Resident", "SramTracker", "buffer_name"]


_PREFIX = {"weights": "w", "fmap": "fmap", "psum": "psum"}


def buffer_name(kind: str, tensor: str, region: Region) -> str:
    """Canonical buffer name: 'fmap:x', 'w:conv1@c0-32', 'fmap:x@r0-8', 'psum:y@r0-1'."""
    prefix = _PREFIX[kind]
    label = region.label()
    return f"{prefix}:{tensor}@{label}" if label else f"{prefix}:{tensor}"


@dataclass(frozen=True)
class Resident:
    """A buffer held in SRAM: its name, what it holds (kind, tensor, region) and its size."""

    buffer: str
    kind: str
    tensor: str
    region: Region
    size: int


class SramTracker:
    """Resident buffers and their sizes; records each action into the current layer."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.resident: dict[str, Resident] = {}
        self.used = 0
        self.layer: LayerSchedule | None = None
        self.order: list[int] = []  # LayerSchedule.index - 1 of each action, as recorded

    def begin(self, layer: LayerSchedule) -> None:
        """Start recording actions for `layer`."""
        self.layer = layer
        layer.peak_sram_bytes = self.used

    def switch(self, layer: LayerSchedule) -> None:
        """Record the next actions for `layer`, which may already hold some (fused groups)."""
        self.layer = layer
        layer.peak_sram_bytes = max(layer.peak_sram_bytes, self.used)

    def end(self) -> None:
        """Close the current layer, noting what stays resident after it."""
        assert self.layer is not None
        self.layer.end_sram_bytes = self.used
        self.layer = None

    def _record(self, action: Action) -> None:
        assert self.layer is not None, "actions must happen inside a layer"
        self.layer.actions.append(action)
        self.order.append(self.layer.index - 1)
        self.layer.peak_sram_bytes = max(self.layer.peak_sram_bytes, self.used)

    def _take(self, buffer: str, kind: str, tensor: str, region: Region, size: int) -> None:
        if buffer in self.resident:
            raise ScheduleError(f"buffer {buffer} is already resident")
        if self.used + size > self.capacity:
            raise ScheduleError(
                f"internal error: {buffer} ({size} B) would exceed SRAM capacity "
                f"({self.used} + {size} > {self.capacity} B)"
            )
        self.resident[buffer] = Resident(buffer, kind, tensor, region, size)
        self.used += size

    def fits(self, size: int) -> bool:
        """True if `size` more bytes fit right now."""
        return self.used + size <= self.capacity

    def load(self, kind: str, tensor: str, region: Region, size: int, owner: str = "") -> str:
        """DRAM -> SRAM for layer `owner` (default: the layer being recorded); returns the
        buffer name."""
        buffer = buffer_name(kind, tensor, region)
        self._take(buffer, kind, tensor, region, size)
        self._record(Load(buffer, tensor, "weights" if kind == "weights" else "fmap", region,
                          size, owner))
        return buffer

    def alloc(self, tensor: str, region: Region, size: int, kind: str = "fmap") -> str:
        """Reserve SRAM for an output (tile) or, kind 'psum', its partial sums."""
        buffer = buffer_name(kind, tensor, region)
        self._take(buffer, kind, tensor, region, size)
        self._record(Alloc(buffer, tensor, region, size))
        return buffer

    def store(self, buffer: str, tensor: str, region: Region, reason: str = "") -> None:
        """SRAM -> DRAM copy of a resident buffer (it stays resident)."""
        self._record(Store(buffer, tensor, region, self.resident[buffer].size, reason))

    def free(self, buffer: str) -> None:
        """Release a resident buffer."""
        size = self.resident.pop(buffer).size
        self.used -= size
        self._record(Free(buffer, size))

    def compute(self, action: Compute) -> None:
        """Record a compute step (all its buffers must be resident)."""
        for buffer in (*action.inputs, action.weights, action.output, action.accumulator):
            if buffer is not None and buffer not in self.resident:
                raise ScheduleError(f"internal error: {action.layer} computes with "
                                    f"non-resident buffer {buffer}")
        self._record(action)
