"""How should 1 MB be split among an input, a filter and an output buffer?

Every split of 1,000,000 B into three buffers in steps of 125 KB (at least 125 KB each:
21 splits) of examples/memory_split.yaml, simulated, best first:

    python examples/memory_split.py
"""

from __future__ import annotations

from pathlib import Path

from accelsim.config import load_run
from accelsim.errors import ScheduleError
from accelsim.pipeline import run_config

HERE = Path(__file__).parent
TOTAL, STEP = 1_000_000, 125_000


def splits() -> list[tuple[int, int, int]]:
    """(ifmap, filter, ofmap) bytes summing to TOTAL, each a positive multiple of STEP."""
    steps = TOTAL // STEP
    return [(a * STEP, b * STEP, (steps - a - b) * STEP)
            for a in range(1, steps - 1) for b in range(1, steps - a)]


def main() -> None:
    rows = []
    for ifmap, filt, ofmap in splits():
        config = load_run(HERE / "memory_split.yaml", {
            "hardware.memory.ifmap.capacity": ifmap, "hardware.memory.filter.capacity": filt,
            "hardware.memory.ofmap.capacity": ofmap})
        try:
            s = run_config(config).summary()
        except ScheduleError as exc:
            print(f"{ifmap:>9,} {filt:>9,} {ofmap:>9,}  does not run: {exc}")
            continue
        rows.append((s["total_time_s"], ifmap, filt, ofmap,
                     s["dram_read_bytes"] + s["dram_write_bytes"], s["energy_j"]))
    print(f"{'ifmap B':>9} {'filter B':>9} {'ofmap B':>9} {'time ms':>9} {'DRAM B':>11} "
          f"{'energy uJ':>10}")
    for time_s, ifmap, filt, ofmap, dram, energy in sorted(rows):
        print(f"{ifmap:>9,} {filt:>9,} {ofmap:>9,} {time_s * 1e3:>9.4f} {dram:>11,} "
              f"{energy * 1e6:>10.2f}")


if __name__ == "__main__":
    main()
