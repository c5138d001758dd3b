"""Per-layer accounting: one attribution rule for time, overlap never slower than serial."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.config.models import HardwareConfig, SimulationConfig
from accelsim.errors import ScheduleError
from accelsim.ir import build_model
from accelsim.mapping import (
    POLICIES,
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
from accelsim.reference.replay import replay
from accelsim.sim import simulate
from accelsim.sim.pe_array import DEPTHWISE_MAPPINGS
from accelsim.sim.timeline import compile_timeline, evaluate

WHOLE = Region()


def prefetching_pair() -> Schedule:
    """Layer a loads its filters, then b's filters early (owner b), then computes 2 s;
    layer b computes 1 s and stores its 1 B output."""
    a = [Load("wa", "a", "weights", WHOLE, 1), Alloc("oa", "a", WHOLE, 1),
         Load("wb", "b", "weights", WHOLE, 4, owner="b"),
         Compute("a", Tile((0, 1), (0, 1), (0, 1)), (), "wa", "oa", 2), Free("wa", 1)]
    b = [Alloc("ob", "b", WHOLE, 1),
         Compute("b", Tile((0, 1), (0, 1), (0, 1)), ("oa",), "wb", "ob", 1),
         Store("ob", "b", WHOLE, 1), Free("wb", 4), Free("oa", 1), Free("ob", 1)]
    return Schedule("liveness", 100, 1, [LayerSchedule(1, "a", a), LayerSchedule(2, "b", b)],
                    [])


def test_prefetch_is_charged_to_the_layer_it_is_for() -> None:
    # Bandwidth 1 B/s, no latency; compute a = 2 s, b = 1 s.
    #   bus:     wa [0, 1]   wb [1, 5]                ob [6, 7]
    #   compute:      a [1, 3]          b [5, 6]
    # The unit idles [0, 1] while a's filters cross (a: +1 s), [3, 5] while b's filters
    # cross (b: +2 s) and [6, 7] while b's output drains (b: +1 s).
    # a = 2 + 1 = 3 s, b = 1 + 2 + 1 = 4 s; together the run's 7 s.
    t = evaluate(compile_timeline(prefetching_pair()), np.array([2.0, 1.0]), 1.0, 0.0)
    assert t[0] == pytest.approx([3.0, 4.0])
    # Bytes follow the same owner: b's 4 B of filters count for b.
    assert prefetching_pair().traffic() == [(1, 0, 1), (4, 1, 2)]


def hardware(capacity: int, latency: float, pe: bool,
             depthwise: str = "channel") -> HardwareConfig:
    compute = ({"pe_rows": 8, "pe_cols": 8, "clock": 2e8, "dataflow": "ws",
                "depthwise": depthwise} if pe else {"mac_rate": 5e10})
    return HardwareConfig.model_validate({
        "sram": {"capacity": capacity}, "dram": {"bandwidth": 2e9, "latency": latency},
        "compute": compute})


@settings(max_examples=30, deadline=None)
@given(
    model=st.sampled_from(["mobilenet_v1_cifar", "mobilenet_v2"]),
    capacity=st.integers(min_value=6_000, max_value=400_000),
    latency=st.sampled_from([0.0, 2e-7, 3e-6]),
    batch=st.integers(min_value=1, max_value=8),
    policy=st.sampled_from(sorted(POLICIES)),
    pe=st.booleans(),
    depthwise=st.sampled_from(DEPTHWISE_MAPPINGS),
)
def test_layer_times_obey_the_attribution_rule(model: str, capacity: int, latency: float,
                                               batch: int, policy: str, pe: bool,
                                               depthwise: str) -> None:
    """Per layer: compute <= time <= compute + own transfers; times sum to the total;
    overlap is never slower than serial, layer by layer."""
    net = build_model(model, 0.25, 32 if model == "mobilenet_v2" else 28, 10)
    hw = hardware(capacity, latency, pe, depthwise)
    try:
        runs = {overlap: simulate(net, hw, SimulationConfig(policy=policy, overlap=overlap,
                                                            batch=batch))
                for overlap in (False, True)}
    except ScheduleError as exc:
        assert "cannot run in" in str(exc) or "would need" in str(exc)
        return
    for result in runs.values():
        table = result.table()
        assert (table.total_time_s >= table.compute_time_s * (1 - 1e-12)).all()
        assert (table.total_time_s <= (table.compute_time_s + table.data_movement_time_s)
                * (1 + 1e-9)).all()
        assert table.total_time_s.sum() == pytest.approx(result.summary()["total_time_s"])
        memory = table.bound == "memory"
        assert (table.stall_time_s[memory] > table.compute_time_s[memory]).all()
    serial, piped = runs[False].table(), runs[True].table()
    assert (piped.total_time_s <= serial.total_time_s * (1 + 1e-9) + 1e-15).all()
    assert piped.total_time_s.sum() <= serial.total_time_s.sum() * (1 + 1e-9)


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("capacity,batch", [(9_000, 1), (30_000, 3)])
def test_the_chosen_overlap_schedule_replays_bit_exactly(policy: str, capacity: int,
                                                         batch: int) -> None:
    net = build_model("mobilenet_v1_cifar", 0.25, 28, 10)
    result = simulate(net, hardware(capacity, 1e-7, False),
                      SimulationConfig(policy=policy, overlap=True, batch=batch))
    x = np.random.default_rng(1).standard_normal((batch, 28, 28, 3)).astype(np.float32)
    assert replay(net, result.schedule, x, mode="int").passed


def test_latency_never_makes_overlap_slower() -> None:
    # Two tile buffer sets halve the tiles and double the transfers; at 3 us a transfer
    # that costs more than it hides, so overlap keeps the tiles single-buffered.
    net = build_model("mobilenet_v1", 0.25, 96)
    hw = HardwareConfig.model_validate({
        "sram": {"capacity": "44 KB"}, "dram": {"bandwidth": "500 GB/s", "latency": "3 us"},
        "compute": {"mac_rate": "500 GMAC/s"}})
    serial = simulate(net, hw, SimulationConfig(overlap=False)).table()
    piped = simulate(net, hw, SimulationConfig(overlap=True)).table()
    assert (piped.total_time_s <= serial.total_time_s * (1 + 1e-9)).all()


@settings(max_examples=15, deadline=None)
@given(capacity=st.integers(min_value=6_000, max_value=200_000),
       latency=st.sampled_from([0.0, 1e-7, 3e-6]), bandwidth=st.sampled_from([1e8, 2e9, 1e11]),
       buffering=st.sampled_from(["none", "filters", "full"]))
def test_one_point_timing_equals_the_vectorised_timing(capacity: int, latency: float,
                                                       bandwidth: float, buffering: str) -> None:
    """The plain-Python single-point path and the NumPy many-point path agree exactly."""
    from accelsim.mapping import BuildOptions, Sizes, build_schedule

    net = build_model("mobilenet_v2", 0.25, 32, 10)
    sizes = Sizes(8, 8, 32, 2)
    serial = build_schedule(net, sizes, capacity, "liveness")
    peaks = tuple(ls.peak_sram_bytes for ls in serial.layers)
    timeline = compile_timeline(build_schedule(net, sizes, capacity, "liveness",
                                               BuildOptions(buffering, peaks)))  # type: ignore[arg-type]
    compute = np.random.default_rng(capacity).uniform(0, 1e-5, len(serial.layers))
    one = evaluate(timeline, compute, bandwidth, latency)
    many = evaluate(timeline, np.vstack([compute, compute * 2]), np.array([bandwidth] * 2),
                    latency)
    np.testing.assert_allclose(one[0], many[0], rtol=1e-12, atol=1e-18)
    assert many[1].sum() >= many[0].sum()


@settings(max_examples=15, deadline=None)
@given(capacity=st.integers(min_value=8_000, max_value=300_000),
       batch=st.integers(min_value=2, max_value=8), policy=st.sampled_from(sorted(POLICIES)))
def test_per_inference_traffic_at_batch_n_never_exceeds_batch_1(capacity: int, batch: int,
                                                                policy: str) -> None:
    from accelsim.mapping import Sizes, build_schedule

    net = build_model("mobilenet_v1_cifar", 0.25, 28, 10)
    try:
        one = build_schedule(net, Sizes(8, 8, 32, 1), capacity, policy)
    except ScheduleError:
        return
    many = build_schedule(net, Sizes(8, 8, 32, batch), capacity, policy)
    moved = sum(r + w for r, w, _ in many.traffic())
    assert moved <= batch * sum(r + w for r, w, _ in one.traffic())
    assert 1 <= many.sub_batch <= batch


def test_sub_batches_replay_bit_exactly() -> None:
    # 24 KB of SRAM cannot hold 4 samples' feature maps: the batch runs in smaller passes.
    from accelsim.mapping import Sizes, build_schedule

    net = build_model("mobilenet_v1_cifar", 0.25, 28, 10)
    schedule = build_schedule(net, Sizes(8, 8, 32, 4), 24_000, "liveness")
    assert schedule.sub_batch < 4
    assert len(schedule.layers) == len(schedule.passes()) * -(-4 // schedule.sub_batch)
    x = np.random.default_rng(2).standard_normal((4, 28, 28, 3)).astype(np.float32)
    assert replay(net, schedule, x, mode="int").passed


def test_cifar_batch_8_runs_in_sub_batches_at_256_kib() -> None:
    # The whole batch's feature maps do not fit 256 KiB; passes of fewer samples re-read
    # the filters (688 kB per pass of one sample, the batch-1 traffic) but stop the tiling.
    net = build_model("mobilenet_v1_cifar")
    hw = HardwareConfig.model_validate({"sram": {"capacity": "256 KiB"},
                                        "dram": {"bandwidth": "1 GB/s"},
                                        "compute": {"mac_rate": "500 GMAC/s"}})
    one = simulate(net, hw, SimulationConfig(batch=1)).summary()
    eight = simulate(net, hw, SimulationConfig(batch=8)).summary()
    assert eight["dram_bytes_per_inference"] <= one["dram_bytes_per_inference"]
    assert eight["sub_batch"] < 8
