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
from accelsim.mapping.tiling import Sizes

__all__ = ["pass_sizes", "sub_batched"]

#: Builds one pass: (network, sizes at the pass's batch, capacity, reference peaks, how many
#: passes there are, so that a schedule too large in total is refused before it is built).
Builder = Callable[[Network, Sizes, Capacity, tuple[int, ...], int], Schedule]


def _compulsory(net: Network, sizes: Sizes) -> int:
    """Filters once, network inputs and outputs once: the least any schedule moves."""
    weights = sum(sizes.weight_bytes(layer) for layer in net.layers())
    io = sum(sizes.fmap_bytes(net.layer(t).output_shape) for t in (*net.inputs, *net.outputs))
    return weights + io


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
    return dataclasses.replace(region, samples=(lo + offset, hi + offset))


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


def _chain(build: Builder, net: Network, sizes: Sizes, capacity: Capacity, step: int,
           peaks: tuple[int, ...]) -> Schedule:
    """The batch as consecutive passes of `step` samples (the last may be smaller)."""
    if step == sizes.batch:
        return build(net, sizes, capacity, peaks, 1)
    layers: list[LayerSchedule] = []
    first: Schedule | None = None
    built: dict[int, Schedule] = {}
    passes = -(-sizes.batch // step)
    for offset in range(0, sizes.batch, step):
        count = min(step, sizes.batch - offset)
        here = len(layers)
        if count not in built:
            per_pass = len(net.order) - len(net.inputs)
            built[count] = build(net, dataclasses.replace(sizes, batch=count), capacity,
                                 peaks[here:here + per_pass], passes)
        schedule = built[count]
        first = first or schedule
        tag = f"#{offset}"
        for ls in schedule.layers:
            layers.append(dataclasses.replace(
                ls, index=len(layers) + 1, samples=(offset, offset + count),
                actions=[_moved(a, offset, count, tag) for a in ls.actions]))
    assert first is not None
    return Schedule(first.policy, first.capacity_bytes, sizes.batch, layers, first.tensors, step,
                    first.memory)


def sub_batched(build: Builder, net: Network, sizes: Sizes, capacity: Capacity,
                sub_batch: int, peaks: tuple[int, ...]) -> Schedule:
    """The batch's schedule in passes of `sub_batch` samples, or (0) of the best size."""
    steps = [sub_batch] if sub_batch else pass_sizes(sizes.batch)
    best: tuple[tuple[int, int, int], Schedule] | None = None
    error: ScheduleError | None = None
    for step in steps:
        try:
            schedule = _chain(build, net, sizes, capacity, step, peaks)
        except ScheduleError as exc:
            error = error or exc
            continue
        traffic = schedule.traffic()
        key = (sum(r + w for r, w, _ in traffic), sum(t for _, _, t in traffic), -step)
        if best is None or key < best[0]:
            best = (key, schedule)
        if step == sizes.batch and key[0] <= _compulsory(net, sizes):
            break  # the whole batch moves every byte once: passes could only re-read
    if best is None:
        assert error is not None
        raise error
    return dataclasses.replace(best[1], sub_batch=-best[0][2])
