"""Memory levels: the record, its checks, the SRAM energy model, the `sram` shorthand."""

from __future__ import annotations

import dataclasses
import glob
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from networks import two_convs

from accelsim.cli.app import main
from accelsim.config import load_hardware, load_run
from accelsim.config.models import HardwareConfig, SimulationConfig
from accelsim.errors import ConfigError, ReplayError, ScheduleError
from accelsim.ir import build_model
from accelsim.mapping import (
    POLICIES,
    Alloc,
    BuildOptions,
    Free,
    Load,
    Region,
    Schedule,
    Sizes,
    build_schedule,
)
from accelsim.mapping.memory import MemorySpec, StoreLevel, memory_spec
from accelsim.pipeline import run_config
from accelsim.reference.replay import replay
from accelsim.report.tables import layer_table
from accelsim.sim.buffers import element_accesses, group_spans
from accelsim.sim.energy import level_energy, sram_energy_per_byte
from accelsim.sim.overlap import Ladder
from accelsim.sim.pe_array import DATAFLOWS, DEPTHWISE_MAPPINGS, PEArray
from accelsim.sim.simulate import LAYER_COLUMNS, simulate
from accelsim.sweep import run_sweep
from accelsim.sweep.fast import RESULT_COLUMNS
from accelsim.sweep.space import load_sweep

ROOT = Path(__file__).resolve().parent.parent
BASE = {"dram": {"bandwidth": "1 GB/s"},
        "compute": {"pe_rows": 8, "pe_cols": 8, "clock": "500 MHz"}}
SPLIT = [{"name": "ifmap", "capacity": "512 KB", "holds": ["inputs"], "level": 0},
         {"name": "filter", "capacity": "256 KB", "holds": ["weights"], "level": 0},
         {"name": "ofmap", "capacity": "256 KB", "holds": ["outputs", "partial_sums"],
          "level": 0}]


def hardware(**fields: Any) -> HardwareConfig:
    return HardwareConfig.model_validate({**BASE, **fields})


def test_levels_parse_units_and_per_cycle_bandwidth() -> None:
    hw = hardware(memory=[{**SPLIT[0], "read_bandwidth": "16 B/cycle",
                           "write_bandwidth": "64 GB/s"}, *SPLIT[1:]])
    ifmap = hw.levels[0]
    assert ifmap.capacity == 512_000
    assert ifmap.read_bandwidth == 16 * 500e6  # 16 B per cycle at 500 MHz = 8e9 B/s
    assert ifmap.write_bandwidth == 64e9
    assert hw.levels[1].read_bandwidth is None  # unlimited
    assert hw.sram_capacity == 512_000 + 256_000 + 256_000


def test_shorthand_is_one_shared_level_at_the_flat_energy() -> None:
    hw = hardware(sram={"capacity": "1 MiB"}, energy={"sram_read_byte": "3 pJ"})
    (level,) = hw.levels
    assert level.capacity == 1 << 20 and set(level.holds) == {
        "inputs", "weights", "outputs", "partial_sums"}
    assert level_energy(level) == (3e-12, 12.5e-12)


@pytest.mark.parametrize(("fields", "message"), [
    ({"sram": {"capacity": "1 MB"}, "memory": SPLIT}, "exactly one of sram"),
    ({}, "exactly one of sram"),
    ({"memory": SPLIT[:2]}, "must hold outputs (none does)"),
    ({"memory": [{"name": "dram", "capacity": 64}]}, "is reserved"),
    ({"memory": [{**SPLIT[0], "holds": ["inputs", "weights"]}, *SPLIT[1:]]},
     "must hold weights (ifmap, filter both do)"),
    ({"memory": [SPLIT[0], {**SPLIT[0]}]}, "names must be unique"),
    ({"memory": [{"name": "rf", "capacity": 64, "per_pe": True, "level": 0}]},
     "per_pe levels go inside"),
    ({"memory": [{"name": "a", "capacity": 64, "level": 1},
                 {"name": "b", "capacity": 64, "level": 0}]}, "outermost first"),
    ({"memory": [{"name": "a", "capacity": 64}, {"name": "b", "capacity": 64}]},
     "must be per_pe"),
    ({"memory": SPLIT, "energy": {"sram_read_byte": "1 pJ"}}, "read_energy/write_energy"),
    ({"memory": [{**SPLIT[0], "holds": []}, *SPLIT[1:]]}, "at least one"),
])
def test_bad_hierarchies_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        hardware(**fields)


def test_a_clock_sweep_refuses_per_cycle_bandwidths(tmp_path: Path) -> None:
    base = tmp_path / "b.yaml"
    base.write_text(yaml.safe_dump({"name": "b", "model": {"name": "mobilenet_v1_cifar"},
                                    "hardware": {**BASE, "memory": [
                                        {**SPLIT[0], "read_bandwidth": "4 B/cycle"},
                                        *SPLIT[1:]]}}))
    with pytest.raises(ConfigError, match="give them in B/s to sweep the clock"):
        load_sweep({"base": str(base), "axes": {"hardware.compute.clock": ["1 GHz"]}})


