"""DRAM traffic of MobileNet v1 1.0-224 against SRAM size: fused vs liveness vs compulsory.

Schedules the network (8-bit, batch 1) at 17 SRAM sizes from 16 KiB to 4 MiB (half
powers of two) under `fused` and `liveness`, prints the bytes each moves, checks that
`fused` never moves more than `liveness` and never more with more SRAM, and plots the
curves to reports/fusion_curve.png.

    python examples/fusion_curve.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from accelsim.ir import build_model  # noqa: E402
from accelsim.mapping import Sizes, build_schedule  # noqa: E402

SIZES = Sizes(activation_bits=8, weight_bits=8, accumulator_bits=32)
CAPACITIES = [round(2 ** (14 + k / 2)) for k in range(17)]  # 16 KiB .. 4 MiB
OUT = Path("reports") / "fusion_curve.png"
NET = build_model("mobilenet_v1")


def dram_bytes(capacity: int, policy: str) -> int:
    schedule = build_schedule(NET, SIZES, capacity, policy)
    return sum(ls.dram_read_bytes + ls.dram_write_bytes for ls in schedule.layers)


def main() -> None:
    weights = sum(SIZES.weight_bytes(layer) for layer in NET.layers())
    ends = [*NET.inputs, *NET.outputs]
    compulsory = weights + sum(SIZES.fmap_bytes(NET.layer(n).output_shape) for n in ends)
    fused = [dram_bytes(c, "fused") for c in CAPACITIES]
    alone = [dram_bytes(c, "liveness") for c in CAPACITIES]
    print(f"{'SRAM KiB':>9} {'fused B':>12} {'liveness B':>12} {'fused/compulsory':>17}")
    for capacity, f, a in zip(CAPACITIES, fused, alone, strict=True):
        print(f"{capacity / 1024:9.0f} {f:12,} {a:12,} {f / compulsory:17.3f}")
    never_above = all(f <= a for f, a in zip(fused, alone, strict=True))
    monotone = all(b <= a for a, b in zip(fused, fused[1:], strict=False))
    print(f"compulsory {compulsory:,} B; fused never above liveness: {never_above}; "
          f"fused non-increasing in SRAM size: {monotone}")

    fig, ax = plt.subplots(figsize=(7, 4.2))
    kib = [c / 1024 for c in CAPACITIES]
    ax.plot(kib, [a / 1e6 for a in alone], "o-", label="liveness (layer by layer)")
    ax.plot(kib, [f / 1e6 for f in fused], "s-", label="fused (depth-first groups)")
    ax.axhline(compulsory / 1e6, color="k", ls="--", lw=1, label="compulsory")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ticks = [16, 64, 256, 1024, 4096]
    ax.set_xticks(ticks, [f"{t} KiB" if t < 1024 else f"{t // 1024} MiB" for t in ticks])
    ax.set_yticks([4.4, 6, 10, 15, 25], ["4.4", "6", "10", "15", "25"])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("SRAM capacity")
    ax.set_ylabel("DRAM traffic per inference (MB)")
    ax.set_title("MobileNet v1 1.0-224, 8-bit, batch 1")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(OUT, dpi=120)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
