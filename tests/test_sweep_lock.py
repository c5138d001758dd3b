"""Sweep folders under concurrency and crashes: a second sweep refuses, a SIGKILL loses nothing.

* one folder, two sweeps: the second refuses at once, naming the first's PID, and two
  sweeps started together never leave a wrong result behind an exit code 0;
* SIGKILL of a sweep: its worker processes exit, and --resume (killed again, resumed
  again) finishes with exactly the rows a sweep that was never interrupted writes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from accelsim.cli.app import main
from accelsim.sweep.store import ResultStore

SWEEP = {"base": "mobilenet_cifar.yaml", "axes": {
    "hardware.sram.capacity": {"start": "64 KiB", "stop": "2 MiB", "num": 6, "scale": "log"},
    "simulation.policy": ["liveness", "accumulate"],
    "hardware.dram.bandwidth": {"start": "1 GB/s", "stop": "8 GB/s", "num": 40},
}}
N_POINTS = 6 * 2 * 40
COMMAND = [sys.executable, "-c", "from accelsim.cli.app import entry_point; entry_point()"]


def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    return path


def children(pid: int) -> set[int]:
    """Live (non-zombie) processes whose parent is `pid`, read from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def reference(tmp_path: Path, sweep: Path) -> pd.DataFrame:
    """The rows of the same sweep run start to finish in this process."""
    out = tmp_path / "reference"
    assert main(["sweep", str(sweep), "--out", str(out), "--backend", "serial",
                 "--no-plots"]) == 0
    return pd.read_parquet(out / "results.parquet")


def same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    columns = ["point_id", "total_time_s", "dram_read_bytes", "feasible"]
    a = a.sort_values("point_id").reset_index(drop=True)[columns]
    b = b.sort_values("point_id").reset_index(drop=True)[columns]
    pd.testing.assert_frame_equal(a, b)


def test_second_sweep_on_a_locked_folder_refuses_naming_the_pid(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = sweep_file(tmp_path)
    out = tmp_path / "out"
    holder = ResultStore(out)
    holder.lock()  # this process plays the first sweep
    try:
        start = time.monotonic()
        assert main(["sweep", str(sweep), "--out", str(out), "--backend", "serial"]) == 2
        assert time.monotonic() - start < 10
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert f"another sweep (PID {os.getpid()})" in err[0] and ".lock" in err[0]
        assert not (out / "results.parquet").exists()
    finally:
        holder.unlock()
    # once the first one is gone, the folder is free again
    assert main(["sweep", str(sweep), "--out", str(out), "--backend", "serial",
                 "--no-plots"]) == 0
    assert len(pd.read_parquet(out / "results.parquet")) == N_POINTS


def test_two_concurrent_sweeps_never_leave_a_wrong_result(tmp_path: Path) -> None:
    sweep = sweep_file(tmp_path)
    out = tmp_path / "out"
    args = ["sweep", str(sweep), "--out", str(out), "--chunk-size", "8", "--workers", "1",
            "--no-plots"]
    procs = [subprocess.Popen(COMMAND + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in results)
    assert all("Traceback" not in err for _, err in results), results
    assert codes in ([0, 0], [0, 2]), results
    for code, err in results:
        if code == 2:
            assert "another sweep (PID" in err.strip().splitlines()[-1]
    same_rows(pd.read_parquet(out / "results.parquet"), reference(tmp_path, sweep))


def test_sigkill_stops_workers_and_resume_finishes_exactly(tmp_path: Path) -> None:
    sweep = sweep_file(tmp_path)
    out = tmp_path / "out"
    args = ["sweep", str(sweep), "--out", str(out), "--chunk-size", "4", "--workers", "2",
            "--no-plots"]
    finished = [0]
    for attempt, extra in enumerate(([], ["--resume"])):
        proc = subprocess.Popen(COMMAND + args + extra, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        before = set(ResultStore(out).parts.glob("part-*")) if attempt else set()
        deadline = time.monotonic() + 60
        while proc.poll() is None and not set(ResultStore(out).parts.glob("part-*")) - before:
            assert time.monotonic() < deadline, "no part was written"
            time.sleep(0.01)
        workers = children(proc.pid)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        assert workers, "the local backend should have worker processes"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(alive(w) for w in workers):
            assert time.monotonic() < deadline, "sweep workers outlived their parent"
            time.sleep(0.05)
        assert not (out / "results.parquet").exists()
        # every kill leaves more finished points than the one before: progress is kept
        finished.append(int(ResultStore(out).done_mask(N_POINTS).sum()))
        assert finished[-1] > finished[-2]
    assert main(["sweep", str(sweep), "--out", str(out), "--resume", "--backend", "serial",
                 "--no-plots"]) == 0
    result = pd.read_parquet(out / "results.parquet")
    assert result["point_id"].is_unique and len(result) == N_POINTS
    same_rows(result, reference(tmp_path, sweep))
