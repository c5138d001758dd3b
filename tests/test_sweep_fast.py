"""The batched sweep equals simulate() point by point; the fast validation equals the slow one;
parts land whole and merge to one row per point.

Designs are generated (hypothesis): axes drawn from schedule-changing fields (SRAM size,
width, policy from the registry, overlap, batch) and hardware-only fields (bandwidth,
latency, MAC rate, energy constants), or, on a PE array with three buffers, from its
dataflow and depthwise mapping (registries), shape, clock and buffer sizes, on the serial
backend with chunk sizes that send
groups both through `solve` tasks and through prepare + evaluate chunks.
"""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accelsim.sweep.store as store_module
from accelsim.config.loader import load_run, validate
from accelsim.config.models import POLICIES, ComputeConfig, RunConfig
from accelsim.errors import ConfigError
from accelsim.pipeline import run_config
from accelsim.sim.pe_array import DATAFLOWS
from accelsim.sweep.fast import RESULT_COLUMNS
from accelsim.sweep.runner import execute, run_sweep
from accelsim.sweep.space import load_sweep, overridden, with_values
from accelsim.sweep.store import ResultStore, Strings

BASE = "mobilenet_cifar.yaml"
#: A PE array with three buffers: dataflow, depthwise mapping and level sizes in play.
ARRAY_BASE = str(Path(__file__).parent / "data" / "sweep_three_buffers.yaml")
FLOATS = ("total_time_s", "compute_time_s", "data_movement_time_s", "energy_j")
INTS = ("dram_read_bytes", "dram_write_bytes", "peak_sram_bytes", "spills")

#: Axis path -> values to pick from (schedule-changing first, then hardware-only).
CHOICES: dict[str, list[Any]] = {
    "hardware.sram.capacity": ["24 KiB", "96 KiB", "256 KiB", "1 MiB"],
    "model.alpha": [0.5, 1.0],
    "simulation.policy": list(POLICIES),
    "simulation.overlap": [False, True],
    "simulation.batch": [1, 2],
    "hardware.dram.bandwidth": ["0.5 GB/s", "2 GB/s", "16 GB/s"],
    "hardware.dram.latency": ["0 ns", "200 ns"],
    "hardware.compute.mac_rate": ["20 GMAC/s", "500 GMAC/s", "4 TMAC/s"],
    "hardware.energy.mac": ["0.1 pJ", "1 pJ"],
    "hardware.energy.dram_read_byte": ["100 pJ", "300 pJ"],
    "hardware.energy.sram_write_byte": ["5 pJ", "20 pJ"],
}
#: The same for ARRAY_BASE: the compute fields a PE array has, and its buffers' sizes.
ARRAY_CHOICES: dict[str, list[Any]] = {
    "hardware.memory.ifmap.capacity": ["16 KiB", "64 KiB"],
    "hardware.memory.ofmap.capacity": ["24 KiB", "64 KiB"],
    "hardware.compute.dataflow": list(DATAFLOWS),
    "hardware.compute.depthwise": list(get_args(ComputeConfig.model_fields["depthwise"]
                                                .annotation)),
    "hardware.compute.pe_rows": [8, 32],
    "hardware.compute.clock": ["200 MHz", "1 GHz"],
    "simulation.policy": list(POLICIES),
    "simulation.overlap": [False, True],
    "hardware.dram.bandwidth": ["1 GB/s", "10 GB/s"],
    "hardware.energy.dram_read_byte": ["100 pJ", "300 pJ"],
}
BASES = {BASE: CHOICES, ARRAY_BASE: ARRAY_CHOICES}


@st.composite
def sweeps(draw: st.DrawFn) -> dict[str, Any]:
    """A small grid over 2-4 axes of one base, each with 1-3 of its values."""
    base = draw(st.sampled_from(list(BASES)))
    choices = BASES[base]
    paths = draw(st.lists(st.sampled_from(list(choices)), min_size=2, max_size=4,
                          unique=True))
    axes = {p: draw(st.lists(st.sampled_from(choices[p]), min_size=1, max_size=3,
                             unique=True)) for p in paths}
    points = math.prod(len(v) for v in axes.values())
    if points > 12:  # keep the per-point reference loop short
        first = paths[0]
        axes[first] = axes[first][:1]
    return {"base": base, "axes": axes}


def reference(config: RunConfig) -> dict[str, Any]:
    """What simulate() gives for one point, in the sweep's columns."""
    try:
        summary = run_config(config).summary()
    except Exception as exc:  # noqa: BLE001 - an infeasible point: compared as such
        return {"feasible": False, "error": str(exc)}
    return {"feasible": True, **{c: summary[c] for c in FLOATS + INTS}}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(spec=sweeps(), chunk=st.sampled_from([1, 3, 65536]))
