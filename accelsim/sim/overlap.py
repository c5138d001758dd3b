"""Overlap mode: the most ahead-running buffering whose every layer is no slower than serial.

Running transfers ahead of computes (double buffering) usually hides them, but not always:
two tile buffer sets mean smaller tiles and more transfers, each paying the DRAM latency.
So overlap mode builds a ladder of schedules, most ahead-running first: `full` (later
filters early and double-buffered tiles), then `filters` (later filters early only), each
timed on the event timeline. A design point takes the first rung on which no layer is
slower than in the serial schedule timed serially. The last rung always qualifies: it
moves the serial schedule's bytes, only earlier, and on the timeline a layer never takes
longer than its compute plus its own transfers; so overlap is never slower, layer by
layer.
"""

from __future__ import annotations

import numpy as np

from accelsim.ir.graph import Network
from accelsim.mapping import Buffering, BuildOptions, Schedule, Sizes, build_schedule
from accelsim.mapping.memory import Capacity
from accelsim.sim.cost import layer_times
from accelsim.sim.timeline import Timeline, compile_timeline, evaluate

__all__ = ["Ladder", "choose_rung"]

#: Relative slack when comparing a rung's layer times with serial ones (float sums).
RTOL = 1e-9


class Ladder:
    """The overlap schedules, most ahead-running first, and the serial one they are
    checked against; each rung built and compiled only when a design point needs it."""

    def __init__(self, net: Network, sizes: Sizes, capacity: Capacity, policy: str) -> None:
        self.net, self.sizes, self.capacity, self.policy = net, sizes, capacity, policy
        self.serial = build_schedule(net, sizes, capacity, policy)
        self.peaks = tuple(ls.peak_sram_bytes for ls in self.serial.layers)
        self._rungs: dict[int, tuple[Schedule, Timeline]] = {}

    def __len__(self) -> int:
        return len(RUNGS)

    def rung(self, index: int) -> tuple[Schedule, Timeline]:
        """The schedule of rung `index` and its timeline (a rung that would equal the
        serial schedule is the serial schedule)."""
        if index not in self._rungs:
            built = build_schedule(self.net, self.sizes, self.capacity, self.policy,
                                   BuildOptions(RUNGS[index], self.peaks,
                                                self.serial.sub_batch))
            schedule = self.serial if _same(built, self.serial) else built
            self._rungs[index] = (schedule, compile_timeline(schedule))
        return self._rungs[index]


#: The rungs, most ahead-running first. The last, `filters`, moves exactly the serial
#: schedule's bytes (only earlier), so on the timeline no layer of it can be slower than
#: serially: it always qualifies.
RUNGS: tuple[Buffering, ...] = ("full", "filters")


def _same(a: Schedule, b: Schedule) -> bool:
    return all(x.actions == y.actions for x, y in zip(a.layers, b.layers, strict=True))


def _traffic(schedule: Schedule) -> tuple[np.ndarray, np.ndarray]:
    traffic = np.array(schedule.traffic(), dtype=float).reshape(-1, 3)
    return traffic[:, 0] + traffic[:, 1], traffic[:, 2]


def choose_rung(ladder: Ladder, compute_s: np.ndarray, bandwidth: np.ndarray | float,
                latency: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(rung index per point, per-layer times (points, layers)) for broadcast points."""
    compute = np.atleast_2d(np.asarray(compute_s, dtype=float))
    bw = np.asarray(bandwidth, dtype=float).reshape(-1)
    lat = np.asarray(latency, dtype=float).reshape(-1)
    points = max(compute.shape[0], bw.shape[0], lat.shape[0])
    compute = np.broadcast_to(compute, (points, compute.shape[1]))
    bw, lat = np.broadcast_to(bw, (points,)), np.broadcast_to(lat, (points,))
    dram, transfers = _traffic(ladder.serial)
    _, serial = layer_times(compute, dram[None, :], transfers[None, :], bw[:, None],
                            lat[:, None])
    rung = np.full(points, len(ladder) - 1)
    times = np.empty_like(serial)
    pending = np.ones(points, dtype=bool)
    for index in range(len(ladder)):
        ids = np.flatnonzero(pending)
        if not len(ids):
            break
        t = evaluate(ladder.rung(index)[1], compute[ids], bw[ids], lat[ids])
        last = index == len(ladder) - 1
        ok = np.ones(len(ids), dtype=bool) if last else np.all(
            t <= serial[ids] * (1 + RTOL) + 1e-15, axis=1)
        rung[ids[ok]] = index
        times[ids[ok]] = t[ok]
        pending[ids[ok]] = False
    return rung, times
