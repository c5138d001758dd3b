"""How long one simulation takes, without interpreter start-up and plotting.

    python benchmarks/bench_simulate.py [--against DIR [--rounds 3]]

Prints the median wall time of scheduling and costing every layer (the network built once,
outside the timing) for MobileNet-224 and the CIFAR MobileNet on the 004 accelerator
(1 MB SRAM, ideal 500 GMAC/s) and on the 32x32 weight-stationary PE array, serial and with
overlap, at 1 MB, 256 KiB and 64 KiB, each with its ratio to the CIFAR baseline measured
in the same run, the median CPU time of the process (what the run costs when other jobs
share the cores) and the target where one is set ("-" otherwise). Every case is timed
warm: the network's build facts (accelsim.mapping.build_facts) and tile searches are
found by the untimed first call, as in a sweep or repeated runs; one more row times the
first case on a network built anew before each call (its facts found again). Then the
cost per layer of a plain chain of 15 and of 325 convolutions, serial and with overlap,
which should be flat (scheduling is linear in depth).

`--against DIR` times another accelsim source tree too (e.g. `git worktree add DIR
<commit>`): each tree in its own fresh processes, alternating, `--rounds` of each, and
prints both trees' medians and their ratio. This machine's speed drifts with its
neighbours (the same code measured up to 2x apart within minutes), so a before/after figure
is only meaningful from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accelsim.config import load_run
from accelsim.config.models import HardwareConfig, SimulationConfig
from accelsim.ir import NetworkBuilder, build_model
from accelsim.ir.graph import Network
from accelsim.sim import simulate

REPEATS = 7
PE_ARRAY = {"pe_rows": 32, "pe_cols": 32, "clock": "500 MHz", "dataflow": "ws"}
#: Target median ms per (SRAM, overlap) on MobileNet v1-224 (ideal compute and 32x32 ws).
TARGET_MS = {("1 MB", False): 2.0, ("1 MB", True): 5.0, ("64 KiB", False): 30.0,
             ("64 KiB", True): 60.0}


def medians_ms(run: Callable[[], object], setup: Callable[[], None] = lambda: None
               ) -> tuple[float, float]:
    """Median wall and CPU milliseconds of `run()` over REPEATS calls, each after an
    untimed `setup()`, after one untimed call (so every case is timed warm alike)."""
    run()
    wall, cpu = [], []
    for _ in range(REPEATS):
        setup()
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3


def config_ms(net: Network, overrides: dict[str, Any]) -> tuple[float, float]:
    """Median wall and CPU ms of simulate() on the 004 run file with `overrides`."""
    config = load_run("mobilenet_cifar.yaml", overrides)
    return medians_ms(lambda: simulate(net, config.hardware, config.simulation))


def chain(depth: int) -> Network:
    """`depth` 3x3 convolutions of 16x16x8 feature maps in a row."""
    b = NetworkBuilder(f"chain{depth}")
    x = b.input("input", (16, 16, 8))
    for i in range(depth):
        x = b.conv2d(f"conv{i}", x, 8, 3)
    return b.build()


#: One printed row: label, median wall ms, median CPU ms, ratio to the CIFAR baseline
#: (None for the per-layer rows, which are ms per layer), target ms (None: none set).
Row = tuple[str, float, float, float | None, float | None]


def measure() -> list[Row]:
    """Every case, timed."""
    cifar = build_model("mobilenet_v1_cifar")
    base, _ = config_ms(cifar, {})
    v1 = build_model("mobilenet_v1")
    cases = [(cifar, "1 MB", False, False), (v1, "1 MB", False, False),
             (v1, "1 MB", True, False), (v1, "1 MB", False, True), (v1, "1 MB", True, True),
             (v1, "256 KiB", False, False), (v1, "64 KiB", False, False),
             (v1, "64 KiB", True, False)]
    rows: list[Row] = []
    for net, sram, overlap, pe in cases:
        overrides: dict[str, Any] = {"hardware.sram.capacity": sram,
                                     "simulation.overlap": overlap}
        if pe:
            overrides.update({f"hardware.compute.{k}": v for k, v in PE_ARRAY.items()})
            overrides["hardware.compute.mac_rate"] = None
        ms, cpu = config_ms(net, overrides)
        label = (f"{net.name}, {sram}, {'32x32 ws' if pe else 'ideal'}, "
                 f"{'overlap' if overlap else 'serial'}")
        rows.append((label, ms, cpu, ms / base,
                     TARGET_MS.get((sram, overlap)) if net is v1 else None))
    # The same first case on a network built anew before each call: what finding the
    # network's facts (accelsim.mapping.build_facts), shared by later runs, adds.
    config = load_run("mobilenet_cifar.yaml", {"hardware.sram.capacity": "1 MB"})
    fresh = [v1]

    def renew() -> None:
        fresh[0] = build_model("mobilenet_v1")
    ms, cpu = medians_ms(lambda: simulate(fresh[0], config.hardware, config.simulation), renew)
    rows.append(("mobilenet_v1, 1 MB, ideal, serial, network new each run", ms, cpu,
                 ms / base, None))
    hw = HardwareConfig.model_validate({"sram": {"capacity": "1 MB"},
                                        "dram": {"bandwidth": "1 GB/s"},
                                        "compute": {"mac_rate": "1 TMAC/s"}})
    for overlap in (False, True):
        for depth in (15, 325):
            net = chain(depth)

            def run(net: Network = net, overlap: bool = overlap) -> object:
                return simulate(net, hw, SimulationConfig(overlap=overlap))
            ms, cpu = medians_ms(run)
            label = (f"chain of {depth} convolutions, {'overlap' if overlap else 'serial'}, "
                     "ms per layer")
            rows.append((label, ms / depth, cpu / depth, None, None))
    return rows


def print_rows(rows: list[Row]) -> None:
    """The table of one tree's figures."""
    print(f"{'case':56s} {'median ms':>10s} {'x baseline':>10s} {'cpu ms':>8s} "
          f"{'target ms':>10s}")
    for label, ms, cpu, ratio, target in rows:
        digits = 2 if ratio is not None else 3
        print(f"{label:56s} {ms:10.{digits}f} {'' if ratio is None else f'{ratio:.2f}':>10s} "
              f"{cpu:8.{digits}f} {'-' if target is None else f'{target:.0f}':>10s}")


