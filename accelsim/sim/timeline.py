"""Event timing of a schedule on two resources: the DRAM bus and the compute unit.

Used when `overlap: true`. Actions run in schedule order on their resource; a compute
waits for the loads of its buffers, a store waits for the compute that filled its
buffer, and a load or alloc waits for the frees it needs room from: walking back from
the latest free, a free is waited for when skipping it would overflow the capacity of the
buffer's on-chip level (a free happens when the last compute reading the buffer and any
store of it are done). With a
double-buffered schedule (prefetches placed before the current compute) this gives
transfer/compute overlap with pipeline fill and drain; with a single-buffered order
it degenerates to little overlap, as it should.

`compile_timeline` turns a schedule into flat arrays once; `evaluate` then times it for
any number of design points at once (bandwidth, latency and compute rate broadcast).

Each resource runs its actions in order and none takes negative time, so on each the
later action always finishes no earlier; an alloc or a free takes no time, finishing when
the last thing it waits for does. So an action waits exactly as long for the latest
compute and the latest transfer among everything it waits for, directly or through allocs
and frees, as for all of them: the compiled dependencies keep just those two (a load may
wait for dozens of frees).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.mapping.schedule import Alloc, Compute, Free, Load, Schedule, Store

__all__ = ["Timeline", "action_times", "compile_timeline", "evaluate"]

LOAD, STORE, COMPUTE, SPACE = 0, 1, 2, 3


@dataclass(frozen=True)
class Timeline:
    """A schedule as a flat program.

    kind[i]: LOAD, STORE, COMPUTE or SPACE (an alloc or a free: takes no resource);
    amount[i]: bytes for transfers, the compute step's share of its layer's work (0..1)
    for computes; deps[i]: the latest compute and the latest transfer among the earlier
    actions it waits for (see the module notes: waiting for them is waiting for all);
    layer[i]: index of the layer whose action list holds it; owner[i]: index of the layer
    it is charged to.
    """

    kind: np.ndarray
    amount: np.ndarray
    deps: tuple[tuple[int, ...], ...]
    layer: np.ndarray
    owner: np.ndarray
    layers: int


#: How many recent frees a load looks back over; older ones are long complete.
LOOKBACK = 64


#: (latest compute, latest transfer) an action waits for, by action index; -1: none.
Waits = tuple[int, int]
NONE: Waits = (-1, -1)


def _space_waits(freed: list[int], computes: list[int], transfers: list[int], used: int,
                 size: int, capacity: int) -> Waits:
    """What a new buffer of `size` waits for to stay within capacity, over the frees of its
    level in schedule order (`freed`: their bytes; `computes`, `transfers`: the latest
    compute and transfer each free waits for).

    Walking back from the latest of the last LOOKBACK frees, a free is skipped while there
    is room without it (it may still be under way) and waited for otherwise.
    """
    room = capacity - used - size
    sizes = freed[-LOOKBACK:]
    if sum(sizes) <= room:  # room without any of them
        return NONE
    cs, ts = computes[-LOOKBACK:], transfers[-LOOKBACK:]
    smallest = min(sizes)
    compute = transfer = -1
    pending = 0
    for k in range(len(sizes) - 1, -1, -1):
        if pending + sizes[k] <= room:
            pending += sizes[k]
            continue
        if room - pending < smallest:  # no older free fits either: all of them waited for
            return max(compute, *cs[:k + 1]), max(transfer, *ts[:k + 1])
        if cs[k] > compute:
            compute = cs[k]
        if ts[k] > transfer:
            transfer = ts[k]
    return compute, transfer


def _deps(waits: Waits) -> tuple[int, ...]:
    """The action indices of `waits` (those that are not -1)."""
    c, t = waits
    if c < 0:
        return (t,) if t >= 0 else ()
    return (c, t) if t >= 0 else (c,)


def _compute_totals(schedule: Schedule) -> tuple[list[int], list[int]]:
    """Per layer: the MACs of its compute steps and how many there are."""
    macs, steps = [], []
    for ls in schedule.layers:
        computes = [a.macs for a in ls.actions if type(a) is Compute]
        macs.append(sum(computes))
        steps.append(len(computes))
    return macs, steps


def compile_timeline(schedule: Schedule) -> Timeline:
    """Flatten the schedule's actions with their data and space dependencies."""
    kinds: list[int] = []
    amounts: list[float] = []
    deps: list[tuple[int, ...]] = []
    owner: list[int] = []
    holder: list[int] = []
    # Per on-chip level ("" with one shared SRAM): the frees' bytes and the latest compute
    # and transfer each waits for, in schedule order; bytes in use; capacity.
    freed: dict[str, list[int]] = {}
    free_computes: dict[str, list[int]] = {}
    free_transfers: dict[str, list[int]] = {}
    used: dict[str, int] = {}
    capacity: dict[str, int] = {}
    level_of: dict[str, str] = {}  # resident buffer -> its level
    ready: dict[str, Waits] = {}  # buffer -> what waiting for its contents means
    readers: dict[str, list[int]] = {}  # buffer -> [latest compute, latest store] reading it
    layer_macs, steps = _compute_totals(schedule)
    owner_of = schedule.owner_lookup()
    for li, a in schedule.steps():
        index = len(kinds)
        holder.append(li)
        kind = type(a)
        if kind is Load or kind is Alloc:
            assert isinstance(a, Load | Alloc)
            level = level_of[a.buffer] = a.level
            if level not in capacity:
                capacity[level] = schedule.level_capacity(level)
                freed[level], free_computes[level], free_transfers[level] = [], [], []
                used[level] = 0
            room = _space_waits(freed[level], free_computes[level], free_transfers[level],
                                used[level], a.bytes, capacity[level])
            deps.append(_deps(room))
            if isinstance(a, Load):
                owner.append(owner_of(a.owner, li) if a.owner else li)
                kinds.append(LOAD)
                amounts.append(a.bytes)
                ready[a.buffer] = (-1, index)
            else:  # an alloc takes no resource: it is only the point where its space exists
                owner.append(li)
                kinds.append(SPACE)
                amounts.append(0.0)
                ready[a.buffer] = room
            used[level] += a.bytes
            readers[a.buffer] = [-1, -1]
            continue
        owner.append(li)
        if kind is Compute:
            assert isinstance(a, Compute)
            kinds.append(COMPUTE)
            amounts.append(a.macs / layer_macs[li] if layer_macs[li] else 1 / steps[li])
            reads = list(a.inputs)
            if a.weights:
                reads.append(a.weights)
            if a.accumulator:
                reads.append(a.accumulator)
            c, t = ready[a.output]
            for b in reads:
                rc, rt = ready[b]
                if rc > c:
                    c = rc
                if rt > t:
                    t = rt
                readers[b][0] = index
            deps.append(_deps((c, t)))
            ready[a.output] = (index, -1)
            if a.accumulator:
                ready[a.accumulator] = (index, -1)
        elif kind is Store:
            assert isinstance(a, Store)
            kinds.append(STORE)
            amounts.append(a.bytes)
            deps.append(_deps(ready[a.buffer]))
            readers[a.buffer][1] = index
        else:  # Free: done when every reader of the buffer is done
            assert isinstance(a, Free)
            kinds.append(SPACE)
            amounts.append(0.0)
            (c, t), (uc, ut) = ready.pop(a.buffer), readers.pop(a.buffer, NONE)
            c, t = (c if c > uc else uc), (t if t > ut else ut)
            deps.append(_deps((c, t)))
            level = level_of.pop(a.buffer)
            freed[level].append(a.bytes)
            free_computes[level].append(c)
            free_transfers[level].append(t)
            used[level] -= a.bytes
    return Timeline(np.array(kinds, dtype=np.int8), np.array(amounts, dtype=float),
                    tuple(deps), np.array(holder, dtype=np.int32),
                    np.array(owner, dtype=np.int32), len(schedule.layers))


