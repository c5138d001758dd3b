"""Sweep throughput: points/s and peak memory for 100k and 1M points, vs the naive loop.

    python benchmarks/bench_sweep.py [--workers N] [--backend local|serial]

The design is bandwidth x MAC rate x SRAM capacity on the CIFAR MobileNet. Peak memory is
ru_maxrss of the parent and of its worker processes, each size measured in a fresh
process (so one size's peak does not hide the other's). The naive rate is load_run +
run_config per point on a small random sample of the same design.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from accelsim.config.loader import load_run
from accelsim.pipeline import run_config
from accelsim.sweep.runner import execute
from accelsim.sweep.space import Design, load_sweep


def spec(bandwidths: int) -> dict[str, Any]:
    """A bandwidths x 100 x 10 grid."""
    return {
        "base": "mobilenet_cifar.yaml",
        "axes": {
            "hardware.dram.bandwidth": {"start": "0.1 GB/s", "stop": "100 GB/s",
                                        "num": bandwidths, "scale": "log"},
            "hardware.compute.mac_rate": {"start": "10 GMAC/s", "stop": "10 TMAC/s",
                                          "num": 100, "scale": "log"},
            "hardware.sram.capacity": [f"{k} KiB" for k in
                                       (64, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)],
        },
    }


def naive_rate(sweep: dict[str, Any], samples: int = 40) -> float:
    """Points/s of load_run + run_config per point, on a random sample of the design."""
    loaded = load_sweep(sweep)
    design = Design(loaded)
    ids = np.random.default_rng(0).choice(design.n_points, samples, replace=False)
    columns = design.columns(ids)
    start = time.perf_counter()
    for i in range(samples):
        overrides = {path: values[i].item() for path, values in columns.items()}
        run_config(load_run(loaded.base_file, overrides))
    return samples / (time.perf_counter() - start)


def maxrss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def measure(bandwidths: int, backend: str, workers: int | None) -> dict[str, float]:
    """One sweep in this process: elapsed, points/s and peak RSS (parent, workers)."""
    import pyarrow.parquet  # noqa: F401  (imports are not sweep time)
    import tqdm  # noqa: F401

    with tempfile.TemporaryDirectory() as out:
        run = execute(spec(bandwidths), out, backend=backend, workers=workers)
    return {"points": run.n_points, "elapsed_s": run.elapsed_s, "rate": run.points_per_s,
            "schedules": run.schedules, "rss_parent_mib": maxrss_mib(resource.RUSAGE_SELF),
            "rss_workers_mib": maxrss_mib(resource.RUSAGE_CHILDREN)}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.backend, args.workers)))
        return
    naive = naive_rate(spec(100))
    print(f"naive load_run + run_config loop: {naive:,.0f} points/s")
    for bandwidths in (100, 1000):
        command = [sys.executable, __file__, "--one", str(bandwidths), "--backend", args.backend]
        if args.workers:
            command += ["--workers", str(args.workers)]
        r = json.loads(subprocess.run(command, check=True, capture_output=True,
                                      text=True).stdout)
        print(f"{r['points']:>9,} points: {r['elapsed_s']:6.2f} s, {r['rate']:>11,.0f} points/s "
              f"({r['rate'] / naive:,.0f}x naive), {r['schedules']} schedules; peak RSS "
              f"parent {r['rss_parent_mib']:.0f} MiB, workers {r['rss_workers_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
