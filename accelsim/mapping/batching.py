"""Sub-batching: run a batch through the network in passes of a few samples each.

A batch of N samples through SRAM together holds N times every feature map; when that
no longer fits, the tiles shrink and bytes are re-read. Running the whole network on a
sub-batch of s samples, then the next, re-reads the filters once per pass instead. The
pass size is chosen among N, the powers of two below it and 1 for the least DRAM traffic,
then the fewest transfers, then the largest pass: with s = 1 every pass is the batch-1
schedule, so per-inference traffic at batch N is never worse than at batch 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from accelsim.errors import ScheduleError
from accelsim.ir.graph import Network
from accelsim.mapping.memory import Capacity
from accelsim.mapping.schedule import (
    Action,
    Alloc,
    Compute,
    Free,
    LayerSchedule,
    Load,
    Region,
    Schedule,
    Store,
    Tile,
)
from accelsim.mapping.tiling import Sizes, least_network_traffic

__all__ = ["pass_sizes", "sub_batched"]

#: Builds one pass: (network, sizes at the pass's batch, capacity, reference peaks, how many
#: passes there are, so that a schedule too large in total is refused before it is built).
Builder = Callable[[Network, Sizes, Capacity, tuple[int, ...], int], Schedule]


def pass_sizes(batch: int) -> list[int]:
    """Candidate samples per pass: the batch, the powers of two below it, and 1."""
    sizes = {batch, 1}
    step = 1
    while step < batch:
        sizes.add(step)
        step *= 2
    return sorted(sizes, reverse=True)


def _shift(region: Region, offset: int, count: int, per_sample: bool) -> Region:
    """The region in the whole batch's samples of a pass starting at sample `offset`."""
    if not per_sample:
        return region
    lo, hi = region.samples or (0, count)
    return region._replace(samples=(lo + offset, hi + offset))


def _moved(action: Action, offset: int, count: int, tag: str) -> Action:
    """An action of a pass rewritten into the whole batch: samples shifted, buffers renamed
    (every pass frees what it allocates, so the names need only be unique per pass)."""
    if isinstance(action, Load):
        return dataclasses.replace(action, buffer=action.buffer + tag, region=_shift(
            action.region, offset, count, action.kind == "fmap"))
    if isinstance(action, Alloc | Store):
        return dataclasses.replace(action, buffer=action.buffer + tag,
                                   region=_shift(action.region, offset, count, True))
    if isinstance(action, Free):
        return dataclasses.replace(action, buffer=action.buffer + tag)
    assert isinstance(action, Compute)
    lo, hi = action.tile.samples
    tile: Tile = dataclasses.replace(action.tile, samples=(lo + offset, hi + offset))
    return dataclasses.replace(
        action, tile=tile, inputs=tuple(b + tag for b in action.inputs),
        weights=action.weights + tag if action.weights else None, output=action.output + tag,
        accumulator=action.accumulator + tag if action.accumulator else None)


Pass = tuple[int, int, Schedule]  # first sample, samples, the pass's schedule


def _passes(build: Builder, net: Network, sizes: Sizes, capacity: Capacity, step: int,
            peaks: tuple[int, ...]) -> list[Pass]:
    """The batch as consecutive passes of `step` samples (the last may be smaller); one
    schedule is built per distinct pass size, with its slice of the reference peaks."""
    count_passes = -(-sizes.batch // step)
    per_pass = len(net.order) - len(net.inputs)
    built: dict[int, Schedule] = {}
    passes = []
    for number, offset in enumerate(range(0, sizes.batch, step)):
        count = min(step, sizes.batch - offset)
        if count not in built:
            here = number * per_pass
            built[count] = build(net, dataclasses.replace(sizes, batch=count), capacity,
                                 peaks[here:here + per_pass], count_passes)
        passes.append((offset, count, built[count]))
    return passes


def _key(passes: list[Pass], step: int) -> tuple[int, int, int]:
    """What the pass size is chosen by: DRAM bytes, then transfers, then larger passes."""
    moved = transfers = 0
    for _, _, schedule in passes:
        for read, write, count in schedule.traffic():
            moved, transfers = moved + read + write, transfers + count
    return moved, transfers, -step


def _chain(passes: list[Pass], batch: int, step: int) -> Schedule:
    """One schedule of the whole batch from its passes, in order."""
    if len(passes) == 1:
        return passes[0][2]
    layers: list[LayerSchedule] = []
    order: list[int] = []
    interleaved = False
    for offset, count, schedule in passes:
        here = len(layers)
        interleaved |= schedule.order is not None
        order += [here + i for i, _ in schedule.steps()]
        tag = f"#{offset}"
        for ls in schedule.layers:
            layers.append(dataclasses.replace(
                ls, index=len(layers) + 1, samples=(offset, offset + count),
                actions=[_moved(a, offset, count, tag) for a in ls.actions]))
    first = passes[0][2]
    return Schedule(first.policy, first.capacity_bytes, batch, layers, first.tensors,
                    order if interleaved else None, step, first.memory)


def sub_batched(build: Builder, net: Network, sizes: Sizes, capacity: Capacity,
                sub_batch: int, peaks: tuple[int, ...]) -> Schedule:
    """The batch's schedule in passes of `sub_batch` samples, or (0) of the best size."""
    steps = [sub_batch] if sub_batch else pass_sizes(sizes.batch)
    best: tuple[tuple[int, int, int], list[Pass]] | None = None
    error: ScheduleError | None = None
    for step in steps:
        try:
            passes = _passes(build, net, sizes, capacity, step, peaks)
        except ScheduleError as exc:
            error = error or exc
            continue
        key = _key(passes, step) if len(steps) > 1 else (0, 0, -step)  # nothing to compare
        if best is None or key < best[0]:
            best = (key, passes)
        if step == sizes.batch and key[0] <= least_network_traffic(net, sizes):
            break  # the whole batch moves every byte once: passes could only re-read
    if best is None:
        assert error is not None
        raise error
    step = -best[0][2]
    return dataclasses.replace(_chain(best[1], sizes.batch, step), sub_batch=step)
