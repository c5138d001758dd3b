"""Fused (depth-first) schedules: band geometry by hand, traffic, replay, residuals, batch."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from networks import two_convs
from test_policies import replay_occupancy

from accelsim.cli.app import main
from accelsim.config import load_run
from accelsim.errors import ReplayError, ScheduleError
from accelsim.ir import NetworkBuilder, build_model
from accelsim.ir.graph import Network
from accelsim.ir.modelfile import load_model_file
from accelsim.mapping import (
    Alloc,
    Compute,
    Free,
    Load,
    Schedule,
    Sizes,
    Store,
    build_schedule,
)
from accelsim.mapping.fused import emit_plan
from accelsim.mapping.fusion import FusionPlan, Graph, group_geometry, plan_fusion, plan_group
from accelsim.mapping.memory import MemorySpec, StoreLevel
from accelsim.reference.replay import replay
from accelsim.sim import simulate

INT8 = Sizes(8, 8, 32)
ROOT = Path(__file__).resolve().parents[1]


def traffic(schedule: object) -> int:
    return sum(ls.dram_read_bytes + ls.dram_write_bytes
               for ls in schedule.layers)  # type: ignore[attr-defined]


def chain() -> Network:
    """in 8x8x4 -> c1: 3x3 stride 1, same (pad 1) -> c2: 3x3 stride 2, same -> 4x4x8."""
    b = NetworkBuilder("chain")
    x = b.input("in", (8, 8, 4))
    x = b.conv2d("c1", x, 8, 3, 1)
    b.conv2d("c2", x, 8, 3, 2)
    return b.build()


def test_band_rows_by_hand_cached() -> None:
    # c2 (stride 2, TF 'same' on 8 rows: 3 + 2*3 - 8 = 1 row of padding, at the bottom)
    # reads c1 rows [2r, 2r + 3) for output row r. Bands of one c2 row: c1 must hold
    # [0,3), [2,5), [4,7), [6,8); cached, it computes only the new rows [0,3), [3,5),
    # [5,7), [7,8) and keeps one row between bands ([2,3), [4,5), [6,7), none at the end).
    g = group_geometry(Graph.of(chain(), INT8), ("c1", "c2"), 1, "cached")
    c1 = g.rows["c1"]
    assert list(c1.lo) == [0, 2, 4, 6] and list(c1.hi) == [3, 5, 7, 8]
    assert list(c1.start) == [0, 3, 5, 7] and list(c1.keep) == [2, 4, 6, 8]
    assert (c1.tallest, c1.tallest_halo, c1.produced_rows) == (3, 1, 8)
    # c1 (pad 1) reads input rows [a - 1, b + 1): the input is loaded once, 8 rows.
    x = g.rows["in"]
    assert list(x.hi) == [4, 6, 8, 8] and list(x.lo) == [0, 2, 4, 6]
    assert x.produced_rows == 8 and g.externals == ("in",)


def test_band_rows_by_hand_recompute() -> None:
    # Recomputed, c1 computes all four bands whole: 3 + 3 + 3 + 2 = 11 rows for 8, and
    # the input bands [0,4), [1,6), [3,8), [5,8) are loaded whole: 4 + 5 + 5 + 3 = 17 rows.
    net = chain()
    g = group_geometry(Graph.of(net, INT8), ("c1", "c2"), 1, "recompute")
    assert g.rows["c1"].produced_rows == 11 and g.rows["c1"].tallest_halo == 0
    assert list(g.rows["in"].lo) == [0, 1, 3, 5] and g.rows["in"].produced_rows == 17
    plan = plan_group(Graph.of(net, INT8), INT8, 10_000, g)
    assert plan is not None
    # 3 extra rows of c1: 3 * (8 * 8 out channels * 3*3*4 MACs) = 3 * 2,304 MACs
    assert plan.recomputed_macs == 3 * 8 * 8 * 36
    # DRAM: input 17 rows * 8 * 4 B, c2's output 4*4*8 B, both filters once (resident:
    # 3*3*4*8 and 3*3*8*8 B; no batch-norm, no bias).
    assert plan.dram_bytes == 17 * 32 + 128 + 288 + 576


def big_maps() -> Network:
    """Feature maps much larger than their filters: in 32x32x8 -> 3x3 conv to 16 ->
    3x3 depthwise -> 1x1 conv to 8 (no batch-norm, so no biases)."""
    b = NetworkBuilder("maps")
    x = b.input("in", (32, 32, 8))
    x = b.conv2d("a", x, 16, 3)
    x = b.depthwise_conv2d("b", x, 3)
    b.conv2d("c", x, 8, 1)
    return b.build()


def test_fusion_reaches_compulsory_traffic_where_layer_by_layer_cannot() -> None:
    # Compulsory: input 32*32*8 = 8,192 B, output 8,192 B, filters 3*3*8*16 = 1,152,
    # 3*3*16 = 144 and 16*8 = 128 B: 17,808 B. With 12 KiB no 16 KB feature map fits,
    # so layer by layer every map goes to DRAM and back; fused, none leaves the chip.
    net = big_maps()
    fused = build_schedule(net, INT8, 12 * 1024, "fused")
    live = build_schedule(net, INT8, 12 * 1024, "liveness")
    assert traffic(fused) == 8192 + 8192 + 1152 + 144 + 128 < traffic(live)
    assert fused.order is not None and {ls.group for ls in fused.layers} == {"a..c"}
    assert fused.peak_sram_bytes <= 12 * 1024
    # Per-layer bytes: the input bands are loaded by their reader a, with a's filters;
    # b and c load only their filters; c stores the network output.
    a, b, c = fused.layers
    assert (a.dram_read_bytes, a.dram_write_bytes) == (8192 + 1152, 0)
    assert (b.dram_read_bytes, b.dram_write_bytes) == (144, 0)
    assert (c.dram_read_bytes, c.dram_write_bytes) == (128, 8192)
    for mode in ("int", "float32"):
        x = np.random.default_rng(3).standard_normal((1, 32, 32, 8)).astype(np.float32)
        assert replay(net, fused, x, mode=mode).passed  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["cached", "recompute"])
@pytest.mark.parametrize("band_rows", [1, 3])
def test_both_halo_modes_replay_bit_exactly(mode: str, band_rows: int) -> None:
    # Strides 1 and 2 with 'same' padding, batch 2 (bands per sample), emitted directly
    # from a one-group plan of each halo mode.
    net = chain()
    sizes = Sizes(8, 8, 32, batch=2)
    graph = Graph.of(net, sizes)
    group = plan_group(graph, sizes, 4_000,
                       group_geometry(graph, ("c1", "c2"), band_rows, mode))  # type: ignore[arg-type]
    assert group is not None
    schedule = emit_plan(net, sizes, 4_000, FusionPlan((group,), group.dram_bytes))
    assert traffic(schedule) == group.dram_bytes
    assert all(a.tile.samples[1] - a.tile.samples[0] == 1 for ls in schedule.layers
               for a in ls.actions if isinstance(a, Compute))
    c1 = schedule.layers[0]
    assert (c1.recomputed_macs > 0) == (mode == "recompute")
    x = np.random.default_rng(4).standard_normal((2, 8, 8, 4)).astype(np.float32)
    for replay_mode in ("int", "float32"):
        result = replay(net, schedule, x, mode=replay_mode)  # type: ignore[arg-type]
        assert result.passed and result.peak_sram_bytes <= 4_000


def test_planner_recomputes_when_halos_do_not_fit_and_time_counts_it() -> None:
    net = build_model("mobilenet_v1_cifar", 0.25)
    sizes = Sizes(8, 8, 32, batch=2)
    plan = plan_fusion(net, sizes, 20_000)
    assert plan is not None and any(g.mode == "recompute" for g in plan.groups)
    schedule = build_schedule(net, sizes, 20_000, "fused")
    x = np.random.default_rng(5).standard_normal((2, 28, 28, 3)).astype(np.float32)
    assert replay(net, schedule, x, mode="int").passed
    redone = [ls for ls in schedule.layers if ls.recomputed_macs > 0]
    assert redone
    config = load_run(ROOT / "hw_configs" / "mobilenet_cifar.yaml",
                      {"simulation.policy": "fused", "simulation.batch": 2,
                       "hardware.sram.capacity": 20_000, "model.alpha": 0.25})
    fused = simulate(net, config.hardware, config.simulation).table().set_index("name")
    config = load_run(ROOT / "hw_configs" / "mobilenet_cifar.yaml",
                      {"simulation.batch": 2, "hardware.sram.capacity": 20_000,
                       "model.alpha": 0.25})
    alone = simulate(net, config.hardware, config.simulation).table().set_index("name")
    for ls in redone:  # compute time grows by the share of MACs computed again
        macs = net.layer(ls.name).macs * 2
        assert fused.loc[ls.name, "compute_time_s"] == pytest.approx(
            alone.loc[ls.name, "compute_time_s"] * (1 + ls.recomputed_macs / macs))
        assert fused.loc[ls.name, "macs"] == macs  # the layer's own MACs, once


def residual_block() -> Network:
    """A ResNet basic block with a projection: x -> a (3x3 s2) -> b (3x3) and
    x -> p (1x1 s2); add(p, b); then a 3x3 conv."""
    b = NetworkBuilder("resblock")
    x = b.input("in", (16, 16, 8))
    x = b.conv2d("stem", x, 8, 3, activation="relu")
    y = b.conv2d("a", x, 16, 3, 2, activation="relu")
    y = b.conv2d("b", y, 16, 3)
    p = b.conv2d("p", x, 16, 1, 2)
    y = b.add("sum", [p, y], activation="relu")
    b.conv2d("head", y, 8, 3)
    return b.build()


@pytest.mark.parametrize("capacity", [2_500, 4_000, 100_000])
def test_residual_blocks_fuse_whole_and_replay(capacity: int) -> None:
    net = residual_block()
    schedule = build_schedule(net, INT8, capacity, "fused")
    groups = {ls.name: ls.group for ls in schedule.layers}
    stem = schedule.layers[0]
    # The skip (stem's output) is read by a and p: either both paths and the add share
    # one group (the skip's bands wait in SRAM for the add), or the cut is recorded and
    # the skip goes through DRAM once.
    if len({groups[n] for n in ("a", "p")}) > 1:
        assert groups["stem"] == "stem" and "read by 2 fused groups" in stem.spill_reason
        assert sum(a.bytes for a in stem.actions if isinstance(a, Store)) == 16 * 16 * 8
    else:
        assert len({groups[n] for n in ("a", "b", "p", "sum")}) == 1
    x = np.random.default_rng(6).standard_normal((1, 16, 16, 8)).astype(np.float32)
    for mode in ("int", "float32"):
        result = replay(net, schedule, x, mode=mode)  # type: ignore[arg-type]
        assert result.passed and result.peak_sram_bytes <= capacity


def test_mobilenet_v2_residuals_fuse_and_replay() -> None:
    net = build_model("mobilenet_v2", 0.35, 32, 10)
    schedule = build_schedule(net, INT8, 8_000, "fused")
    assert schedule.order is not None
    assert traffic(schedule) < traffic(build_schedule(net, INT8, 8_000, "liveness"))
    fused_adds = [ls for ls in schedule.layers if net.layer(ls.name).op == "add"
                  and ls.group != ls.name]
    assert fused_adds, "some residual add runs inside a larger group"
    x = np.random.default_rng(7).standard_normal((1, 32, 32, 3)).astype(np.float32)
    assert replay(net, schedule, x, mode="int").passed


def test_no_fused_plan_falls_back_to_layer_by_layer() -> None:
    # A depthwise 3x3 layer on rows of 64 x 64 = 4,096 B: any band holds three input
    # rows (12,288 B) beside an output row, more than 8 KiB; layer by layer, the tile
    # search splits channels instead, so that schedule is kept, under the fused name.
    b = NetworkBuilder("wide")
    b.depthwise_conv2d("dw", b.input("in", (8, 64, 64)), 3)
    net = b.build()
    assert plan_fusion(net, INT8, 8 * 1024) is None
    fused = build_schedule(net, INT8, 8 * 1024, "fused")
    live = build_schedule(net, INT8, 8 * 1024, "liveness")
    assert fused.policy == "fused" and traffic(fused) == traffic(live)
    assert [ls.group for ls in fused.layers] == [""]
    with pytest.raises(ScheduleError, match="in 100 bytes of SRAM"):
        build_schedule(build_model("mobilenet_v1_cifar"), INT8, 100, "fused")


def test_never_above_liveness_and_monotone_in_sram() -> None:
    net = build_model("mobilenet_v1_cifar", 0.25)
    sizes = Sizes(8, 8, 32, batch=2)
    previous = None
    for capacity in (3_000, 4_500, 9_000, 20_000, 60_000, 200_000):
        fused = traffic(build_schedule(net, sizes, capacity, "fused"))
        assert fused <= traffic(build_schedule(net, sizes, capacity, "liveness"))
        assert previous is None or fused <= previous
        previous = fused


def compulsory(net: Network, sizes: Sizes) -> int:
    """Every filter once, the network input once and its output once."""
    weights = sum(sizes.weight_bytes(layer) for layer in net.layers())
    ends = [*net.inputs, *net.outputs]
    return weights + sum(sizes.fmap_bytes(net.layer(n).output_shape) for n in ends)


def test_mobilenet_v1_224_on_1_mb_is_within_5_percent_of_compulsory() -> None:
    net = build_model("mobilenet_v1")
    floor = compulsory(net, INT8)
    assert floor == 4_408_392  # 4,231,976 B of filters and biases + 150,528 in + 1,000 out
    assert traffic(build_schedule(net, INT8, 1_000_000, "fused")) <= 1.05 * floor


def test_four_layer_head_model_file_moves_compulsory_bytes() -> None:
    net = load_model_file(ROOT / "models" / "mobilenet_v1_head4.yaml")
    full = build_model("mobilenet_v1")
    assert all(net.layer(n) == full.layer(n) for n in net.order)
    # input 224*224*3 = 150,528 B, output 56*56*64 = 200,704 B, filters 864 + 288 +
    # 2,048 + 576 B with 32 + 32 + 64 + 64 folded batch-norm biases at 4 B = 768 B.
    floor = 150_528 + 200_704 + 864 + 288 + 2_048 + 576 + 4 * (32 + 32 + 64 + 64)
    assert floor == compulsory(net, INT8)
    schedule = build_schedule(net, INT8, 1_000_000, "fused")
    assert traffic(schedule) <= 1.01 * floor
    # Layer by layer, conv_pw_1's 401,408 B input and 802,816 B output cannot both be
    # whole in 1 MB: at least one of them crosses the bus twice.
    assert traffic(build_schedule(net, INT8, 1_000_000, "liveness")) >= floor + 2 * 401_408


def test_layers_csv_names_groups_and_verify_passes(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "fused.yaml"
    run.write_text(
        "name: fused_cifar\n"
        "model: {name: mobilenet_v1_cifar, alpha: 0.25}\n"
        "hardware:\n"
        "  sram: {capacity: 9 kB}\n"
        "  dram: {bandwidth: 1 GB/s}\n"
        "  compute: {mac_rate: 500 GMAC/s}\n"
        "  precision: {activation_bits: 8, weight_bits: 8, accumulator_bits: 32}\n"
        "simulation: {policy: fused, overlap: false}\n")
    assert main(["verify", str(run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is True
    assert [c["check"] for c in out["checks"]] == [
        "schedule replay (fused, float32)", "schedule replay (fused, int)"]
    config = load_run(run)
    result = simulate(build_model("mobilenet_v1_cifar", 0.25), config.hardware,
                      config.simulation)
    table = result.table()
    assert list(table["fusion_group"]) == [ls.group for ls in result.schedule.layers]
    first = table["fusion_group"].iloc[0]
    assert first.startswith("conv1..") and (table["fusion_group"] == first).sum() > 1
    # The terminal table and report.md name each layer's group.
    out_dir = tmp_path / "out"
    assert main(["run", str(run), "--no-plots", "--out", str(out_dir)]) == 0
    terminal = capsys.readouterr().out
    report = (out_dir / "report.md").read_text()
    for text in (terminal, report):
        assert "fused group" in text
        assert sum(first in line for line in text.splitlines()) == (
            table["fusion_group"] == first).sum()


def test_overlap_timing_runs_on_interleaved_schedules() -> None:
    config = load_run(ROOT / "hw_configs" / "mobilenet_cifar.yaml",
                      {"simulation.policy": "fused", "simulation.overlap": True,
                       "hardware.sram.capacity": 9_000, "model.alpha": 0.25})
    net = build_model("mobilenet_v1_cifar", 0.25)
    result = simulate(net, config.hardware, config.simulation)
    serial = simulate(net, config.hardware, config.simulation.model_copy(
        update={"overlap": False}))
    assert 0 < result.total.total_time_s <= serial.total.total_time_s * (1 + 1e-9)
    loads = [a for _, a in result.schedule.steps() if isinstance(a, Load | Store)]
    assert sum(a.bytes for a in loads) == result.total.dram_bytes


@settings(max_examples=15, deadline=None)
@given(
    model=st.sampled_from(["mobilenet_v1_cifar", "mobilenet_v2"]),
    alpha=st.sampled_from([0.25, 0.5]),
    capacity=st.integers(min_value=2_000, max_value=400_000),
    bits=st.sampled_from([4, 8, 16]),
    batch=st.integers(min_value=1, max_value=3),
)
def test_fused_plans_over_generated_configs(model: str, alpha: float, capacity: int,
                                            bits: int, batch: int) -> None:
    """The emitted plan itself (not the layer-by-layer fallback): never over capacity,
    buffers resident when used, traffic >= compulsory, every output row computed and
    every MAC counted once plus what is recomputed."""
    net = build_model(model, alpha, 32 if model == "mobilenet_v2" else 28)
    sizes = Sizes(bits, bits, 32, batch)
    plan = plan_fusion(net, sizes, capacity)
    if plan is None:
        return
    schedule = emit_plan(net, sizes, capacity, plan)
    assert replay_occupancy(schedule) == schedule.peak_sram_bytes <= capacity
    assert traffic(schedule) >= compulsory(net, sizes)
    for ls in schedule.layers:
        layer = net.layer(ls.name)
        computes = [a for a in ls.actions if isinstance(a, Compute)]
        assert sum(a.macs for a in computes) == layer.macs * batch + ls.recomputed_macs
        h = layer.output_shape[0] if len(layer.output_shape) == 3 else 1
        for sample in range(batch):
            rows = {r for a in computes if a.tile.samples[0] <= sample < a.tile.samples[1]
                    for r in range(*a.tile.rows)}
            assert rows == set(range(h)), ls.name


def test_sweep_fast_path_counts_recomputed_macs(tmp_path: Path) -> None:
    from accelsim.pipeline import run_config
    from accelsim.sweep import run_sweep

    base = tmp_path / "recompute.yaml"
    base.write_text(
        "name: recompute\n"
        "model: {name: mobilenet_v1_cifar, alpha: 0.25}\n"
        "hardware: {sram: {capacity: 20 kB}, dram: {bandwidth: 1 GB/s},\n"
        "           compute: {mac_rate: 500 GMAC/s}}\n"
        "simulation: {policy: fused, batch: 2}\n")
    spec = {"base": str(base), "axes": {"hardware.compute.mac_rate": ["5 GMAC/s",
                                                                       "500 GMAC/s"]}}
    frame = run_sweep(spec, out=tmp_path / "sweep", backend="serial")
    for _, row in frame.iterrows():
        rate = float(row["hardware.compute.mac_rate"])
        summary = run_config(load_run(base, {"hardware.compute.mac_rate": rate})).summary()
        assert row["compute_time_s"] == pytest.approx(summary["compute_time_s"], rel=1e-9)
        assert row["total_time_s"] == pytest.approx(summary["total_time_s"], rel=1e-9)
        assert row["energy_j"] == pytest.approx(summary["energy_j"], rel=1e-9)
    result = run_config(load_run(base))
    redone = sum(ls.recomputed_macs for ls in result.schedule.layers)
    assert redone > 0
    # MAC energy is charged for every MAC performed, recomputed ones included.
    mac = result.hardware.energy.mac
    assert result.total.energy_mac_j == pytest.approx((result.total.macs + redone) * mac)


def test_bands_may_span_the_batch_so_filters_stream_once() -> None:
    # MobileNetV2 0.35 at 32x32 on 8 kB: its filters (about 0.4 MB) cannot stay resident,
    # so bands of one sample each would stream them once per sample. Bands spanning both
    # samples read them once for the batch: per inference, batch 2 then moves less than
    # batch 1, and far less than layer by layer.
    net = build_model("mobilenet_v2", 0.35, 32, 10)
    two = Sizes(8, 8, 32, batch=2)
    schedule = build_schedule(net, two, 8_000, "fused")
    assert schedule.order is not None
    assert any(a.tile.samples == (0, 2) for _, a in schedule.steps() if isinstance(a, Compute))
    assert traffic(schedule) < traffic(build_schedule(net, two, 8_000, "liveness"))
    assert traffic(schedule) < 2 * traffic(build_schedule(net, INT8, 8_000, "fused"))
    x = np.random.default_rng(8).standard_normal((2, 32, 32, 3)).astype(np.float32)
    assert replay(net, schedule, x, mode="int").passed


def test_plans_with_too_many_bands_are_not_emitted(monkeypatch: pytest.MonkeyPatch) -> None:
    # The 12 KiB plan of big_maps runs its 3 layers over several bands; with the limit
    # lowered below that, the plan is not emitted and layer by layer decides.
    import accelsim.mapping.fused as fused

    net = big_maps()
    plan = plan_fusion(net, INT8, 12 * 1024)
    assert plan is not None and plan.least_computes > 3
    monkeypatch.setattr(fused, "MAX_COMPUTES", 3)
    schedule = build_schedule(net, INT8, 12 * 1024, "fused")
    assert schedule.order is None and [ls.group for ls in schedule.layers] == ["", "", ""]
    assert traffic(schedule) == traffic(build_schedule(net, INT8, 12 * 1024, "liveness"))


@settings(max_examples=6, deadline=None)
@given(
    capacity=st.integers(min_value=3_000, max_value=80_000),
    batch=st.integers(min_value=1, max_value=2),
    bits=st.sampled_from([4, 8]),
)
def test_fused_schedules_replay_over_generated_configs(capacity: int, batch: int,
                                                       bits: int) -> None:
    """Whatever the plan, integer replay with a bounded SRAM matches direct execution."""
    from accelsim.reference.quant import Precision

    net = build_model("mobilenet_v1_cifar", 0.25)
    sizes = Sizes(bits, bits, 32, batch)
    plan = plan_fusion(net, sizes, capacity)
    if plan is None:
        return
    schedule = emit_plan(net, sizes, capacity, plan)
    x = np.random.default_rng(capacity).standard_normal((batch, 28, 28, 3)).astype(np.float32)
    result = replay(net, schedule, x, mode="int", precision=Precision(bits, bits, 32))
    assert result.passed and result.peak_sram_bytes <= capacity


# ---- fused bands in dedicated on-chip levels ----------------------------------------------

def three_buffers(inputs: int, weights: int, outputs: int) -> MemorySpec:
    """An input, a filter and an output buffer (which also holds partial sums)."""
    return MemorySpec((StoreLevel("ifmap", inputs, ("inputs",)),
                       StoreLevel("filter", weights, ("weights",)),
                       StoreLevel("ofmap", outputs, ("outputs", "partial_sums"))))


def level_peaks(schedule: Schedule) -> dict[str, int]:
    """The most bytes each level holds at once, walking the actions in execution order,
    after checking every buffer sits in the level holding its operand."""
    assert schedule.memory is not None
    held: dict[str, int] = {}
    peaks: dict[str, int] = {}
    where: dict[str, tuple[str, int]] = {}
    for _, a in schedule.steps():
        if isinstance(a, Load | Alloc):
            operand = ("weights" if isinstance(a, Load) and a.kind == "weights" else
                       "inputs" if isinstance(a, Load) else "outputs")
            assert a.level == schedule.memory.level_of(operand), (a.buffer, a.level)
            where[a.buffer] = (a.level, a.bytes)
            held[a.level] = held.get(a.level, 0) + a.bytes
            peaks[a.level] = max(peaks.get(a.level, 0), held[a.level])
        elif isinstance(a, Free):
            level, size = where.pop(a.buffer)
            held[level] -= size
    return peaks


def test_fused_bands_live_in_the_output_buffer_by_hand() -> None:
    # two_convs: in 8x8x4 (256 B) -> c1 3x3 'same' to 8x8x8 (512 B; filters 288 B)
    # -> c2 1x1 to 8x8x8 (512 B; filters 64 B). A 600 B output buffer cannot hold c1's
    # output beside c2's (1024 B): layer by layer, c1's output goes to DRAM and back
    # (512 B written, 512 B read again). Fused, while c2 computes a band of h rows the
    # output buffer holds c1's band and c2's, 64 h B each (8 x 8 channels per row):
    # 128 h <= 600 gives h = 4 (heights are powers of two). c2 is 1x1, so c1 keeps no
    # halo; the input buffer holds input rows [0, 5) = 5 x 32 = 160 B of the first band.
    net, spec = two_convs(), three_buffers(600, 400, 600)
    alone = build_schedule(net, INT8, spec, "liveness")
    fused = build_schedule(net, INT8, spec, "fused")
    assert [ls.group for ls in fused.layers] == ["c1..c2", "c1..c2"]
    assert "bands of 4/8 rows of c2" in fused.layers[0].tiling
    assert [sum(ls.dram_read_bytes for ls in s.layers) for s in (alone, fused)] == [
        256 + 288 + 64 + 512, 256 + 288 + 64]
    assert [sum(ls.dram_write_bytes for ls in s.layers) for s in (alone, fused)] == [
        512 + 512, 512]
    # Both filters stay resident in the filter buffer (288 + 64 = 352 <= 400 B).
    assert level_peaks(fused) == {"ifmap": 160, "filter": 352, "ofmap": 2 * 4 * 64}
    x = np.random.default_rng(2).standard_normal((1, 8, 8, 4)).astype(np.float32)
    assert replay(net, fused, x, mode="int").passed


def test_a_small_filter_buffer_streams_filter_chunks_beside_whole_bands() -> None:
    # A 100 B filter buffer holds neither c1's 288 B of filters nor any band: c1's filters
    # stream in output-channel chunks that fit it, halving 8 channels (36 B each):
    # 8 -> 288 B, 4 -> 144 B, 2 -> 72 B <= 100 B. The 2000 B feature-map buffers hold the
    # whole maps, so the group runs as one band and each filter crosses the bus once.
    net = two_convs()
    fused = build_schedule(net, INT8, three_buffers(2000, 100, 2000), "fused")
    assert fused.layers[0].tiling == "filters streamed in chunks of 2/8 channels"
    assert sum(ls.dram_read_bytes for ls in fused.layers) == 256 + 288 + 64
    assert level_peaks(fused)["filter"] == 72
    x = np.random.default_rng(3).standard_normal((1, 8, 8, 4)).astype(np.float32)
    assert replay(net, fused, x, mode="int").passed


@settings(max_examples=5, deadline=None)
@given(inputs=st.integers(1_500, 40_000), weights=st.integers(300, 40_000),
       outputs=st.integers(1_500, 40_000), batch=st.integers(1, 2))
def test_fused_plans_fit_every_level_and_replay(inputs: int, weights: int, outputs: int,
                                                batch: int) -> None:
    """Over generated three-buffer splits: every fused plan's schedule keeps each buffer in
    its operand's level within capacity and replays bit-exactly."""
    net = build_model("mobilenet_v1_cifar", 0.25, 28, 10)
    spec, sizes = three_buffers(inputs, weights, outputs), Sizes(8, 8, 32, batch)
    plan = plan_fusion(net, sizes, spec)
    if plan is None:
        return
    schedule = emit_plan(net, sizes, spec, plan)
    peaks = level_peaks(schedule)
    assert all(peaks.get(lv.name, 0) <= lv.capacity for lv in spec.levels)
    x = np.random.default_rng(inputs).standard_normal((batch, 28, 28, 3)).astype(np.float32)
    assert replay(net, schedule, x, mode="int").passed


def test_replay_refuses_a_fused_band_in_the_wrong_level_or_an_overfull_level() -> None:
    net = two_convs()
    x = np.zeros((1, 8, 8, 4), dtype=np.float32)
    fused = build_schedule(net, INT8, three_buffers(600, 400, 600), "fused")
    assert replay(net, fused, x).passed
    # The output buffer peaks at c1's band beside c2's, 2 x 256 B: 500 B is too small.
    fused.memory = three_buffers(600, 400, 500)
    with pytest.raises(ReplayError, match="exceeds the capacity of ofmap"):
        replay(net, fused, x)
    fused.memory = three_buffers(600, 400, 600)
    first = fused.layers[0]
    first.actions[:] = [dataclasses.replace(a, level="filter") if isinstance(a, Load)
                        and a.kind == "fmap" else a for a in first.actions]
    with pytest.raises(ReplayError, match="holds inputs but is placed in filter"):
        replay(net, fused, x)