def test_per_cycle_bandwidth_needs_a_clock() -> None:
    with pytest.raises(ValueError, match="needs compute.clock"):
        HardwareConfig.model_validate({
            "dram": {"bandwidth": "1 GB/s"}, "compute": {"mac_rate": "1 TMAC/s"},
            "memory": [{"name": "gb", "capacity": "1 MB", "read_bandwidth": "8 B/cycle"}]})


def test_both_blocks_is_one_line_naming_the_file(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "r.yaml"
    run.write_text("name: r\nmodel: {name: mobilenet_v1_cifar}\nhardware:\n"
                   "  sram: {capacity: 1 MB}\n  memory: [{name: gb, capacity: 1 MB}]\n"
                   "  dram: {bandwidth: 1 GB/s}\n  compute: {mac_rate: 1 TOPS}\n")
    assert main(["run", str(run), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(run) in err[0] and "exactly one of sram" in err[0]


def test_energy_model_through_horowitz_figures() -> None:
    # Horowitz (ISSCC 2014): 64-bit access 10 pJ at 8 KB, 20 pJ at 32 KB, 100 pJ at 1 MB.
    assert sram_energy_per_byte(8 * 1024) == pytest.approx(10e-12 / 8)
    assert sram_energy_per_byte(1 << 20) == pytest.approx(100e-12 / 8)
    assert sram_energy_per_byte(32 * 1024) == pytest.approx(20e-12 / 8, rel=0.04)
    # Quadrupling capacity multiplies energy by 4**k, k = log 10 / log 128.
    assert sram_energy_per_byte(4096) / sram_energy_per_byte(1024) == pytest.approx(
        4 ** (2.302585 / 4.852030), rel=1e-5)


def _bundled() -> list[Any]:
    base = load_run(ROOT / "hw_configs" / "mobilenet_cifar.yaml")
    configs = [base] + [base.model_copy(update={"hardware": load_hardware(p)})
                        for p in sorted(glob.glob(str(ROOT / "hw_configs" / "*.yaml")))
                        if "mobilenet_cifar" not in p]
    return [c for c in configs if c.hardware.sram is not None]


@pytest.mark.parametrize("preset", ["scalesim_default", "eyeriss_like", "edge_npu_like"])
def test_presets_run_replay_and_report_every_level(preset: str) -> None:
    config = load_run(ROOT / "hw_configs" / "mobilenet_cifar.yaml").model_copy(
        update={"hardware": load_hardware(ROOT / "hw_configs" / f"{preset}.yaml")})
    net = build_model("mobilenet_v1_cifar", 0.25, 28, 10)
    result = simulate(net, config.hardware, config.simulation)
    names = [lv.name for lv in config.hardware.levels]
    assert [lv["name"] for lv in result.summary()["levels"]] == names
    assert all(lv["read_bytes"] > 0 for lv in result.summary()["levels"])
    x = np.random.default_rng(0).standard_normal((1, 28, 28, 3)).astype(np.float32)
    assert replay(net, result.schedule, x, mode="int").passed


@pytest.mark.parametrize("overlap", [False, True])
def test_shorthand_equals_the_same_single_level(overlap: bool) -> None:
    for config in _bundled():
        hw = config.hardware
        assert hw.sram is not None
        level = {"name": "gb", "capacity": hw.sram.capacity,
                 "read_energy": hw.energy.sram_read_byte,
                 "write_energy": hw.energy.sram_write_byte}
        data = hw.model_dump(exclude_none=True)
        del data["sram"]
        listed = HardwareConfig.model_validate({**data, "memory": [level]})
        sim = config.simulation.model_copy(update={"overlap": overlap})
        one = layer_table(run_config(config.model_copy(update={"simulation": sim})))
        two = layer_table(run_config(config.model_copy(update={"simulation": sim,
                                                               "hardware": listed})))
        assert list(two.columns) == [*LAYER_COLUMNS, "gb_read_bytes", "gb_write_bytes"]
        # With a PE array, memory levels count the array's reads per dataflow (tested
        # below); everything else, and everything on ideal compute, is the same.
        on_chip = {"sram_read_bytes", "sram_write_bytes", "energy_sram_j", "energy_j"}
        same = [c for c in LAYER_COLUMNS if not (hw.compute.is_pe_array and c in on_chip)]
        assert one[same].equals(two[same]), hw.name
        assert (two.gb_read_bytes == two.sram_read_bytes).all()
        assert (two.gb_write_bytes == two.sram_write_bytes).all()
        if not hw.compute.is_pe_array:
            assert one.equals(two[list(LAYER_COLUMNS)]), hw.name


def test_sweep_paths_reach_a_level_by_name_or_index(tmp_path: Path) -> None:
    base = tmp_path / "r.yaml"
    base.write_text(yaml.safe_dump({"name": "r", "model": {"name": "mobilenet_v1_cifar"},
                                    "hardware": {**BASE, "memory": SPLIT}}))
    spec = load_sweep({"base": str(base), "axes": {"hardware.memory.filter.capacity": ["128 KB"],
                                              "hardware.memory.0.read_bandwidth": ["1 GB/s"]}})
    assert spec.axes[0].values == (128_000,)  # unit string read as bytes
    assert spec.axes[1].values == (1e9,)
    with pytest.raises(Exception, match="no item 'psum'"):
        load_sweep({"base": str(base), "axes": {"hardware.memory.psum.capacity": [1]}})


# ---- placement in levels -----------------------------------------------------------------

def split(inputs: int, weights: int, outputs: int) -> MemorySpec:
    """Three dedicated buffers; the output buffer also holds partial sums."""
    return MemorySpec((StoreLevel("ifmap", inputs, ("inputs",)),
                       StoreLevel("filter", weights, ("weights",)),
                       StoreLevel("ofmap", outputs, ("outputs", "partial_sums"))))


def test_two_convs_placed_by_hand() -> None:
    # two_convs: input 8x8x4 (256 B), c1 3x3 4->8 'same' (8x8x8 = 512 B out; filters
    # 3*3*4*8 = 288 B, no bias), c2 1x1 8->8 (512 B out; filters 8*8 = 64 B).
    net = two_convs()
    schedule = build_schedule(net, Sizes(8, 8, 32), split(256, 320, 1024), "liveness")
    placed = {(a.buffer, a.level) for ls in schedule.layers for a in ls.actions
              if isinstance(a, Load | Alloc)}
    assert placed == {("fmap:in", "ifmap"), ("w:c1", "filter"), ("fmap:c1", "ofmap"),
                      ("w:c2", "filter"), ("fmap:c2", "ofmap")}
    # c1's output stays in ofmap and c2 reads it there; only the network input, the
    # filters (288 + 64) and the network output (512) cross the DRAM bus.
    reads, writes, _ = (sum(col) for col in zip(*schedule.traffic(), strict=True))
    assert (reads, writes) == (256 + 288 + 64, 512)


def test_a_small_output_buffer_tiles_a_layer_a_shared_sram_runs_whole() -> None:
    # Total 1600 B holds c1 whole in one shared level (256 + 288 + 512 = 1056 B), but a
    # 600 B output buffer cannot hold c1's 512 B output beside c2's 512 B: c1's output is
    # read back into the input buffer for c2.
    net = two_convs()
    shared = build_schedule(net, Sizes(8, 8, 32), 1600, "liveness")
    assert all(ls.tiling == "none" for ls in shared.layers) and shared.spills == 0
    dedicated = build_schedule(net, Sizes(8, 8, 32), split(600, 400, 600), "liveness")
    c2 = dedicated.layers[1]
    assert c2.spills == 1 and "read again into the input level" in c2.spill_reason
    loads = [(a.buffer, a.level) for a in c2.actions if isinstance(a, Load)]
    assert ("fmap:c1", "ifmap") in loads


def test_replay_refuses_a_buffer_in_a_level_that_does_not_hold_it() -> None:
    net = two_convs()
    schedule = build_schedule(net, Sizes(8, 8, 32), split(256, 320, 1024), "liveness")
    first = schedule.layers[0]
    first.actions[:] = [dataclasses.replace(a, level="ofmap") if isinstance(a, Load) and
                        a.kind == "weights" else a for a in first.actions]
    x = np.zeros((1, 8, 8, 4), dtype=np.float32)
    with pytest.raises(ReplayError, match="holds weights but is placed in ofmap"):
        replay(net, schedule, x)


def test_replay_refuses_an_overfull_level() -> None:
    net = two_convs()
    schedule = build_schedule(net, Sizes(8, 8, 32), split(256, 320, 1024), "liveness")
    assert schedule.memory is not None
    schedule.memory = split(256, 280, 1024)  # the filters of c1 (288 B) no longer fit
    with pytest.raises(ReplayError, match="exceeds the capacity of filter"):
        replay(net, schedule, np.zeros((1, 8, 8, 4), dtype=np.float32))


@settings(max_examples=12, deadline=None)
@given(inputs=st.integers(3_000, 60_000), weights=st.integers(3_000, 60_000),
       outputs=st.integers(3_000, 60_000), policy=st.sampled_from(sorted(POLICIES)),
       overlap=st.booleans(), batch=st.integers(1, 3), dataflow=st.sampled_from(DATAFLOWS),
       depthwise=st.sampled_from(DEPTHWISE_MAPPINGS))
def test_dedicated_levels_hold_their_operands_within_capacity(
        inputs: int, weights: int, outputs: int, policy: str, overlap: bool,
        batch: int, dataflow: str, depthwise: str) -> None:
    net = build_model("mobilenet_v1_cifar", 0.25, 28, 10)
    spec = split(inputs, weights, outputs)
    hw = HardwareConfig.model_validate({**BASE, "compute": {
        **BASE["compute"], "dataflow": dataflow, "depthwise": depthwise}, "memory": [
        {"name": lv.name, "capacity": lv.capacity, "holds": list(lv.holds), "level": 0}
        for lv in spec.levels]})
    try:
        result = simulate(net, hw, SimulationConfig(policy=policy, overlap=overlap,
                                                    batch=batch))
    except ScheduleError as exc:  # a layer whose smallest tile fits no level: said so
        assert "cannot run" in str(exc) or "tiles" in str(exc)
        return
    used = {lv.name: 0 for lv in spec.levels}
    level_of: dict[str, str] = {}
    for _, a in result.schedule.steps():  # execution order (fused layers interleave)
        if isinstance(a, Load | Alloc):
            operand = ("weights" if isinstance(a, Load) and a.kind == "weights" else
                       "inputs" if isinstance(a, Load) else
                       "partial_sums" if a.buffer.startswith("psum:") else "outputs")
            assert spec.level_of(operand) == a.level
            used[a.level] += a.bytes
            level_of[a.buffer] = a.level
            assert used[a.level] <= spec.capacity(a.level)
        elif isinstance(a, Free):
            used[level_of.pop(a.buffer)] -= a.bytes
    table = result.table()
    assert (table.total_time_s >= table.compute_time_s * (1 - 1e-12)).all()
    x = np.random.default_rng(3).standard_normal((batch, 28, 28, 3)).astype(np.float32)
    assert replay(net, result.schedule, x, mode="int").passed


# ---- double buffering per level ----------------------------------------------------------

def occupancy_peaks(schedule: Schedule) -> tuple[dict[str, int], dict[tuple[str, str, str], int]]:
    """Walking every action in order: the most bytes each level holds at once, and the most
    tile buffers (regions, not whole tensors) of one kind of one tensor a level holds at
    once, keyed (level, kind, tensor), for layers run tile by tile (a fused group's line
    buffers hold several row chunks of one band by design)."""
    held: dict[str, int] = {}
    tiles: dict[tuple[str, str, str], int] = {}
    peak_bytes: dict[str, int] = {}
    peak_tiles: dict[tuple[str, str, str], int] = {}
    where: dict[str, tuple[str, int, tuple[str, str, str] | None]] = {}
    for position, a in schedule.steps():
        if isinstance(a, Load | Alloc):
            kind = a.kind if isinstance(a, Load) else a.buffer.split(":")[0]
            tiled = a.region != Region() and not schedule.layers[position].group
            key = (a.level, kind, a.tensor) if tiled else None
            where[a.buffer] = (a.level, a.bytes, key)
            held[a.level] = held.get(a.level, 0) + a.bytes
            peak_bytes[a.level] = max(peak_bytes.get(a.level, 0), held[a.level])
            if key is not None:
                tiles[key] = tiles.get(key, 0) + 1
                peak_tiles[key] = max(peak_tiles.get(key, 0), tiles[key])
        elif isinstance(a, Free):
            level, size, key = where.pop(a.buffer)
            held[level] -= size
            if key is not None:
                tiles[key] -= 1
    return peak_bytes, peak_tiles


def test_a_level_without_double_buffering_holds_one_tile_at_a_time() -> None:
    # 6,000 B per buffer tiles most layers of the small MobileNet; the overlap ladder's
    # `full` rung then loads each next tile while the current one computes.
    net = build_model("mobilenet_v1_cifar", 0.25, 28, 10)
    peaks = {}
    for double in (True, False):
        spec = split(6_000, 6_000, 6_000)
        spec = MemorySpec((dataclasses.replace(spec.levels[0], double_buffer=double),
                           *spec.levels[1:]))
        schedule = build_schedule(net, Sizes(8, 8, 32), spec, "liveness", BuildOptions("full"))
        by_level, tiles = occupancy_peaks(schedule)
        assert all(by_level[lv.name] <= lv.capacity for lv in spec.levels)
        peaks[double] = {level: max(n for key, n in tiles.items() if key[0] == level)
                         for level in ("ifmap", "filter")}
        x = np.random.default_rng(1).standard_normal((1, 28, 28, 3)).astype(np.float32)
        assert replay(net, schedule, x, mode="int").passed
    # Double-buffered, the input buffer holds two input tiles at once; without, one; the
    # filter buffer double-buffers either way.
    assert peaks == {True: {"ifmap": 2, "filter": 2}, False: {"ifmap": 1, "filter": 2}}


@settings(max_examples=5, deadline=None)
@given(inputs=st.integers(3_000, 40_000), weights=st.integers(3_000, 40_000),
       outputs=st.integers(3_000, 40_000), doubles=st.tuples(st.booleans(), st.booleans(),
                                                             st.booleans()),
       policy=st.sampled_from(sorted(POLICIES)), batch=st.integers(1, 2))
def test_capacity_holds_at_every_instant_with_and_without_double_buffering(
        inputs: int, weights: int, outputs: int, doubles: tuple[bool, bool, bool],
        policy: str, batch: int) -> None:
    net = build_model("mobilenet_v1_cifar", 0.25, 28, 10)
    hw = HardwareConfig.model_validate({**BASE, "memory": [
        {"name": lv.name, "capacity": lv.capacity, "holds": list(lv.holds), "level": 0,
         "double_buffer": double}
        for lv, double in zip(split(inputs, weights, outputs).levels, doubles, strict=True)]})
    spec = memory_spec(hw)
    try:
        ladder = Ladder(net, Sizes(8, 8, 32, batch), spec, policy)
        chosen = simulate(net, hw, SimulationConfig(policy=policy, overlap=True, batch=batch))
    except ScheduleError as exc:  # a layer whose smallest tile fits no level: said so
        assert "cannot run" in str(exc) or "tiles" in str(exc)
        return
    for schedule in (ladder.rung(0)[0], chosen.schedule):
        by_level, tiles = occupancy_peaks(schedule)
        for lv in spec.levels:
            assert by_level.get(lv.name, 0) <= lv.capacity
            if not lv.double_buffer:
                assert all(n <= 1 for key, n in tiles.items() if key[0] == lv.name), lv.name


def test_double_buffer_false_on_a_register_file_is_refused() -> None:
    with pytest.raises(ValueError, match="rf: double_buffer applies to the store levels"):
        hardware(memory=[{"name": "gb", "capacity": "1 MB", "level": 0},
                         {"name": "rf", "capacity": 64, "per_pe": True, "level": 1,
                          "double_buffer": False}])


# ---- traffic, time and energy per level -------------------------------------------------

HAND = [{"name": "ifmap", "capacity": 256, "holds": ["inputs"], "level": 0,
         "read_energy": "0.5 pJ", "write_energy": "0.5 pJ"},
        {"name": "filter", "capacity": 320, "holds": ["weights"], "level": 0,
         "read_energy": "1 pJ", "write_energy": "1 pJ"},
        {"name": "ofmap", "capacity": 1024, "holds": ["outputs", "partial_sums"], "level": 0,
         "read_energy": "1 pJ", "write_energy": "2 pJ", "read_bandwidth": "1 kB/s"}]


def test_per_level_traffic_time_and_energy_by_hand() -> None:
    hw = HardwareConfig.model_validate({"dram": {"bandwidth": "1 GB/s"},
                                        "compute": {"mac_rate": "1 GMAC/s"}, "memory": HAND})
    result = simulate(two_convs(), hw)
    table = result.table()
    # c1: loads in (256 B) into ifmap and its filters (288 B) into filter, computes its
    # 512 B output into ofmap, reading in and the filters once. c2: loads 64 B of filters,
    # reads c1 (512 B) where it is, in ofmap, writes its 512 B output there and stores it
    # (another 512 B read from ofmap).
    assert table.ifmap_read_bytes.tolist() == [256, 0]
    assert table.ifmap_write_bytes.tolist() == [256, 0]
    assert table.filter_read_bytes.tolist() == [288, 64]
    assert table.filter_write_bytes.tolist() == [288, 64]
    assert table.ofmap_read_bytes.tolist() == [0, 1024]
    assert table.ofmap_write_bytes.tolist() == [512, 512]
    assert table.sram_read_bytes.tolist() == [256 + 288, 64 + 1024]
    # Energy, pJ: c1 = 256 x 0.5 x 2 + 288 x 1 x 2 + 512 x 2 = 1856;
    # c2 = 64 x 1 x 2 + 1024 x 1 + 512 x 2 = 2176.
    assert table.energy_sram_j.tolist() == pytest.approx([1856e-12, 2176e-12])
    # c2 reads 1024 B over ofmap's 1 kB/s read port: 1.024 s, far above its compute
    # (8x8x8x8 = 4096 MACs at 1 GMAC/s); c1 reads nothing from ofmap.
    assert table.compute_time_s.tolist() == pytest.approx([8 * 8 * 8 * 36 / 1e9, 1.024])
    levels = {lv["name"]: lv for lv in result.summary()["levels"]}
    assert levels["ofmap"]["read_bytes"] == 1024 and levels["ofmap"]["write_bytes"] == 1024
    assert levels["ofmap"]["energy_j"] == pytest.approx((1024 * 1 + 1024 * 2) * 1e-12)


def test_overlap_is_bounded_by_the_slowest_link() -> None:
    hw = HardwareConfig.model_validate({"dram": {"bandwidth": "1 GB/s"},
                                        "compute": {"mac_rate": "1 GMAC/s"}, "memory": HAND})
    table = simulate(two_convs(), hw, SimulationConfig(overlap=True)).table()
    assert table.total_time_s[1] >= 1.024
    assert (table.total_time_s >= table.compute_time_s).all()


def test_fast_path_equals_the_pipeline_with_levels(tmp_path: Path) -> None:
    base = tmp_path / "split.yaml"
    levels = [{**SPLIT[0], "read_bandwidth": "2 GB/s"}, SPLIT[1],
              {**SPLIT[2], "write_energy": "3 pJ"}]
    base.write_text(yaml.safe_dump({"name": "split", "model": {"name": "mobilenet_v1_cifar"},
                                    "hardware": {**BASE, "memory": levels}}))
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"base": str(base), "axes": {
        "hardware.memory.filter.capacity": ["64 KB", "256 KB"],
        "hardware.compute.clock": ["100 MHz", "1 GHz"],
        "hardware.memory.ofmap.read_energy": ["1 pJ", "4 pJ"],
        "simulation.overlap": [False, True]}}))
    frame = run_sweep(sweep, out=tmp_path / "out", backend="serial")
    assert len(frame) == 16
    assert len(frame[["total_time_s", "energy_j"]].drop_duplicates()) > 8  # points differ
    spec = load_sweep(sweep)
    for _, row in frame.iterrows():
        overrides = {a.path: row[a.path] for a in spec.axes}
        overrides = {k: v.item() if hasattr(v, "item") else v for k, v in overrides.items()}
        summary = run_config(load_run(base, overrides)).summary()
        for column in RESULT_COLUMNS[:-2]:
            assert row[column] == pytest.approx(summary[column], rel=1e-9, abs=0), (
                column, overrides)


