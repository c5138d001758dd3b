"""Planning time and DRAM traffic of the `fused` policy on MobileNet v1 1.0-224.

    python benchmarks/bench_fusion.py

For each SRAM size: the fastest of several runs of the fusion search alone, of the
whole `fused` schedule build (search, emission, and the layer-by-layer comparison it
makes unless the plan already moves only compulsory bytes), and of `liveness`; then the
DRAM bytes of both policies against the compulsory traffic (every filter, the network
input and its output once), 8-bit, batch 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from accelsim.ir import build_model
from accelsim.mapping import Sizes, build_schedule
from accelsim.mapping.fusion import plan_fusion

REPEATS = 7
SIZES = Sizes(activation_bits=8, weight_bits=8, accumulator_bits=32)
CAPACITIES = [("64 KiB", 64 * 1024), ("256 KiB", 256 * 1024), ("1 MB", 1_000_000),
              ("4 MiB", 4 * 1024 * 1024)]


def fastest_ms(run: Callable[[], object]) -> float:
    """Least wall time of REPEATS runs, in milliseconds (the least disturbed by load)."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def main() -> None:
    """Print one line per SRAM size."""
    net = build_model("mobilenet_v1")
    weights = sum(SIZES.weight_bytes(layer) for layer in net.layers())
    ends = [*net.inputs, *net.outputs]
    compulsory = weights + sum(SIZES.fmap_bytes(net.layer(n).output_shape) for n in ends)
    print(f"mobilenet_v1 1.0-224, 8-bit, compulsory DRAM traffic {compulsory:,} B")
    print(f"{'SRAM':>8} {'search ms':>10} {'fused ms':>9} {'liveness ms':>12} "
          f"{'fused B':>12} {'x compulsory':>12} {'liveness B':>12} {'x compulsory':>12}")
    for label, capacity in CAPACITIES:
        search = fastest_ms(lambda c=capacity: plan_fusion(net, SIZES, c))
        fused_ms = fastest_ms(lambda c=capacity: build_schedule(net, SIZES, c, "fused"))
        live_ms = fastest_ms(lambda c=capacity: build_schedule(net, SIZES, c, "liveness"))
        traffic = {}
        for policy in ("fused", "liveness"):
            schedule = build_schedule(net, SIZES, capacity, policy)
            traffic[policy] = sum(ls.dram_read_bytes + ls.dram_write_bytes
                                  for ls in schedule.layers)
        print(f"{label:>8} {search:10.1f} {fused_ms:9.1f} {live_ms:12.1f} "
              f"{traffic['fused']:12,} {traffic['fused'] / compulsory:12.3f} "
              f"{traffic['liveness']:12,} {traffic['liveness'] / compulsory:12.3f}")


if __name__ == "__main__":
    main()
