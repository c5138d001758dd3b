"""Where does MobileNet-224 turn from memory-bound to compute-bound as bandwidth grows?

Sweeps DRAM bandwidth (0.5 to 500 GB/s, 400 log-spaced points) on
examples/mobilenet_v1_edge.yaml (1 TMAC/s, 2 MiB SRAM) and reports the first bandwidth at
which compute time reaches data-movement time for the whole network, and the per-layer view
(how many layers are still memory-bound there).

    python examples/roofline_bandwidth.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from accelsim.config.loader import load_run
from accelsim.pipeline import run_config
from accelsim.sweep import run_sweep

HERE = Path(__file__).parent
BASE = HERE / "mobilenet_v1_edge.yaml"
SPEC = {
    "base": str(BASE),
    "axes": {"hardware.dram.bandwidth": {"start": "0.5 GB/s", "stop": "500 GB/s",
                                         "num": 400, "scale": "log"}},
}


def main() -> None:
    frame = run_sweep(SPEC, out="reports/sweeps/roofline_bandwidth", backend="serial")
    bandwidth = frame["hardware.dram.bandwidth"].to_numpy()
    compute_bound = (frame["compute_time_s"] >= frame["data_movement_time_s"]).to_numpy()
    if not compute_bound.any():
        print("memory-bound over the whole range")
        return
    i = int(np.argmax(compute_bound))
    row = frame.iloc[i]
    dram = row["dram_read_bytes"] + row["dram_write_bytes"]
    print(f"MobileNet v1 224 on 1 TMAC/s, 2 MiB SRAM: memory-bound below "
          f"{bandwidth[i] / 1e9:.1f} GB/s, compute-bound from there on")
    print(f"  at that point: {row['total_time_s'] * 1e3:.3f} ms, compute "
          f"{row['compute_time_s'] * 1e3:.3f} ms, data movement "
          f"{row['data_movement_time_s'] * 1e3:.3f} ms, {dram / 1e6:.2f} MB of DRAM traffic")
    print(f"  at 0.5 GB/s: {frame['total_time_s'].iloc[0] * 1e3:.2f} ms; at 500 GB/s: "
          f"{frame['total_time_s'].iloc[-1] * 1e3:.3f} ms")
    layers = run_config(load_run(BASE, {"hardware.dram.bandwidth": float(bandwidth[i])}))
    table = layers.table()
    memory = table[table["bound"] == "memory"]
    print(f"  per layer at {bandwidth[i] / 1e9:.1f} GB/s: {len(memory)} of {len(table)} layers "
          f"are still memory-bound ({', '.join(memory['name'].head(5))}...)")


if __name__ == "__main__":
    main()