def test_sweeping_the_array_with_levels_equals_the_pipeline(tmp_path: Path) -> None:
    # With memory levels the array's dataflow and depthwise mapping change buffer reads, so
    # points that differ only there must not share one schedule's on-chip totals.
    base = tmp_path / "split.yaml"
    base.write_text(yaml.safe_dump({"name": "split", "model": {"name": "mobilenet_v1_cifar"},
                                    "hardware": {**BASE, "memory": SPLIT}}))
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"base": str(base), "axes": {
        "hardware.compute.dataflow": ["os", "ws"],
        "hardware.compute.depthwise": list(DEPTHWISE_MAPPINGS)}}))
    frame = run_sweep(sweep, out=tmp_path / "out", backend="serial")
    assert frame.energy_j.nunique() == 2 and frame.total_time_s.nunique() == 4
    for _, row in frame.iterrows():
        overrides = {p: str(row[p]) for p in ("hardware.compute.dataflow",
                                              "hardware.compute.depthwise")}
        summary = run_config(load_run(base, overrides)).summary()
        for column in ("energy_j", "total_time_s", "compute_time_s"):
            assert row[column] == pytest.approx(summary[column], rel=1e-9), (column, overrides)


# ---- PE-array buffer accesses per dataflow ----------------------------------------------