def _charge_idle(timeline: Timeline, begin: np.ndarray, finish: np.ndarray,
                 order: np.ndarray, limit: int, cursor: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray, times: np.ndarray) -> None:
    """Charge the compute unit's idle interval [lo, hi) of every point to the owners of the
    transfers on the bus during it, advancing each point's cursor over the first `limit`
    transfers (`order`: the transfers' action indices, in bus order).

    While the compute unit waits, the bus is always busy (a compute waits only for loads,
    or for space that stores free), so the idle time is covered by transfers.
    """
    points = np.arange(len(lo))
    active = hi > lo
    while limit and active.any():
        valid = active & (cursor < limit)
        if not valid.any():
            return
        k = order[np.minimum(cursor, limit - 1)]
        start, end = begin[k, points], finish[k, points]
        overlap = np.clip(np.minimum(end, hi) - np.maximum(start, lo), 0.0, None)
        np.add.at(times, (points, timeline.owner[k]), np.where(valid, overlap, 0.0))
        done = valid & (end <= hi)
        cursor += done
        active = done


def action_times(timeline: Timeline, compute: list[float], bandwidth: float,
                 latency: float) -> tuple[list[float], list[float]]:
    """(start, end) of every action at one design point, in plain Python: an action starts
    when its dependencies are done and its resource is free (the rules of `evaluate`)."""
    kinds, amounts, deps = timeline.kind.tolist(), timeline.amount.tolist(), timeline.deps
    holder = timeline.layer.tolist()
    begin = [0.0] * len(kinds)
    finish = [0.0] * len(kinds)
    bus = unit = 0.0
    for i, kind in enumerate(kinds):
        start = 0.0
        for d in deps[i]:
            if finish[d] > start:
                start = finish[d]
        if kind == LOAD or kind == STORE:
            start = max(start, bus)
            end = bus = start + amounts[i] / bandwidth + latency
        elif kind == COMPUTE:
            start = max(start, unit)
            end = unit = start + amounts[i] * compute[holder[i]]
        else:
            end = start
        begin[i], finish[i] = start, end
    return begin, finish