def child_rows(tree: Path | None) -> list[Row]:
    """`measure()` in a fresh process importing accelsim from `tree` (None: as installed)."""
    env = dict(os.environ, PYTHONHASHSEED="0")  # both trees' dicts and sets laid out alike
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, __file__, "--json"], env=env, cwd=Path.cwd(),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"measuring {tree or 'this tree'} failed: {done.stderr}")
    return [tuple(row) for row in json.loads(done.stdout)]


def compare(against: Path, rounds: int) -> None:
    """Both trees' medians over `rounds` alternating fresh processes, and their ratio."""
    mine: list[list[Row]] = []
    theirs: list[list[Row]] = []
    for _ in range(rounds):
        mine.append(child_rows(None))
        theirs.append(child_rows(against))
    print(f"medians of {rounds} alternating processes each; load average now "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"{'case':56s} {'ms':>9s} {'ms there':>9s} {'ratio':>6s} {'target ms':>10s}")
    for i, (label, *_rest) in enumerate(mine[0]):
        here = statistics.median(r[i][1] for r in mine)
        there = statistics.median(r[i][1] for r in theirs)
        target = mine[0][i][4]
        print(f"{label:56s} {here:9.3f} {there:9.3f} {here / there:6.2f} "
              f"{'-' if target is None else f'{target:.0f}':>10s}")


def main() -> None:
    """Print one line per case (with --against, beside another tree's)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, default=None,
                        help="another accelsim source tree, timed in the same run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating processes per tree with --against (default 3)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure()))
    elif args.against is not None:
        if not (args.against / "accelsim" / "__init__.py").is_file():
            raise SystemExit(f"--against {args.against}: no accelsim package in it")
        compare(args.against.resolve(), args.rounds)
    else:
        print_rows(measure())


if __name__ == "__main__":
    main()
