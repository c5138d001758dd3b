"""DRAM traffic of MobileNet v1 1.0-224 against its compulsory traffic, per policy.

The reference accelerator: 32x32 weight-stationary PE array at 500 MHz, 1 GB/s DDR,
8-bit data; SRAM 1 MB and 16 KiB. Compulsory traffic is every filter byte, the network
input and its output, once. Prints the modelled traffic, its ratio to compulsory, the
simulated run time (`run ms`), and the wall time of scheduling and costing (`plan ms`).

    python benchmarks/bench_traffic.py
"""

from __future__ import annotations

import time

from accelsim.config.models import HardwareConfig, SimulationConfig
from accelsim.ir.zoo import build_model
from accelsim.mapping import POLICIES
from accelsim.sim import simulate


def hardware(capacity: str) -> HardwareConfig:
    """The reference accelerator with an SRAM of `capacity`."""
    return HardwareConfig.model_validate({
        "sram": {"capacity": capacity}, "dram": {"bandwidth": "1 GB/s"},
        "compute": {"pe_rows": 32, "pe_cols": 32, "clock": "500 MHz", "dataflow": "ws"},
        "precision": {"activation_bits": 8, "weight_bits": 8, "accumulator_bits": 32}})


def main() -> None:
    net = build_model("mobilenet_v1")
    print(f"{'SRAM':>8}  {'policy':<10} {'overlap':<7} {'DRAM bytes':>12} {'compulsory':>11} "
          f"{'ratio':>6} {'run ms':>8} {'plan ms':>8}")
    for capacity in ("1 MB", "16 KiB"):
        for policy in POLICIES:
            for overlap in (False, True):
                sim = SimulationConfig(policy=policy, overlap=overlap)
                start = time.perf_counter()
                result = simulate(net, hardware(capacity), sim)
                elapsed = time.perf_counter() - start
                s = result.summary()
                moved = s["dram_read_bytes"] + s["dram_write_bytes"]
                print(f"{capacity:>8}  {policy:<10} {str(overlap):<7} {moved:>12,} "
                      f"{s['compulsory_dram_bytes']:>11,} "
                      f"{moved / s['compulsory_dram_bytes']:>6.3f} "
                      f"{s['total_time_s'] * 1e3:>8.3f} {elapsed * 1e3:>8.1f}")


if __name__ == "__main__":
    main()