def _evaluate_one(timeline: Timeline, compute: list[float], bandwidth: float,
                  latency: float) -> list[float]:
    """`evaluate` for one design point, in plain Python (no per-action NumPy overhead):
    each compute's own time, plus the idle time before it (and the final drain) charged to
    the owners of the transfers on the bus meanwhile."""
    begin, finish = action_times(timeline, compute, bandwidth, latency)
    kinds, amounts = timeline.kind.tolist(), timeline.amount.tolist()
    holder, owner = timeline.layer.tolist(), timeline.owner.tolist()
    transfers = [i for i, kind in enumerate(kinds) if kind == LOAD or kind == STORE]
    times = [0.0] * timeline.layers
    cursor = 0

    def charge(lo: float, hi: float) -> None:
        nonlocal cursor
        while hi > lo and cursor < len(transfers):
            k = transfers[cursor]
            overlap = min(finish[k], hi) - max(begin[k], lo)
            if overlap > 0:
                times[owner[k]] += overlap
            if finish[k] > hi:
                return
            cursor += 1

    unit = 0.0
    for i, kind in enumerate(kinds):
        if kind == COMPUTE:
            charge(unit, begin[i])
            times[holder[i]] += amounts[i] * compute[holder[i]]
            unit = finish[i]
    charge(unit, max([unit, *(finish[k] for k in transfers[-1:])]))
    return times


def evaluate(timeline: Timeline, compute_s: np.ndarray, bandwidth: np.ndarray | float,
             latency: np.ndarray | float) -> np.ndarray:
    """Per-layer time, shape (points, layers), for broadcast design points.

    compute_s: (points, layers) or (layers,) compute seconds of each layer. A layer's
    time is its compute time plus the time the compute unit stood idle while that layer's
    transfers were on the bus (a prefetch counts for the layer it is for; the final drain
    for the owners of the last stores). Layer times therefore sum to the run's time, are
    never below compute and never above compute plus the layer's own transfer time.
    """
    compute = np.atleast_2d(np.asarray(compute_s, dtype=float))
    bw = np.asarray(bandwidth, dtype=float).reshape(-1)
    lat = np.asarray(latency, dtype=float).reshape(-1)
    points = max(compute.shape[0], bw.shape[0], lat.shape[0])
    if points == 1:
        return np.array([_evaluate_one(timeline, compute[0].tolist(), float(bw[0]),
                                       float(lat[0]))])
    zeros = np.zeros(points)
    bus = zeros.copy()
    unit = zeros.copy()
    begin = np.zeros((len(timeline.kind), points))
    finish = np.empty((len(timeline.kind), points))
    times = np.zeros((points, timeline.layers))
    order = np.flatnonzero((timeline.kind == LOAD) | (timeline.kind == STORE))
    done = 0
    cursor = np.zeros(points, dtype=np.int64)
    for i, kind in enumerate(timeline.kind):
        start = zeros
        for d in timeline.deps[i]:
            start = np.maximum(start, finish[d])
        if kind == LOAD or kind == STORE:
            start = np.maximum(start, bus)
            end = start + timeline.amount[i] / bw + lat
            bus = end
            done += 1
        elif kind == COMPUTE:
            start = np.maximum(start, unit)
            _charge_idle(timeline, begin, finish, order, done, cursor, unit, start, times)
            busy = timeline.amount[i] * compute[:, timeline.layer[i]]
            end = start + busy
            times[:, timeline.layer[i]] += busy
            unit = end
        else:
            end = start
        begin[i] = start
        finish[i] = end
    _charge_idle(timeline, begin, finish, order, done, cursor, unit, np.maximum(unit, bus),
                 times)
    return times
