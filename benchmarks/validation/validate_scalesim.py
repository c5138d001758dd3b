"""Cross-check accelsim's PE-array cycles against SCALE-Sim v3, layer by layer.

Creates a private venv (benchmarks/validation/.venv) with scalesim==3.0.0, exports each
network with accelsim's own SCALE-Sim exporter, runs SCALE-Sim for every (array, dataflow)
and prints accelsim cycles, SCALE-Sim "Total Cycles" and their relative difference per
layer, then the max and mean |difference| per (network, array, dataflow).

SCALE-Sim takes minutes per large layer, so by default each distinct row of the topology
is simulated once (MobileNet repeats the same block shapes) and a depthwise row is run
for one channel: SCALE-Sim's depthwise mode splits it into C identical one-channel
layers, so the row's cycles are C times one channel's. `--full` runs the exported CSV
unchanged instead. Usage: python benchmarks/validation/validate_scalesim.py [--full]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import venv
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from accelsim.export import export_network
from accelsim.export.scalesim import DEPTHWISE_MARK, TOPOLOGY_HEADER, scalesim_config
from accelsim.ir.graph import Network
from accelsim.ir.zoo import build_model
from accelsim.sim.pe_array import DATAFLOWS, PEArray, layer_cycles

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
#: scalesim 3.0.0 calls int() on 1-element arrays, which NumPy 2 rejects; pandas 3 needs NumPy 2.
T = TypeVar("T")
REQUIREMENTS = ("scalesim==3.0.0", "numpy<2", "pandas<3")
#: (network, resolution, arrays): a non-square array catches row/column mix-ups.
CASES: tuple[tuple[str, int | None, tuple[tuple[int, int], ...]], ...] = (
    ("mobilenet_v1_cifar", None, ((8, 16), (32, 32))),
    ("mobilenet_v1", 96, ((32, 32),)),
)
DRIVER = """
import sys
from scalesim.scale_sim import scalesim
cfg, topo, out = sys.argv[1:4]
sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=topo)
sim.run_scale(top_path=out)
"""


@dataclass(frozen=True)
class Job:
    """One SCALE-Sim run: a topology of distinct rows on one array and dataflow."""

    net: str
    array: PEArray
    topology: Path
    workdir: Path


def ensure_venv() -> Path:
    """The venv's python, creating the venv and installing SCALE-Sim on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    return python


def read_rows(csv_text: str) -> list[list[str]]:
    """Data rows of a SCALE-Sim topology CSV, as SCALE-Sim splits them (trailing comma)."""
    return [line.split(",")[:-1] for line in csv_text.splitlines()[1:] if line.strip()]


def plan(rows: list[list[str]], full: bool) -> tuple[list[list[str]], list[tuple[int, int]]]:
    """(rows to simulate, per exported row: (index of its simulated row, multiplier))."""
    simulated: list[list[str]] = []
    index: dict[tuple[str, ...], int] = {}
    mapping = []
    for row in rows:
        name, dims = row[0].strip(), [v.strip() for v in row[1:]]
        multiplier = 1
        if not full and DEPTHWISE_MARK in name:
            multiplier, dims[4] = int(dims[4]), "1"
        key = (str(DEPTHWISE_MARK in name), *dims) if not full else (str(len(index)),)
        if key not in index:
            index[key] = len(simulated)
            simulated.append([name, *dims])
        mapping.append((index[key], multiplier))
    return simulated, mapping


def simulate(python: Path, job: Job) -> Path:
    """Run SCALE-Sim on a job; returns the folder holding its report CSVs."""
    cfg = job.workdir / "scale.cfg"
    cfg.write_text(scalesim_config(job.array.rows, job.array.cols, job.array.dataflow,
                                   run_name="run"))
    out = job.workdir / "out"
    subprocess.run([str(python), "-c", DRIVER, str(cfg), str(job.topology), str(out)],
                   check=True, capture_output=True, cwd=job.workdir)
    return out / "run"


def run_scalesim(python: Path, job: Job) -> list[int]:
    """SCALE-Sim's per-layer "Total Cycles" (compute cycles, stalls included) of a job."""
    with open(simulate(python, job) / "COMPUTE_REPORT.csv", newline="") as handle:
        records = list(csv.reader(handle))[1:]
    return [int(record[2]) for record in records]