def test_batched_sweep_equals_simulate_per_point(tmp_path_factory: pytest.TempPathFactory,
                                                spec: dict[str, Any], chunk: int) -> None:
    assert set(FLOATS + INTS) == set(RESULT_COLUMNS[:-2])  # every result column compared
    out = tmp_path_factory.mktemp("sweep")
    frame = run_sweep(spec, out=out, backend="serial", chunk_size=chunk)
    loaded = load_sweep(spec)
    assert frame["point_id"].tolist() == list(range(len(frame)))
    for _, row in frame.iterrows():
        overrides = {a.path: row[a.path].item() if hasattr(row[a.path], "item")
                     else row[a.path] for a in loaded.axes}
        expected = reference(load_run(spec["base"], overrides))
        assert bool(row["feasible"]) == expected["feasible"], overrides
        if not expected["feasible"]:
            assert row["infeasible_reason"] == expected["error"]
            continue
        assert row["infeasible_reason"] == ""
        for column in INTS:
            assert row[column] == expected[column], (column, overrides)
        for column in FLOATS:
            assert row[column] == pytest.approx(expected[column], rel=1e-12, abs=0), (
                column, overrides)


# ---- validation along the path equals validating the whole dumped config -----------------

VALUES: dict[str, list[Any]] = {
    "hardware.sram.capacity": ["1 MB", 4096, "0 B", "2 TiB", "1 GHz", 1.5, "x"],
    "hardware.dram.bandwidth": ["2 GB/s", 5e9, 1, "1 PB/s", "-1 GB/s", None],
    "hardware.compute.mac_rate": ["1 TMAC/s", 0, None, "500 GMAC/s"],
    "hardware.compute.pe_rows": [16, 0],
    "hardware.energy.mac": ["1 pJ", 2e-6, -1],
    "model.alpha": [0.5, 0, 5.0, "1"],
    "model.resolution": [32, 0, None, 1.5],
    "simulation.policy": [*POLICIES, "lru"],
    "simulation.overlap": [True, 1, "yes"],
    "hardware.sram.capcity": ["1 MB"],
    "hardware.dram": [{"bandwidth": "1 GB/s"}, 3],
    "name": ["ok-name", "bad name"],
}


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(list(VALUES)), st.integers(0, 6), min_size=1,
                       max_size=3))
def test_validation_along_the_path_equals_the_whole_config(picks: dict[str, int]) -> None:
    base = load_run(BASE)
    data = base.model_dump(mode="json", exclude_none=True)
    overrides = {p: VALUES[p][i % len(VALUES[p])] for p, i in picks.items()}
    try:
        expected: Any = validate(RunConfig, overridden(data, overrides), "src")
    except ConfigError as exc:
        expected = str(exc)
    try:
        got: Any = with_values(base, data, overrides, "src")
    except ConfigError as exc:
        got = str(exc)
    assert got == expected


# ---- the store -----------------------------------------------------------------------------

SMALL: dict[str, Any] = {"base": BASE, "axes": {
    "hardware.sram.capacity": ["1 KiB", "1 MiB"],
    "hardware.dram.bandwidth": {"start": "1 GB/s", "stop": "8 GB/s", "num": 5, "scale": "log"},
    "simulation.policy": ["liveness", "accumulate"],
}}
FEASIBLE = {**SMALL, "axes": {**SMALL["axes"], "hardware.sram.capacity": ["24 KiB", "1 MiB"]}}


def test_a_fresh_sweep_in_one_part_is_renamed_and_flushes_merge_exactly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = []
    original = store_module._OpenPart.add

    def counting(self: Any, columns: Any) -> None:
        written.append(len(columns["point_id"]))
        original(self, columns)

    monkeypatch.setattr(store_module._OpenPart, "add", counting)
    one = run_sweep(SMALL, out=tmp_path / "one", backend="serial", chunk_size=4)
    # every chunk written once into the open part, plus the first chunk alone: the one
    # part left is renamed to results, not written again
    assert sum(written) == 20 + written[0]
    assert not (tmp_path / "one" / "parts").exists()
    assert len(one) == 20 and one["point_id"].tolist() == list(range(20))
    # 1 KiB cannot hold the network: kept, with the reason, NaN time and -1 bytes
    bad = one[~one["feasible"].astype(bool)]
    assert len(bad) and (bad["infeasible_reason"].str.contains("SRAM")).all()
    assert bad["total_time_s"].isna().all() and (bad["dram_read_bytes"] == -1).all()
    # a part committed after every chunk: many parts, merged to the same rows
    monkeypatch.setattr(store_module, "FLUSH_S", 0.0)
    many = run_sweep(SMALL, out=tmp_path / "many", backend="serial", chunk_size=4)
    pd.testing.assert_frame_equal(one, many)


