"""How long one simulation takes, without interpreter start-up and plotting.

    python benchmarks/bench_simulate.py

Prints the median wall time of building the network, scheduling it and costing every
layer, for MobileNet-224 and the CIFAR MobileNet on the 004 accelerator (1 MB SRAM) and
on a small 256 KiB SRAM that forces tiling, and the ratio of each to the CIFAR baseline.
"""

from __future__ import annotations

import statistics
import time

from accelsim.config import load_run
from accelsim.ir import build_model
from accelsim.sim import simulate

REPEATS = 15


def median_ms(model: str, overrides: dict[str, object]) -> float:
    """Median milliseconds of simulate() (network built once, outside the timing)."""
    config = load_run("mobilenet_cifar.yaml", overrides)
    net = build_model(model)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        simulate(net, config.hardware, config.simulation)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    """Print one line per case."""
    base = median_ms("mobilenet_v1_cifar", {})
    print(f"{'case':58s} {'median ms':>10s} {'x baseline':>10s}")
    cases = [
        ("mobilenet_v1_cifar", "1 MB", "liveness"),
        ("mobilenet_v1_cifar", "1 MB", "accumulate"),
        ("mobilenet_v1", "1 MB", "liveness"),
        ("mobilenet_v1", "1 MB", "accumulate"),
        ("mobilenet_v1", "256 KiB", "liveness"),
        ("mobilenet_v2", "1 MB", "liveness"),
    ]
    for model, sram, policy in cases:
        ms = median_ms(model, {"hardware.sram.capacity": sram, "simulation.policy": policy})
        print(f"{model + ', ' + sram + ' SRAM, ' + policy:58s} {ms:10.2f} {ms / base:10.2f}")


if __name__ == "__main__":
    main()