def per_row(reported: list[int], mapping: list[tuple[int, int]], rows: list[list[str]],
            full: bool) -> list[int]:
    """SCALE-Sim cycles of each exported row: one channel times C for depthwise rows."""
    if not full:
        return [reported[i] * m for i, m in mapping]
    totals, position = [], 0
    for row in rows:  # --full: a depthwise row became C consecutive layers
        count = int(row[5]) if DEPTHWISE_MARK in row[0] else 1
        totals.append(sum(reported[position:position + count]))
        position += count
    return totals


def network_jobs(net: Network, label: str, arrays: tuple[tuple[int, int], ...], scratch: Path,
                 full: bool) -> tuple[list[Job], list[list[str]], list[tuple[int, int]]]:
    """Export `net` as a SCALE-Sim topology in `scratch` (see `plan`) and make a job per
    array and dataflow: (jobs, exported rows, row mapping)."""
    rows = read_rows(export_network(net, "scalesim")[f"{net.name}.csv"])
    simulated, mapping = plan(rows, full)
    stem = label.replace("@", "_")
    topology = scratch / f"{stem}.csv"
    topology.write_text("\n".join([TOPOLOGY_HEADER] + [", ".join(r) + "," for r in simulated])
                        + "\n")
    jobs = []
    for rows_cols in arrays:
        for dataflow in DATAFLOWS:
            array = PEArray(*rows_cols, dataflow)  # type: ignore[arg-type]
            workdir = scratch / f"{stem}_{rows_cols[0]}x{rows_cols[1]}_{dataflow}"
            workdir.mkdir()
            jobs.append(Job(label, array, topology, workdir))
    return jobs, rows, mapping


def run_all(work: Callable[[Job], T], jobs: list[Job], scratch: Path) -> list[T]:
    """work(job) for every job, two SCALE-Sim processes at a time; `scratch` removed after."""
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            return list(pool.map(work, jobs))
    finally:
        shutil.rmtree(scratch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true",
                        help="simulate every row and every depthwise channel (slow)")
    args = parser.parse_args()
    python = ensure_venv()
    version = subprocess.run([str(python), "-m", "pip", "show", "scalesim"], check=True,
                             capture_output=True, text=True).stdout.split("\n")[1]
    print(f"SCALE-Sim {version.split(':')[1].strip()}, accelsim PE-array model")

    scratch = Path(tempfile.mkdtemp(prefix="validate_scalesim_"))
    nets: dict[str, Network] = {}
    exported: dict[str, tuple[list[list[str]], list[tuple[int, int]]]] = {}
    jobs: list[Job] = []
    for name, resolution, arrays in CASES:
        net = build_model(name, resolution=resolution)
        label = f"{name}@{resolution or 'default'}"
        nets[label] = net
        made, rows, mapping = network_jobs(net, label, arrays, scratch, args.full)
        exported[label] = (rows, mapping)
        jobs += made
    results = run_all(lambda job: run_scalesim(python, job), jobs, scratch)

    summary = []
    for job, reported in zip(jobs, results, strict=True):
        rows, mapping = exported[job.net]
        theirs = per_row(reported, mapping, rows, args.full)
        weighted = [layer for layer in nets[job.net].layers() if layer.is_weighted]
        array = job.array
        print(f"\n{job.net}  {array.rows}x{array.cols}  {array.dataflow}")
        print(f"{'layer':<16}{'accelsim':>12}{'SCALE-Sim':>12}{'diff %':>9}"
              f"{'diff % (index)':>16}")
        diffs, adjusted = [], []
        for layer, other in zip(weighted, theirs, strict=True):
            cycles = layer_cycles(layer, array)
            ours = cycles.cycles
            diff = 100.0 * (ours - other) / other
            # SCALE-Sim reports the 0-based index of the last cycle: one less per GEMM.
            index = 100.0 * (ours - max(cycles.repeats, 1) - other) / other
            diffs.append(abs(diff))
            adjusted.append(abs(index))
            print(f"{layer.name:<16}{ours:>12}{other:>12}{diff:>9.3f}{index:>16.3f}")
        summary.append((job.net, f"{array.rows}x{array.cols}", array.dataflow,
                        max(diffs), sum(diffs) / len(diffs), max(adjusted)))

    print(f"\n{'network':<24}{'array':>7}{'df':>4}{'max |diff| %':>14}{'mean |diff| %':>15}"
          f"{'max |diff| % (index)':>22}")
    for net_label, size, dataflow, worst, mean, worst_index in summary:
        print(f"{net_label:<24}{size:>7}{dataflow:>4}{worst:>14.3f}{mean:>15.3f}"
              f"{worst_index:>22.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
