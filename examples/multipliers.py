"""The MobileNet paper's width and resolution multipliers as accelerator latency.

Howard et al. (2017), tables 6 and 7, trade accuracy for MACs with the width multiplier
alpha and the input resolution. What do those MACs become on a real accelerator, where
DRAM traffic and SRAM capacity also count? One sweep over alpha x resolution answers it
on examples/mobilenet_v1_edge.yaml (2 MiB SRAM, 8 GB/s, 1 TMAC/s).

    python examples/multipliers.py
"""

from __future__ import annotations

from pathlib import Path

from accelsim.sweep import run_sweep

HERE = Path(__file__).parent

SPEC = {
    "base": str(HERE / "mobilenet_v1_edge.yaml"),
    "axes": {
        "model.alpha": [1.0, 0.75, 0.5, 0.25],
        "model.resolution": [224, 192, 160, 128],
    },
}


def main() -> None:
    frame = run_sweep(SPEC, out="reports/sweeps/multipliers")
    frame["ms"] = frame["total_time_s"] * 1e3
    frame["compute_share"] = frame["compute_time_s"] / frame["total_time_s"]
    table = frame.pivot(index="model.alpha", columns="model.resolution", values="ms")
    table = table.sort_index(ascending=False)[sorted(table.columns, reverse=True)]
    print("MobileNet v1 latency (ms) on 2 MiB SRAM / 8 GB/s / 1 TMAC/s")
    print("alpha \\ resolution " + "".join(f"{r:>9}" for r in table.columns))
    for alpha, row in table.iterrows():
        print(f"{alpha:>18} " + "".join(f"{v:9.3f}" for v in row))
    full = frame[(frame["model.alpha"] == 1.0) & (frame["model.resolution"] == 224)].iloc[0]
    small = frame[(frame["model.alpha"] == 0.25) & (frame["model.resolution"] == 128)].iloc[0]
    macs = {k: r["compute_time_s"] * 1e12 for k, r in (("full", full), ("small", small))}
    print(f"\n1.0-224 -> 0.25-128: MACs fall {macs['full'] / 1e6:.0f}M -> "
          f"{macs['small'] / 1e6:.0f}M ({macs['full'] / macs['small']:.0f}x) but latency only "
          f"{full['ms'] / small['ms']:.1f}x: compute is {full['compute_share']:.0%} of the time "
          f"at 1.0-224 and {small['compute_share']:.0%} at 0.25-128; the rest is DRAM traffic.")


if __name__ == "__main__":
    main()
