"""Double buffering: the event timeline worked by hand, bounds, capacity and replay."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.config import load_run
from accelsim.ir import build_model
from accelsim.mapping import (
    Alloc,
    BuildOptions,
    Compute,
    Free,
    LayerSchedule,
    Load,
    Region,
    Schedule,
    Sizes,
    Store,
    Tile,
    build_schedule,
)
from accelsim.reference.replay import replay
from accelsim.sim import simulate
from accelsim.sim.timeline import compile_timeline, evaluate


def three_tile_pipeline(capacity: int) -> Schedule:
    """Tile i: load 1 B, compute, store 1/2 B; the next tile's load is issued first."""
    r = Region()
    def tile(i: int) -> list:  # noqa: E306
        return [Alloc(f"o{i}", "x", r, 1),
                Compute("x", Tile((0, 1), (i, i + 1), (0, 1)), (f"i{i}",), None, f"o{i}", 1),
                Store(f"o{i}", "x", r, 0), Free(f"o{i}", 1), Free(f"i{i}", 1)]
    actions = [Load("i0", "in", "fmap", r, 1), Load("i1", "in", "fmap", r, 1), *tile(0),
               Load("i2", "in", "fmap", r, 1), *tile(1), *tile(2)]
    # Stores carry 0 bytes here; their 0.5 s comes from the latency (one per transfer).
    return Schedule("liveness", capacity, 1, [LayerSchedule(1, "x", actions)], [])


def test_three_tile_pipeline_by_hand() -> None:
    # bandwidth 1 B/s, latency 0.5 s per transfer: loads take 1.5 s, stores 0.5 s;
    # the layer's 6 s of compute split in three tiles of 2 s.
    #   bus: L0 [0, 1.5]  L1 [1.5, 3]  S0 [3.5, 4]  L2 [4, 5.5]  S1 [5.5, 6]  S2 [9.5, 10]
    #   PE :              C0 [1.5, 3.5]  C1 [3.5, 5.5]  C2 [5.5, 7.5] -> waits L2: [5.5, 7.5]
    # C2 needs L2 (done 5.5) and the PE (free 5.5): [5.5, 7.5]; S2 [7.5, 8]. Total 8 s.
    # Serial would be 3 x (1.5 + 2 + 0.5) = 12 s.
    t = evaluate(compile_timeline(three_tile_pipeline(100)), np.array([6.0]), 1.0, 0.5)
    assert t.shape == (1, 1)
    assert t[0, 0] == pytest.approx(8.0)


def test_space_waits_when_the_second_buffer_does_not_fit() -> None:
    # Capacity 3 B: i0, i1 and o0 fill it. L2 (1 B, issued after o0's and i0's frees)
    # needs only one of them: skipping i0's free leaves room, o0's (after S0, 4 s) is
    # waited for: L2 [4, 5.5]. The alloc of o1 (i1 and i2 resident) needs both: it waits
    # for o0's free (4 s), so C1 runs [4, 6] instead of [3.5, 5.5]; S1 [6, 6.5].
    # The alloc of o2 (i2 resident, i1 freed at 6) waits for o1's free (6.5):
    # C2 [6.5, 8.5], S2 [8.5, 9]. Total 9 s.
    t = evaluate(compile_timeline(three_tile_pipeline(3)), np.array([6.0]), 1.0, 0.5)
    assert t[0, 0] == pytest.approx(9.0)


def test_evaluate_broadcasts_over_design_points() -> None:
    timeline = compile_timeline(three_tile_pipeline(100))
    t = evaluate(timeline, np.array([[6.0], [6.0]]), np.array([1.0, 1e9]), 0.5)
    assert t[0, 0] == pytest.approx(8.0)
    # Near-infinite bandwidth: loads and stores cost their 0.5 s latency only.
    # L0 [0, .5] L1 [.5, 1]; C0 [.5, 2.5]; S0 [2.5, 3]; L2 [3, 3.5]; C1 [2.5, 4.5];
    # S1 [4.5, 5]; C2 [4.5, 6.5]; S2 [6.5, 7].
    assert t[1, 0] == pytest.approx(7.0)


@pytest.mark.parametrize("capacity", ["1 MB", "256 KiB", "48 KiB"])
@pytest.mark.parametrize("model", ["mobilenet_v1_cifar", "mobilenet_v2"])
def test_overlap_between_the_bounds_and_never_slower(model: str, capacity: str) -> None:
    results = {}
    for overlap in (False, True):
        c = load_run("mobilenet_cifar.yaml", {"simulation.overlap": overlap,
                                               "hardware.sram.capacity": capacity})
        net = build_model(model, 0.5, 32 if model == "mobilenet_v2" else 28, 10)
        results[overlap] = simulate(net, c.hardware, c.simulation).summary()
    serial, piped = results[False], results[True]
    assert piped["peak_sram_bytes"] <= piped["sram_capacity_bytes"]
    assert piped["total_time_s"] >= max(piped["compute_time_s"],
                                        piped["data_movement_time_s"]) * (1 - 1e-12)
    assert piped["total_time_s"] <= piped["compute_time_s"] + piped["data_movement_time_s"]
    assert piped["total_time_s"] <= serial["total_time_s"] * (1 + 1e-12)


def test_double_buffered_tiles_reserve_the_second_buffer_and_replay() -> None:
    net = build_model("mobilenet_v1_cifar", 0.25)
    sizes = Sizes(8, 8, 32, batch=1)
    s = build_schedule(net, sizes, 6_000, "liveness", options=BuildOptions("full"))
    doubled = [ls for ls in s.layers if "double-buffered" in str(
        [t.placement for t in s.tensors if t.tensor == ls.name])]
    assert doubled, "some tiled layer should take two buffer sets"
    # In a double-buffered layer, a load is issued before the previous tile computes.
    actions = doubled[0].actions
    first_compute = next(i for i, a in enumerate(actions) if isinstance(a, Compute))
    assert sum(isinstance(a, Load) for a in actions[:first_compute]) >= 2
    x = np.random.default_rng(0).standard_normal((1, 28, 28, 3)).astype(np.float32)
    for mode in ("float32", "int"):
        assert replay(net, s, x, mode=mode).passed  # type: ignore[arg-type]
