"""Set accelsim's reproduction of the 004 report's method beside its Tables 3 and 4.

    python examples/seed004_compare.py          # prints Markdown tables (docs/seed004.md)
"""

from __future__ import annotations

import csv
from pathlib import Path

import accelsim

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "data" / "seed004_table3_table4.csv"


def main() -> None:
    """Print the row-by-row comparison and the liveness totals."""
    with TABLE.open() as f:
        report = list(csv.DictReader(f))
    acc = accelsim.run("mobilenet_cifar.yaml", {"simulation.policy": "accumulate"}).table()
    live = accelsim.run("mobilenet_cifar.yaml", {"simulation.policy": "liveness"})
    print("| row | layer | in fmap bits (doc / ours) | out fmap bits (doc / ours) | "
          "internal memory bits (doc / ours) | data movement bits (doc / ours) | "
          "compute s (doc / ours) | total s (doc / ours) |")
    print("|---|---|---|---|---|---|---|---|")
    for doc, (_, ours) in zip(report, acc.iterrows(), strict=False):
        print(f"| {doc['layer']} | {ours['name']} "
              f"| {int(doc['input_fmap_bits']):,} / {ours['input_fmap_bits']:,} "
              f"| {int(doc['output_fmap_bits']):,} / {ours['output_fmap_bits']:,} "
              f"| {int(doc['internal_memory_used_bits']):,} / {ours['sram_used_bits']:,} "
              f"| {int(doc['data_movement_bits']):,} / {ours['data_movement_bits']:,} "
              f"| {float(doc['compute_time_s']):.6g} / {ours['compute_time_s']:.6g} "
              f"| {float(doc['performance_time_s']):.6g} / {ours['total_time_s']:.6g} |")
    tail = acc.iloc[len(report):]
    for _, ours in tail.iterrows():
        print(f"| - | {ours['name']} | - / {ours['input_fmap_bits']:,} | - / "
              f"{ours['output_fmap_bits']:,} | - / {ours['sram_used_bits']:,} | - / "
              f"{ours['data_movement_bits']:,} | - / {ours['compute_time_s']:.6g} | - / "
              f"{ours['total_time_s']:.6g} |")
    doc_total = sum(float(r["performance_time_s"]) for r in report)
    print(f"\nTotal: document {doc_total:.6g} s; accelsim accumulate "
          f"{acc['total_time_s'].sum():.6g} s (of which data movement "
          f"{acc['data_movement_time_s'].sum():.6g} s).")
    s = live.summary()
    print(f"accelsim liveness: {s['total_time_s']:.6g} s, compute {s['compute_time_s']:.6g} s, "
          f"data movement {s['data_movement_time_s']:.6g} s, peak SRAM {s['peak_sram_bytes']:,} B"
          f" of {s['sram_capacity_bytes']:,} B, DRAM traffic {s['dram_read_bytes']:,} B read + "
          f"{s['dram_write_bytes']:,} B written (compulsory {s['compulsory_dram_bytes']:,} B), "
          f"spills {s['spills']}.")


if __name__ == "__main__":
    main()
