"""How much SRAM does the CIFAR MobileNet need before DRAM traffic stops falling?

    python examples/sram_knee.py
"""

from __future__ import annotations

from pathlib import Path

from accelsim.sweep import run_sweep

HERE = Path(__file__).parent


def main() -> None:
    frame = run_sweep(HERE / "sram_knee.yaml", out="reports/sweeps/sram_knee")
    frame["dram_bytes"] = frame["dram_read_bytes"] + frame["dram_write_bytes"]
    for policy, rows in frame.groupby("simulation.policy"):
        rows = rows.sort_values("hardware.sram.capacity")
        # the smallest capacity that already reaches the lowest traffic of any capacity
        knee = rows[rows["dram_bytes"] == rows["dram_bytes"].min()].iloc[0]
        kib = knee["hardware.sram.capacity"] / 1024
        if knee.name == rows.index[-1] and rows["dram_bytes"].iloc[-2] > knee["dram_bytes"]:
            print(f"{policy:>10}: DRAM traffic still falls at {kib:,.0f} KiB, the largest swept")
            continue
        print(f"{policy:>10}: DRAM traffic stops falling at {kib:,.0f} KiB of SRAM "
              f"({knee['dram_bytes']:,} B per inference, "
              f"{knee['total_time_s'] * 1e3:.3f} ms); at 32 KiB it is "
              f"{rows['dram_bytes'].iloc[0]:,} B")


if __name__ == "__main__":
    main()