def scalesim_loops(m: int, n: int, k: int, rows: int, cols: int, dataflow: str
                   ) -> tuple[int, int, int]:
    """SCALE-Sim v2's fold loops (systolic_compute_*.py), summing the demand slices each
    fold takes of the operand matrices: ifmap (T x Sr or its transpose), filter, ofmap."""
    sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]
    ifmap = filt = ofmap = 0
    for fc in range(-(-sc // cols)):
        for fr in range(-(-sr // rows)):
            r = min(rows, sr - fr * rows)  # rows of the array this fold uses
            c = min(cols, sc - fc * cols)  # columns it uses
            if dataflow == "os":  # ifmap: K x r pixels; filter: K x c; ofmap: r x c
                ifmap, filt, ofmap = ifmap + t * r, filt + t * c, ofmap + r * c
            elif dataflow == "ws":  # ifmap: M x r; filter: r x c (once); ofmap: M x c
                ifmap, filt, ofmap = ifmap + t * r, filt + r * c, ofmap + t * c
            else:  # is: ifmap r x c (once); filter: r x N; ofmap: c x N
                ifmap, filt, ofmap = ifmap + r * c, filt + r * t, ofmap + c * t
    return ifmap, filt, ofmap


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_element_accesses_follow_scalesim_fold_loops(dataflow: str) -> None:
    array = PEArray(4, 4, dataflow)  # type: ignore[arg-type]
    for m, n, k in [(10, 5, 7), (16, 4, 4), (1, 33, 9), (49, 64, 288)]:
        assert element_accesses(m, n, k, array) == scalesim_loops(m, n, k, 4, 4, dataflow)


def distinct_per_fold(m: int, n: int, k: int, groups: int, rows: int, cols: int,
                      dataflow: str) -> tuple[int, int, int]:
    """`groups` GEMMs side by side in the columns, each fold reading every distinct operand
    element its PEs need once (SCALE-Sim's per-fold demand), counted with sets."""
    # Columns are (group, filter) pairs in os and ws, (group, pixel) pairs in is.
    sr, width, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]
    ifmap = filt = ofmap = 0
    for c0 in range(0, groups * width, cols):
        columns = [divmod(j, width) for j in range(c0, min(c0 + cols, groups * width))]
        for r0 in range(0, sr, rows):
            lines = range(r0, min(r0 + rows, sr))
            if dataflow == "os":  # rows: pixels; each computes its pixel over all K
                ifmap += len({(g, p, kk) for g, _ in columns for p in lines for kk in range(k)})
                filt += len({(g, f, kk) for g, f in columns for kk in range(k)})
                ofmap += len(columns) * len(lines)
            elif dataflow == "ws":  # rows: reduction; all M pixels stream through
                ifmap += len({(g, p, kk) for g, _ in columns for p in range(m) for kk in lines})
                filt += len(columns) * len(lines)
                ofmap += len(columns) * m
            else:  # is: rows: reduction, columns: pixels; all N filters stream through
                ifmap += len(columns) * len(lines)
                filt += len({(g, f, kk) for g, _ in columns for f in range(n) for kk in lines})
                ofmap += len(columns) * n
    return ifmap, filt, ofmap


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_spatial_depthwise_accesses_count_each_groups_operands(dataflow: str) -> None:
    array = PEArray(4, 4, dataflow, "spatial")  # type: ignore[arg-type]
    for m, n, k, g in [(9, 1, 9, 8), (10, 2, 9, 3), (5, 3, 4, 7), (4, 1, 25, 1)]:
        assert element_accesses(m, n, k, array, g) == distinct_per_fold(m, n, k, g, 4, 4,
                                                                        dataflow)
    assert group_spans(1, 10, 4) == 3  # one group: ceil(10 / 4) column folds


def test_spatial_depthwise_accesses_by_hand() -> None:
    # N = 2, G = 3 on 4x4 os, M = 10, K = 9: columns (g, f) = 00 01 10 11 | 20 21; the first
    # fold touches groups 0 and 1, the second group 2: 3 (fold, group) pairs, so ifmap
    # reads 10 * 9 * 3 = 270 (channel by channel: 3 groups x 10 * 9 * 1 fold = 270 too);
    # filter 3 * 9 * 2 * ceil(10/4) = 162; ofmap 3 * 10 * 2 = 60.
    assert element_accesses(10, 2, 9, PEArray(4, 4, "os"), 3) == (270, 162, 60)
    # N = 2, G = 3 on 3 columns: 00 01 10 | 11 20 21, each fold touches two groups: 4
    # pairs, ifmap 10 * 9 * 4 = 360 > 270 channel by channel (groups straddle folds).
    assert element_accesses(10, 2, 9, PEArray(4, 3, "os"), 3)[0] == 360
    assert 3 * element_accesses(10, 2, 9, PEArray(4, 3, "os"))[0] == 270


def test_by_hand_ws_reads_filters_once_os_reads_outputs_once() -> None:
    # M=10, N=5, K=7 on 4x4. os: 3 row folds (M), 2 column folds (N): ifmap 10*7*2 = 140,
    # filter 7*5*3 = 105, ofmap 50. ws: 2 row folds (K), 2 column folds (N): ifmap 140,
    # filter 35, ofmap 10*5*2 = 100.
    assert element_accesses(10, 5, 7, PEArray(4, 4, "os")) == (140, 105, 50)
    assert element_accesses(10, 5, 7, PEArray(4, 4, "ws")) == (140, 35, 100)


def test_ws_and_os_differ_in_energy_on_mobilenet_v1() -> None:
    net = build_model("mobilenet_v1", 1.0)
    energies = {}
    for dataflow in ("os", "ws"):
        hw = HardwareConfig.model_validate({
            "dram": {"bandwidth": "1 GB/s"}, "memory": [{"name": "gb", "capacity": "1 MB"}],
            "compute": {"pe_rows": 32, "pe_cols": 32, "clock": "500 MHz",
                        "dataflow": dataflow}})
        energies[dataflow] = simulate(net, hw).summary()["energy_sram_j"]
    # ws re-reads inputs once per 32 filters and writes partial sums per 32-deep K fold;
    # os keeps outputs in the array: more than twice the on-chip energy for ws.
    assert energies["ws"] > 2 * energies["os"]


def test_a_register_file_takes_one_read_per_mac() -> None:
    hw = HardwareConfig.model_validate({
        "dram": {"bandwidth": "1 GB/s"},
        "compute": {"pe_rows": 4, "pe_cols": 4, "clock": "1 GHz", "dataflow": "ws"},
        "memory": [{"name": "gb", "capacity": "1 MB", "level": 0},
                   {"name": "rf", "capacity": 64, "per_pe": True, "level": 1,
                    "holds": ["weights"]}]})
    table = simulate(two_convs(), hw).table()
    # c1: 8x8x8 outputs x 36 MACs = 18432 MACs, each reading one 8-bit weight from the RF;
    # the RF is filled with what gb delivers of the filters: ws reads each of the K x N =
    # 36 x 8 weights once.
    assert table.rf_read_bytes[0] == 8 * 8 * 8 * 36
    assert table.rf_write_bytes[0] == 36 * 8


def register_file(capacity: int, holds: list[str], dataflow: str = "ws",
                  **precision: int) -> HardwareConfig:
    return HardwareConfig.model_validate({
        "dram": {"bandwidth": "1 GB/s"}, "precision": precision,
        "compute": {"pe_rows": 4, "pe_cols": 4, "clock": "1 GHz", "dataflow": dataflow},
        "memory": [{"name": "gb", "capacity": "1 MB", "level": 0},
                   {"name": "rf", "capacity": capacity, "per_pe": True, "level": 1,
                    "holds": holds}]})


@pytest.mark.parametrize(("holds", "bits", "need"), [
    (["weights"], {}, 1),  # one 8-bit weight
    (["partial_sums"], {}, 4),  # one 32-bit partial sum
    (["inputs", "weights", "partial_sums", "outputs"], {}, 1 + 1 + 4),  # output = the psum
    (["outputs"], {"activation_bits": 16}, 2),  # a finished 16-bit output
    (["inputs", "weights"], {"activation_bits": 4, "weight_bits": 6}, 2),  # 10 bits -> 2 B
    (["partial_sums", "outputs"], {"activation_bits": 16, "accumulator_bits": 12}, 2),
])
def test_a_register_file_must_hold_one_element_of_each_operand(
        holds: list[str], bits: dict[str, int], need: int) -> None:
    from accelsim.sim.levels import per_pe_need

    for dataflow in ("os", "ws", "is"):  # a systolic PE holds one of each, whatever the flow
        hw = register_file(need, holds, dataflow, **bits)
        assert per_pe_need(hw.levels[1], hw)[0] == need
        simulate(two_convs(), hw)  # exactly enough: runs
    if need > 1:  # a byte less is refused
        with pytest.raises(ScheduleError, match="hardware.memory.rf.capacity: layer c1"):
            simulate(two_convs(), register_file(need - 1, holds, **bits))


def test_an_os_register_file_too_small_for_its_partial_sum_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # An output-stationary PE keeps one partial sum at accumulator_bits = 32: 4 B, not 2.
    with pytest.raises(ScheduleError, match=(
            r"hardware.memory.rf.capacity: layer c1 on the 4x4 os array needs 4 B per PE in "
            r"rf \(one partial sum at 32 bits kept for a fold\); rf has 2 B per PE")):
        simulate(two_convs(), register_file(2, ["partial_sums"], "os"))
    # The CLI: one line naming the run file, exit 2.
    run = tmp_path / "rf.yaml"
    hw = register_file(2, ["weights", "partial_sums"], "ws").model_dump(mode="json",
                                                                         exclude_none=True)
    run.write_text(yaml.safe_dump({"name": "rf", "model": {"name": "mobilenet_v1_cifar"},
                                   "hardware": hw}))
    assert main(["run", str(run), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(run) in err[0]
    assert "needs 5 B per PE in rf (one weight at 8 bits kept for a fold" in err[0]
    # A sweep marks such points infeasible, with the reason, and runs the others.
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"base": str(run), "axes": {
        "hardware.memory.rf.capacity": ["4 B", "5 B"]}}))
    frame = run_sweep(sweep, out=tmp_path / "out", backend="serial")
    assert frame.feasible.tolist() == [False, True]
    assert "needs 5 B per PE in rf" in frame.infeasible_reason[0]


def test_per_pe_levels_need_a_pe_array() -> None:
    with pytest.raises(ValueError, match="rf is per_pe: storage in every PE needs a PE array"):
        HardwareConfig.model_validate({
            "dram": {"bandwidth": "1 GB/s"}, "compute": {"mac_rate": "1 TMAC/s"},
            "memory": [{"name": "gb", "capacity": "1 MB", "level": 0},
                       {"name": "rf", "capacity": 64, "per_pe": True, "level": 1}]})


def test_sensitivity_nudges_every_level(tmp_path: Path) -> None:
    from accelsim.sweep.sensitivity import sensitivity

    base = tmp_path / "split.yaml"
    base.write_text(yaml.safe_dump({"name": "split", "model": {"name": "mobilenet_v1_cifar"},
                                    "hardware": {**BASE, "memory": SPLIT}}))
    paths = set(sensitivity(base).iloc[:, 0])
    assert {f"hardware.memory.{lv['name']}.capacity" for lv in SPLIT} <= paths
