"""How long one simulation takes, without interpreter start-up and plotting.

    python benchmarks/bench_simulate.py

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
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
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


def main() -> None:
    """Print one line per case."""
    cifar = build_model("mobilenet_v1_cifar")
    base, _ = config_ms(cifar, {})
    print(f"{'case':56s} {'median ms':>10s} {'x baseline':>10s} {'cpu ms':>8s} "
          f"{'target ms':>10s}")
    v1 = build_model("mobilenet_v1")
    cases = [(cifar, "1 MB", False, False), (v1, "1 MB", False, False),
             (v1, "1 MB", True, False), (v1, "1 MB", False, True), (v1, "1 MB", True, True),
             (v1, "256 KiB", False, False), (v1, "64 KiB", False, False),
             (v1, "64 KiB", True, False)]
    for net, sram, overlap, pe in cases:
        overrides: dict[str, Any] = {"hardware.sram.capacity": sram,
                                     "simulation.overlap": overlap}
        if pe:
            overrides.update({f"hardware.compute.{k}": v for k, v in PE_ARRAY.items()})
            overrides["hardware.compute.mac_rate"] = None
        ms, cpu = config_ms(net, overrides)
        label = (f"{net.name}, {sram}, {'32x32 ws' if pe else 'ideal'}, "
                 f"{'overlap' if overlap else 'serial'}")
        target = TARGET_MS.get((sram, overlap)) if net is v1 else None
        print(f"{label:56s} {ms:10.2f} {ms / base:10.2f} {cpu:8.2f} "
              f"{'-' if target is None else f'{target:.0f}':>10s}")
    # The same first case on a network built anew before each call: what finding the
    # network's facts (accelsim.mapping.build_facts), shared by later runs, adds.
    config = load_run("mobilenet_cifar.yaml", {"hardware.sram.capacity": "1 MB"})
    fresh = [v1]

    def renew() -> None:
        fresh[0] = build_model("mobilenet_v1")
    ms, cpu = medians_ms(lambda: simulate(fresh[0], config.hardware, config.simulation), renew)
    label = "mobilenet_v1, 1 MB, ideal, serial, network new each run"
    print(f"{label:56s} {ms:10.2f} {ms / base:10.2f} {cpu:8.2f} {'-':>10s}")
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
            print(f"{label:56s} {ms / depth:10.3f} {'':10s} {cpu / depth:8.3f}")


if __name__ == "__main__":
    main()
