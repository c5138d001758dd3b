"""`accelsim sweep` through main(argv), and a sweep killed with SIGTERM then resumed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from accelsim.cli.app import main

SWEEP = {"base": "mobilenet_cifar.yaml", "axes": {
    "hardware.sram.capacity": ["128 KiB", "256 KiB", "1 MiB"],
    "hardware.dram.bandwidth": {"start": "1 GB/s", "stop": "8 GB/s", "num": 4, "scale": "log"},
    "hardware.compute.mac_rate": ["100 GMAC/s", "1 TMAC/s"],
}}


def test_cli_writes_results_plots_and_sensitivity(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "grid.yaml"
    sweep.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "out"
    code = main(["sweep", str(sweep), "--out", str(out), "--backend", "serial",
                 "--sensitivity", "--knee-threshold", "0.1"])
    assert code == 0
    for name in ("results.parquet", "sweep.yaml", "pareto.csv", "time_per_axis.png",
                 "pareto.png", "heatmap_bandwidth_mac_rate.png", "sensitivity.csv",
                 "knees.csv"):
        assert (out / name).is_file(), name
    assert len(pd.read_parquet(out / "results.parquet")) == 24
    knees = pd.read_csv(out / "knees.csv").set_index("axis")
    assert knees.loc["hardware.dram.bandwidth", "trend"] == "falls"
    table = pd.read_csv(out / "sensitivity.csv")
    total = table[table["layer"] == "total"].set_index("parameter")
    assert -1 <= total.loc["hardware.dram.bandwidth", "time_elasticity"] < 0
    printed = capsys.readouterr().out
    assert "24 points" in printed and "Elasticities" in printed


def test_cli_bad_axis_is_one_line_exit_2(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "bad.yaml"
    sweep.write_text(yaml.safe_dump({"base": "mobilenet_cifar.yaml",
                                     "axes": {"hardware.dram.bandwith": ["1 GB/s"]}}))
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "did you mean 'bandwidth'" in err
    assert not (tmp_path / "out").exists()
    assert main(["sweep", str(sweep), "--workers", "two"]) == 2


def test_sigterm_keeps_finished_chunks_and_resume_completes(tmp_path: Path) -> None:
    sweep = tmp_path / "kill.yaml"
    data = {"base": "mobilenet_cifar.yaml", "axes": {
        "hardware.sram.capacity": {"start": "64 KiB", "stop": "2 MiB", "num": 12,
                                   "scale": "log"},
        "simulation.policy": ["liveness", "accumulate"],
        "hardware.dram.bandwidth": {"start": "1 GB/s", "stop": "8 GB/s", "num": 10},
    }}
    sweep.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from accelsim.cli.app import entry_point; entry_point()",
               "sweep", str(sweep), "--out", str(out), "--chunk-size", "1", "--workers", "2",
               "--no-plots"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list((out / "parts").glob("part-*")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no chunk was written"
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "--resume" in err
    assert not (out / "results.parquet").exists()
    kept = pd.concat([pd.read_parquet(p) for p in (out / "parts").glob("part-*.parquet")])
    assert 0 < len(kept) < 240 and kept["point_id"].is_unique

    assert main(["sweep", str(sweep), "--out", str(out), "--resume", "--no-plots",
                 "--backend", "serial"]) == 0
    resumed = pd.read_parquet(out / "results.parquet").sort_values("point_id")
    assert resumed["point_id"].tolist() == list(range(240))
    fresh_out = tmp_path / "fresh"
    assert main(["sweep", str(sweep), "--out", str(fresh_out), "--no-plots",
                 "--backend", "serial"]) == 0
    fresh = pd.read_parquet(fresh_out / "results.parquet").sort_values("point_id")
    pd.testing.assert_frame_equal(resumed.reset_index(drop=True), fresh.reset_index(drop=True))


def test_points_whose_sram_is_too_small_are_kept_as_infeasible(tmp_path, capsys):
    sweep = tmp_path / "tiny.yaml"
    sweep.write_text("base: mobilenet_cifar.yaml\naxes:\n"
                     "  hardware.sram.capacity: [100 B, 64 KiB]\n"
                     "  hardware.dram.bandwidth: [1 GB/s, 2 GB/s]\n")
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "out")]) == 0
    assert "2 points cannot run" in capsys.readouterr().out
    frame = pd.read_parquet(tmp_path / "out" / "results.parquet").sort_values("point_id")
    tiny = frame[frame["hardware.sram.capacity"] == 100]
    assert (~tiny["feasible"]).all() and tiny["total_time_s"].isna().all()
    assert (tiny["dram_read_bytes"] == -1).all()
    assert tiny["infeasible_reason"].str.contains("in 100 bytes of SRAM").all()
    ok = frame[frame["hardware.sram.capacity"] == 65536]
    assert ok["feasible"].all() and (ok["total_time_s"] > 0).all()
