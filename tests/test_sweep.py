"""Sweeps: axis errors before work, deterministic designs, fast path == run_config, store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from accelsim.config.loader import load_run
from accelsim.errors import ConfigError
from accelsim.pipeline import run_config
from accelsim.sweep import run_sweep
from accelsim.sweep.fast import RESULT_COLUMNS
from accelsim.sweep.runner import execute
from accelsim.sweep.space import Design, load_sweep
from accelsim.sweep.store import ResultStore

BASE = "mobilenet_cifar.yaml"


def write(tmp_path: Path, data: dict[str, Any], name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ---- axis errors, before any work ---------------------------------------------------------

@pytest.mark.parametrize("axes, message", [
    ({"hardware.sram.capcity": ["1 MB"]}, "did you mean 'capacity'"),
    ({"hardware.sram.capacity": ["-1 MB"]}, "from 1 B to 1 TiB"),
    ({"hardware.sram.capacity": ["1 GHz"]}, "unknown size unit 'GHz'"),
    ({"hardware.dram.bandwidth": {"start": "1 GHz", "stop": "2 GB/s", "num": 3}},
     "unknown bandwidth unit"),
    ({"simulation.policy": ["liveness", "lru"]}, "must be one of liveness, accumulate"),
    ({"hardware.dram.bandwidth": {"start": "1 GB/s", "stop": "2 GB/s"}}, "needs num"),
    ({"hardware.dram.bandwidth": {"start": "1 GB/s", "stop": "2 GB/s", "num": 2,
                                  "scale": "cubic"}}, "must be one of linear, log"),
])
def test_bad_axis_fails_before_any_work(tmp_path: Path, axes: dict[str, Any],
                                        message: str) -> None:
    sweep = write(tmp_path, {"base": BASE, "axes": axes})
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=message) as info:
        run_sweep(sweep, out=out, backend="serial")
    text = str(info.value)
    assert "\n" not in text and str(sweep) in text
    assert not out.exists()


def test_bad_sweep_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'axis'"):
        load_sweep(write(tmp_path, {"base": BASE, "axis": {}}))
    with pytest.raises(ConfigError, match="mode: must be one of grid, random, latin-hypercube"):
        load_sweep(write(tmp_path, {"base": BASE, "axes": {"model.alpha": [1.0]},
                                    "mode": "sobol"}))
    with pytest.raises(ConfigError, match="samples: mode random needs"):
        load_sweep(write(tmp_path, {"base": BASE, "axes": {"model.alpha": [1.0]},
                                    "mode": "random"}))


# ---- designs ---------------------------------------------------------------------------------

def test_grid_order_and_units(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, {"base": BASE, "axes": {
        "hardware.sram.capacity": ["256 KiB", "1 MB"],
        "hardware.dram.bandwidth": {"start": "1 GB/s", "stop": "4 GB/s", "num": 3,
                                    "scale": "log"},
    }}))
    design = Design(spec)
    assert design.n_points == 6
    cols = design.columns(np.arange(6))
    # itertools.product order: the first axis varies slowest
    assert cols["hardware.sram.capacity"].tolist() == [262144] * 3 + [1_000_000] * 3
    assert np.allclose(cols["hardware.dram.bandwidth"], [1e9, 2e9, 4e9] * 2)


@pytest.mark.parametrize("mode", ["random", "latin-hypercube"])
def test_sampled_designs_are_deterministic(tmp_path: Path, mode: str) -> None:
    def draw(seed: int) -> dict[str, np.ndarray]:
        spec = load_sweep(write(tmp_path, {"base": BASE, "mode": mode, "samples": 50,
                                           "seed": seed, "axes": {
            "hardware.dram.bandwidth": {"start": "1 GB/s", "stop": "16 GB/s", "scale": "log"},
            "hardware.sram.capacity": {"start": "128 KiB", "stop": "2 MiB"},
            "simulation.policy": ["liveness", "accumulate"],
        }}))
        return Design(spec).columns(np.arange(50))

    a, b, c = draw(7), draw(7), draw(8)
    for path in a:
        assert (a[path] == b[path]).all()
    assert not np.array_equal(a["hardware.dram.bandwidth"], c["hardware.dram.bandwidth"])
    bw = a["hardware.dram.bandwidth"]
    assert bw.min() >= 1e9 and bw.max() <= 16e9
    assert a["hardware.sram.capacity"].dtype.kind == "i"
    if mode == "latin-hypercube":  # one sample in each of the 50 strata of every axis
        strata = np.floor(np.log(bw / 1e9) / np.log(16) * 50).astype(int)
        assert sorted(strata) == list(range(50))


# ---- the fast path equals the pipeline -------------------------------------------------------

def assert_matches_pipeline(frame: pd.DataFrame, spec_path: Path, base: str | Path,
                            count: int = 6) -> None:
    spec = load_sweep(spec_path)
    rng = np.random.default_rng(3)
    for i in rng.choice(len(frame), size=min(count, len(frame)), replace=False):
        row = frame.iloc[i]
        overrides = {a.path: row[a.path].item() if hasattr(row[a.path], "item")
                     else row[a.path] for a in spec.axes}
        summary = run_config(load_run(base, overrides)).summary()
        assert row["feasible"] and row["infeasible_reason"] == ""
        for column in RESULT_COLUMNS[:-2]:  # all but feasible / infeasible_reason
            assert row[column] == pytest.approx(summary[column], rel=1e-9, abs=0), column


def test_fast_path_equals_run_config(tmp_path: Path) -> None:
    sweep = write(tmp_path, {"base": BASE, "mode": "random", "samples": 40, "seed": 1,
                             "axes": {
        "hardware.sram.capacity": ["96 KiB", "256 KiB", "1 MiB"],
        "hardware.dram.bandwidth": {"start": "0.5 GB/s", "stop": "8 GB/s", "scale": "log"},
        "hardware.dram.latency": ["0 ns", "100 ns"],
        "hardware.compute.mac_rate": {"start": "50 GMAC/s", "stop": "2 TMAC/s"},
        "simulation.overlap": [False, True],
        "simulation.policy": ["liveness", "accumulate"],
        "model.alpha": [0.5, 1.0],
        "hardware.energy.dram_read_byte": ["100 pJ", "200 pJ"],
        "hardware.precision.weight_bits": [4, 8],
    }})
    frame = run_sweep(sweep, out=tmp_path / "out", backend="serial")
    assert len(frame) == 40 and frame["point_id"].tolist() == list(range(40))
    assert_matches_pipeline(frame, sweep, BASE, count=8)


def test_fast_path_pe_array(tmp_path: Path) -> None:
    pytest.importorskip("accelsim.sim.pe_array")
    base = tmp_path / "pe.yaml"
    base.write_text(yaml.safe_dump({
        "name": "pe", "model": {"name": "mobilenet_v1_cifar"},
        "hardware": {"sram": {"capacity": "512 KiB"}, "dram": {"bandwidth": "4 GB/s"},
                     "compute": {"pe_rows": 16, "pe_cols": 16, "clock": "500 MHz"}},
    }))
    sweep = write(tmp_path, {"base": str(base), "axes": {
        "hardware.compute.clock": ["200 MHz", "1 GHz"],
        "hardware.compute.pe_rows": [8, 32],
        "hardware.compute.dataflow": ["os", "ws"],
    }})
    frame = run_sweep(sweep, out=tmp_path / "out", backend="serial")
    assert len(frame) == 8
    assert_matches_pipeline(frame, sweep, base, count=8)


# ---- store and resume ------------------------------------------------------------------------

SMALL = {"base": BASE, "axes": {
    "hardware.sram.capacity": ["256 KiB", "1 MiB"],
    "hardware.dram.bandwidth": {"start": "1 GB/s", "stop": "8 GB/s", "num": 4, "scale": "log"},
    "simulation.policy": ["liveness", "accumulate"],
}}


def test_interrupted_sweep_resumes_without_duplicates(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = write(tmp_path, SMALL)
    fresh = run_sweep(sweep, out=tmp_path / "fresh", backend="serial")
    original = ResultStore.append
    calls = {"n": 0}

    def flaky(self: ResultStore, columns: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        original(self, columns)

    monkeypatch.setattr(ResultStore, "append", flaky)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        execute(sweep, out, backend="serial", chunk_size=2)
    monkeypatch.setattr(ResultStore, "append", original)
    # Ctrl-C commits the open part: the three finished chunks of two are kept, once each
    assert ResultStore(out).done_mask(16).sum() == 6
    assert len(ResultStore(out).read()) == 6
    run = execute(sweep, out, backend="serial", resume=True, chunk_size=2)
    assert (run.resumed, run.computed) == (6, 10)
    again = execute(sweep, out, backend="serial", resume=True)
    assert again.computed == 0
    resumed = pd.read_parquet(out / "results.parquet").sort_values("point_id")
    assert resumed["point_id"].tolist() == list(range(16))
    pd.testing.assert_frame_equal(resumed.reset_index(drop=True), fresh)


def test_resume_refuses_a_changed_sweep(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_sweep(write(tmp_path, SMALL), out=out, backend="serial")
    changed = {**SMALL, "axes": {**SMALL["axes"], "simulation.policy": ["liveness"]}}
    with pytest.raises(ConfigError, match="cannot resume: the sweep differs"):
        run_sweep(write(tmp_path, changed), out=out, backend="serial", resume=True)


def test_local_and_dask_backends_agree(tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    from accelsim.sweep.backends import DaskBackend

    sweep = write(tmp_path, SMALL)
    local = run_sweep(sweep, out=tmp_path / "local", backend="local", workers=2, chunk_size=3)
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        dask = run_sweep(sweep, out=tmp_path / "dask", backend=DaskBackend(client=client),
                         chunk_size=3)
    pd.testing.assert_frame_equal(local, dask)
