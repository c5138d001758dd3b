"""Event timing of a schedule on two resources: the DRAM bus and the compute unit.

Used when `overlap: true`. Actions run in schedule order on their resource; a compute
waits for the loads of its buffers, a store waits for the compute that filled its
buffer, and a load or alloc waits for the frees it needs room from: walking back from
the latest free, a free is waited for when skipping it would overflow the capacity (a
free happens when the last compute reading the buffer and any store of it are done). With a
double-buffered schedule (prefetches placed before the current compute) this gives
transfer/compute overlap with pipeline fill and drain; with a single-buffered order
it degenerates to little overlap, as it should.

`compile_timeline` turns a schedule into flat arrays once; `evaluate` then times it for
any number of design points at once (bandwidth, latency and compute rate broadcast).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.mapping.schedule import Alloc, Compute, Free, Load, Schedule, Store

__all__ = ["Timeline", "compile_timeline", "evaluate"]

LOAD, STORE, COMPUTE, SPACE = 0, 1, 2, 3


@dataclass(frozen=True)
class Timeline:
    """A schedule as a flat program.

    kind[i]: LOAD, STORE, COMPUTE or SPACE (an alloc or a free: takes no resource);
    amount[i]: bytes for transfers, the compute step's share of its layer's work (0..1)
    for computes; deps[i]: indices of earlier actions it waits for; layer[i]: index of
    the layer whose action list holds it; work[l]: compute seconds per unit rate of layer l.
    """

    kind: np.ndarray
    amount: np.ndarray
    deps: tuple[tuple[int, ...], ...]
    layer: np.ndarray
    layers: int


#: How many recent frees a load looks back over; older ones are long complete.
LOOKBACK = 64


def _space_deps(frees: list[tuple[int, int]], used: int, size: int, capacity: int
                ) -> tuple[int, ...]:
    """Frees (latest first) a new buffer of `size` must wait for to stay within capacity."""
    waits = []
    pending = 0
    for index, freed in reversed(frees[-LOOKBACK:]):
        if used + pending + freed + size <= capacity:
            pending += freed  # this free may still be under way: room without it
        else:
            waits.append(index)
    return tuple(waits)


def compile_timeline(schedule: Schedule) -> Timeline:
    """Flatten the schedule's actions with their data and space dependencies."""
    kinds: list[int] = []
    amounts: list[float] = []
    deps: list[tuple[int, ...]] = []
    owner: list[int] = []
    frees: list[tuple[int, int]] = []  # (action index, bytes) in schedule order
    used, capacity = 0, schedule.capacity_bytes
    ready: dict[str, int] = {}  # buffer -> action that made its contents valid
    users: dict[str, list[int]] = {}  # buffer -> actions that read it
    layer_macs = [sum(a.macs for a in ls.actions if isinstance(a, Compute))
                  for ls in schedule.layers]
    steps = [sum(1 for a in ls.actions if isinstance(a, Compute)) for ls in schedule.layers]
    for li, a in schedule.steps():
        index = len(kinds)
        if isinstance(a, Load | Alloc):
            # An alloc takes no resource: it is only the point where its space exists.
            kinds.append(LOAD if isinstance(a, Load) else SPACE)
            amounts.append(a.bytes if isinstance(a, Load) else 0.0)
            deps.append(_space_deps(frees, used, a.bytes, capacity))
            used += a.bytes
            ready[a.buffer] = index
            users[a.buffer] = []
        elif isinstance(a, Compute):
            kinds.append(COMPUTE)
            share = a.macs / layer_macs[li] if layer_macs[li] else 1 / steps[li]
            amounts.append(share)
            reads = [*a.inputs] + [b for b in (a.weights, a.accumulator) if b]
            deps.append(tuple(ready[b] for b in (*reads, a.output)))
            for b in reads:
                users[b].append(index)
            ready[a.output] = index
            if a.accumulator:
                ready[a.accumulator] = index
        elif isinstance(a, Store):
            kinds.append(STORE)
            amounts.append(a.bytes)
            deps.append((ready[a.buffer],))
            users[a.buffer].append(index)
        else:  # Free: done when every reader of the buffer is done
            assert isinstance(a, Free)
            kinds.append(SPACE)
            amounts.append(0.0)
            deps.append(tuple(users.pop(a.buffer, [])) + (ready.pop(a.buffer),))
            frees.append((index, a.bytes))
            used -= a.bytes
        owner.append(li)
    return Timeline(np.array(kinds, dtype=np.int8), np.array(amounts, dtype=float),
                    tuple(deps), np.array(owner, dtype=np.int32), len(schedule.layers))


def evaluate(timeline: Timeline, compute_s: np.ndarray, bandwidth: np.ndarray | float,
             latency: np.ndarray | float) -> np.ndarray:
    """Per-layer elapsed time, shape (points, layers), for broadcast design points.

    compute_s: (points, layers) or (layers,) compute seconds of each layer. A layer's
    elapsed time is the finish of its last action minus the finish of the previous
    layer's last action, so layers sum to the whole run's time.
    """
    compute = np.atleast_2d(np.asarray(compute_s, dtype=float))
    bw = np.asarray(bandwidth, dtype=float).reshape(-1)
    lat = np.asarray(latency, dtype=float).reshape(-1)
    points = max(compute.shape[0], bw.shape[0], lat.shape[0])
    zeros = np.zeros(points)
    bus = zeros.copy()
    unit = zeros.copy()
    finish = np.empty((len(timeline.kind), points))
    layer_end = np.zeros((points, timeline.layers))
    for i, kind in enumerate(timeline.kind):
        start = zeros
        for d in timeline.deps[i]:
            start = np.maximum(start, finish[d])
        if kind == LOAD or kind == STORE:
            start = np.maximum(start, bus)
            end = start + timeline.amount[i] / bw + lat
            bus = end
        elif kind == COMPUTE:
            start = np.maximum(start, unit)
            end = start + timeline.amount[i] * compute[:, timeline.layer[i]]
            unit = end
        else:
            end = start
        finish[i] = end
        li = timeline.layer[i]
        layer_end[:, li] = np.maximum(layer_end[:, li], end)
    layer_end = np.maximum.accumulate(layer_end, axis=1)
    return np.diff(layer_end, axis=1, prepend=0.0)