def test_merge_keeps_one_row_per_point_and_text_survives(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "out")
    store.lock()
    store.start({"sweep": 1}, resume=False)
    reasons = Strings(("", "layer 'x' cannot run"), np.array([0, 1, 0]))
    store.write({"point_id": np.array([0, 1, 2]), "x": np.array([1.5, 2.5, 3.5]),
                 "infeasible_reason": reasons, "ok": np.array([True, False, True])})
    store.write({"point_id": np.array([2, 3]), "x": np.array([9.0, 4.5]),
                 "infeasible_reason": Strings(("",), np.zeros(2, dtype=np.uint8)),
                 "ok": np.array([True, True])})
    store.finalize(4)
    store.unlock()
    frame = pd.read_parquet(tmp_path / "out" / "results.parquet").sort_values("point_id")
    assert frame["point_id"].tolist() == [0, 1, 2, 3]
    assert frame["x"].tolist() == [1.5, 2.5, 3.5, 4.5]  # the first row of point 2 kept
    assert frame["infeasible_reason"].tolist() == ["", "layer 'x' cannot run", "", ""]
    assert frame["ok"].tolist() == [True, False, True, True]


def test_resume_after_a_commit_finishes_with_the_fresh_rows(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    fresh = run_sweep(FEASIBLE, out=tmp_path / "fresh", backend="serial")
    out = tmp_path / "out"
    original = ResultStore.append
    sizes: list[int] = []

    def dies(self: ResultStore, columns: Any) -> None:
        sizes.append(len(columns["point_id"]))
        original(self, columns)
        if len(sizes) == 3:  # killed right after a commit: three chunks kept
            self.commit()
            raise KeyboardInterrupt

    monkeypatch.setattr(ResultStore, "append", dies)
    with pytest.raises(KeyboardInterrupt):
        execute(FEASIBLE, out, backend="serial", chunk_size=3)
    monkeypatch.setattr(ResultStore, "append", original)
    kept = sum(sizes)
    assert 3 <= kept <= 9 and ResultStore(out).done_mask(20).sum() == kept
    run = execute(FEASIBLE, out, backend="serial", resume=True, chunk_size=3)
    assert (run.resumed, run.computed) == (kept, 20 - kept)
    pd.testing.assert_frame_equal(ResultStore(out).read(), fresh)


def test_ctrl_c_while_a_chunk_is_written_keeps_the_open_part(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = store_module._OpenPart._write

    def slow(self: Any, chunk: Any, first: bool) -> None:
        time.sleep(0.3)
        original(self, chunk, first)

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module._OpenPart, "_write", slow)
    store = ResultStore(tmp_path / "out")
    store.lock()
    store.start({"sweep": 1}, resume=False)

    def chunk(lo: int) -> dict[str, Any]:
        return {"point_id": np.arange(lo, lo + 2), "x": np.full(2, float(lo))}

    store.append(chunk(0))  # written alone at once, and into the open part
    store.append(chunk(2))  # its write is under way when Ctrl-C arrives
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(KeyboardInterrupt):
            store.append(chunk(4))  # waits for the write of chunk 2: interrupted there
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    store.commit()  # what the sweep does on Ctrl-C: both whole chunks kept, once each
    store.unlock()
    assert store.done_mask(6).tolist() == [True] * 4 + [False] * 2
    assert store.read()["point_id"].tolist() == [0, 1, 2, 3]
    assert len(list(store.parts.glob("part-*"))) == 1


def test_without_pyarrow_the_same_rows_go_to_csv(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    parquet = run_sweep(SMALL, out=tmp_path / "parquet", backend="serial", chunk_size=4)
    monkeypatch.setattr(store_module, "has_pyarrow", lambda: False)
    one = run_sweep(SMALL, out=tmp_path / "one", backend="serial", chunk_size=4)
    monkeypatch.setattr(store_module, "FLUSH_S", 0.0)  # many parts, merged
    many = run_sweep(SMALL, out=tmp_path / "many", backend="serial", chunk_size=4)
    assert (tmp_path / "many" / "results.csv").is_file()
    for frame in (one, many):
        assert frame["point_id"].tolist() == list(range(20))
        for column in ("total_time_s", "dram_read_bytes", "feasible"):
            assert frame[column].astype(str).tolist() == parquet[column].astype(str).tolist()
        assert frame["infeasible_reason"].fillna("").tolist() == \
            parquet["infeasible_reason"].tolist()


def test_an_axis_of_none_and_numbers_keeps_one_type_across_chunks(tmp_path: Path) -> None:
    # A chunk whose points all leave the field unset (None) comes first; the next holds
    # numbers: both land in one part, None read back as missing.
    store = ResultStore(tmp_path / "out")
    store.lock()
    store.start({"sweep": 1}, resume=False)
    store.append({"point_id": np.arange(3), "x": np.array([None] * 3, dtype=object)})
    store.append({"point_id": np.arange(3, 6), "x": np.array([1, 2.5, None], dtype=object)})
    store.commit()
    store.finalize(6)
    store.unlock()
    frame = store.read().sort_values("point_id")
    assert frame["point_id"].tolist() == list(range(6))
    values = frame["x"].tolist()
    assert values[3:5] == [1.0, 2.5] and all(pd.isna(v) for v in values[:3] + values[5:])
