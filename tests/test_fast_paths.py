"""The fast walks of a schedule give exactly what the straightforward ones give.

`Schedule.traffic` and `compile_timeline` are written for speed (one pass; a timeline
keeps of what an action waits for only the latest compute and the latest transfer); here
each is checked against a plain version that follows its rule word for word (every
dependency kept), on schedules generated from every policy and buffering, with one shared
SRAM or three levels: the traffic is equal, and so is every action's start and end at
random design points. Builds that share a network's facts (accelsim.mapping.build_facts)
equal builds that find them anew.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import ScheduleError
from accelsim.ir import build_model
from accelsim.mapping import (
    BUFFERINGS,
    POLICIES,
    Alloc,
    BuildOptions,
    Compute,
    Free,
    Load,
    Schedule,
    Sizes,
    Store,
    build_facts,
    build_schedule,
)
from accelsim.mapping.memory import Capacity, MemorySpec, StoreLevel
from accelsim.sim.timeline import LOOKBACK, Timeline, action_times, compile_timeline, evaluate


def plain_traffic(schedule: Schedule) -> list[tuple[int, int, int]]:
    """(read, write, transfers) per layer: every load and store added to its owner."""
    totals = [[0, 0, 0] for _ in schedule.layers]
    for ls, owners in zip(schedule.layers, schedule.owners(), strict=True):
        for a, owner in zip(ls.actions, owners, strict=True):
            if isinstance(a, Load):
                totals[owner][0] += a.bytes
                totals[owner][2] += 1
            elif isinstance(a, Store):
                totals[owner][1] += a.bytes
                totals[owner][2] += 1
    return [(r, w, t) for r, w, t in totals]


def plain_space_deps(frees: list[tuple[int, int]], used: int, size: int, capacity: int
                     ) -> tuple[int, ...]:
    """Walking back over the last LOOKBACK frees: skip a free while there is room without
    it, wait for it otherwise."""
    waits, pending = [], 0
    for index, freed in reversed(frees[-LOOKBACK:]):
        if used + pending + freed + size <= capacity:
            pending += freed
        else:
            waits.append(index)
    return tuple(waits)


def plain_timeline(schedule: Schedule) -> Timeline:
    """The timeline with every dependency its rules name."""
    kinds: list[int] = []
    amounts: list[float] = []
    deps: list[tuple[int, ...]] = []
    holder: list[int] = []
    owner: list[int] = []
    frees: dict[str, list[tuple[int, int]]] = {}
    used: dict[str, int] = {}
    level_of: dict[str, str] = {}
    ready: dict[str, int] = {}
    users: dict[str, list[int]] = {}
    owners = schedule.owners()
    cursor = [0] * len(schedule.layers)
    macs = [sum(a.macs for a in ls.actions if isinstance(a, Compute)) for ls in schedule.layers]
    steps = [sum(isinstance(a, Compute) for a in ls.actions) for ls in schedule.layers]
    for li, a in schedule.steps():
        index = len(kinds)
        holder.append(li)
        owner.append(owners[li][cursor[li]])
        cursor[li] += 1
        if isinstance(a, Load | Alloc):
            kinds.append(0 if isinstance(a, Load) else 3)
            amounts.append(a.bytes if isinstance(a, Load) else 0.0)
            level = level_of[a.buffer] = a.level
            deps.append(plain_space_deps(frees.setdefault(level, []), used.get(level, 0),
                                         a.bytes, schedule.level_capacity(level)))
            used[level] = used.get(level, 0) + a.bytes
            ready[a.buffer] = index
            users[a.buffer] = []
        elif isinstance(a, Compute):
            kinds.append(2)
            amounts.append(a.macs / macs[li] if macs[li] else 1 / steps[li])
            reads = [*a.inputs] + [b for b in (a.weights, a.accumulator) if b]
            deps.append(tuple(ready[b] for b in (*reads, a.output)))
            for b in reads:
                users[b].append(index)
            ready[a.output] = index
            if a.accumulator:
                ready[a.accumulator] = index
        elif isinstance(a, Store):
            kinds.append(1)
            amounts.append(a.bytes)
            deps.append((ready[a.buffer],))
            users[a.buffer].append(index)
        else:
            assert isinstance(a, Free)
            kinds.append(3)
            amounts.append(0.0)
            deps.append(tuple(users.pop(a.buffer, [])) + (ready.pop(a.buffer),))
            level = level_of.pop(a.buffer)
            frees[level].append((index, a.bytes))
            used[level] -= a.bytes
    return Timeline(np.array(kinds, dtype=np.int8), np.array(amounts, dtype=float),
                    tuple(deps), np.array(holder, dtype=np.int32),
                    np.array(owner, dtype=np.int32), len(schedule.layers))


def three_levels(total: int) -> MemorySpec:
    """Inputs, filters and outputs (with partial sums) in three levels of a third each."""
    third = total // 3
    return MemorySpec((StoreLevel("ifmap", third, ("inputs",)),
                       StoreLevel("filter", third, ("weights",)),
                       StoreLevel("ofmap", third, ("outputs", "partial_sums"))))


@settings(max_examples=25, deadline=None)
@given(model=st.sampled_from(["mobilenet_v1_cifar", "mobilenet_v2"]),
       capacity=st.integers(min_value=4_000, max_value=400_000),
       levels=st.booleans(), batch=st.integers(min_value=1, max_value=3),
       policy=st.sampled_from(sorted(POLICIES)), buffering=st.sampled_from(BUFFERINGS),
       seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_fast_walks_equal_the_plain_ones(model: str, capacity: int, levels: bool, batch: int,
                                         policy: str, buffering: str, seed: int) -> None:
    net = build_model(model, 0.25, 32 if model == "mobilenet_v2" else 28)
    sizes = Sizes(8, 8, 32, batch)
    store: Capacity = three_levels(capacity * 3) if levels else capacity
    try:
        serial = build_schedule(net, sizes, store, policy)
        peaks = tuple(ls.peak_sram_bytes for ls in serial.layers)
        schedule = build_schedule(net, sizes, store, policy,
                                  BuildOptions(buffering, peaks, serial.sub_batch))  # type: ignore[arg-type]
    except ScheduleError as exc:
        assert "cannot run in" in str(exc) or "tiles" in str(exc)
        return
    assert schedule.traffic() == plain_traffic(schedule)
    fast, plain = compile_timeline(schedule), plain_timeline(schedule)
    for field in ("kind", "amount", "layer", "owner"):
        assert np.array_equal(getattr(fast, field), getattr(plain, field))
    assert all(0 <= d < i for i, f in enumerate(fast.deps) for d in f)
    # Times at random design points (compute seconds per layer, bandwidth, latency),
    # including a free bus and free computes.
    rng = np.random.default_rng(seed)
    layers = len(schedule.layers)
    points = [(rng.uniform(0, 1e-4, layers), float(rng.choice([1e6, 1e9, 1e12])),
               float(rng.choice([0.0, 1e-7, 1e-5]))) for _ in range(3)]
    points.append((np.zeros(layers), 1e9, 0.0))
    for compute, bandwidth, latency in points:
        assert action_times(fast, compute.tolist(), bandwidth, latency) == action_times(
            plain, compute.tolist(), bandwidth, latency)
    many = (np.array([p[0] for p in points]), np.array([p[1] for p in points]),
            np.array([p[2] for p in points]))
    assert np.array_equal(evaluate(fast, *many), evaluate(plain, *many))


@settings(max_examples=10, deadline=None)
@given(model=st.sampled_from(["mobilenet_v1_cifar", "mobilenet_v2"]),
       capacities=st.lists(st.integers(min_value=4_000, max_value=400_000), min_size=2,
                           max_size=2),
       levels=st.booleans(), batch=st.integers(min_value=1, max_value=2),
       policy=st.sampled_from(sorted(POLICIES)))
def test_shared_build_facts_give_the_schedules_fresh_ones_give(
        model: str, capacities: list[int], levels: bool, batch: int, policy: str) -> None:
    """Builds of one network at several stores, which share its facts, equal builds of a
    fresh copy of the network each (whose facts are found anew)."""
    sizes = Sizes(8, 8, 32, batch)
    shared = build_model(model, 0.25, 32 if model == "mobilenet_v2" else 28)
    for capacity in capacities + capacities[:1]:  # the first store again: found in the cache
        store: Capacity = three_levels(capacity * 3) if levels else capacity
        fresh = build_model(model, 0.25, 32 if model == "mobilenet_v2" else 28)
        outcomes = []
        for net in (shared, fresh):
            try:
                s = build_schedule(net, sizes, store, policy)
                outcomes.append((s.traffic(), [ls.actions for ls in s.layers], s.tensors))
            except ScheduleError as exc:
                outcomes.append(str(exc))
        assert outcomes[0] == outcomes[1]


def test_build_facts_go_with_their_network() -> None:
    """Facts are kept weakly: a network nothing else holds is freed, facts and all."""
    net = build_model("mobilenet_v1_cifar", 0.25, 28)
    build_schedule(net, Sizes(8, 8, 32), 1_000_000, "liveness")
    assert net in build_facts._FACTS
    gone = weakref.ref(net)
    del net
    gc.collect()
    assert gone() is None
