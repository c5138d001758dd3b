"""Sweep throughput against its targets, each beside a baseline measured in the same run.

    python benchmarks/bench_sweep.py [--repeats 3]

* Schedule-changing sweep: MobileNet v1 (examples/mobilenet_v1_edge.yaml), width x
  resolution x SRAM capacity (4 x 4 x 16 = 256 points, every point its own schedule), on
  the serial backend; target >= 1,000 points/s. Baseline: a loop of simulate() over the
  same points (each network built once, configs validated before the clock starts), the
  floor a sweep stands on while every point needs its own schedule. Printed with it: the
  share of the serial sweep spent building schedules (accelsim.mapping.build_schedule)
  and the rest; and what a point costs when its schedule is already built (the sweep run
  twice in one process, keeping the first run's schedules).
* The same sweep on the local backend and on a Dask LocalCluster, 2 workers each;
  baseline: the serial sweep; targets >= 1.8x and >= 1.0x. Printed with them: what this
  machine gives two processes right now (a pure-Python loop on 2 processes vs 1), which
  bounds any backend's ratio while other work loads the machine; and the parent's share
  of the CPU time.
* Hardware-only sweep: DRAM bandwidth x MAC rate x DRAM read energy (1000 x 100 x 10 =
  1,000,000 points, one schedule) on the serial backend; target >= 2,000,000 points/s;
  CPU seconds (load-independent) and peak RSS, and the same at 4,000,000 points (memory
  stays flat). Baseline: the naive load_run + run_config loop on a sample of its points.

Every sweep runs in a fresh process (no schedule or tile search cached by an earlier
one), `--repeats` times; figures are medians. Module imports (pyarrow, tqdm,
dask.distributed) are done before the clock starts; everything else (validation,
schedules, evaluation, writing and merging parquet, starting and stopping the backend's
workers or cluster) is timed.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

BASE = "examples/mobilenet_v1_edge.yaml"
WORKERS = 2


def schedule_spec() -> dict[str, Any]:
    """Every point its own schedule: 4 widths x 4 resolutions x 16 SRAM capacities."""
    return {"base": BASE, "axes": {
        "model.alpha": [0.25, 0.5, 0.75, 1.0],
        "model.resolution": [128, 160, 192, 224],
        "hardware.sram.capacity": [f"{k} KiB" for k in
                                   (256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280,
                                    1536, 1792, 2048, 2560, 3072, 4096)],
    }}


def hardware_spec(bandwidths: int) -> dict[str, Any]:
    """One schedule, `bandwidths` x 100 x 10 points on the CIFAR MobileNet run file."""
    return {"base": "mobilenet_cifar.yaml", "axes": {
        "hardware.dram.bandwidth": {"start": "0.1 GB/s", "stop": "100 GB/s",
                                    "num": bandwidths, "scale": "log"},
        "hardware.compute.mac_rate": {"start": "10 GMAC/s", "stop": "10 TMAC/s",
                                      "num": 100, "scale": "log"},
        "hardware.energy.dram_read_byte": [f"{50 * k} pJ" for k in range(1, 11)],
    }}


def cpu_s() -> float:
    """CPU seconds of this process and its finished children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def parent_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def sweep_once(spec: dict[str, Any], backend: str) -> dict[str, float]:
    """One sweep in this (fresh) process: wall, CPU, peak RSS, time in build_schedule."""
    import pyarrow.parquet  # noqa: F401  (imports are not sweep time)
    import tqdm  # noqa: F401

    import accelsim.sweep.fast as fast
    from accelsim.sweep.runner import execute

    if backend == "dask":
        import dask.distributed  # noqa: F401  (its import takes 1 s; starting the cluster
        # and everything after it is timed)
    building = [0.0]
    build = fast.build_schedule

    def timed_build(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return build(*args, **kwargs)
        finally:
            building[0] += time.perf_counter() - start

    fast.build_schedule = timed_build  # serial only: workers run the module's own
    cpu, parent = cpu_s(), parent_cpu_s()
    with tempfile.TemporaryDirectory() as out:
        run = execute(spec, out, backend=backend, workers=WORKERS)
    return {"points": run.n_points, "elapsed_s": run.elapsed_s, "cpu_s": cpu_s() - cpu,
            "parent_cpu_s": parent_cpu_s() - parent, "build_s": building[0],
            "rss_parent_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_workers_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def overhead_once(spec: dict[str, Any]) -> dict[str, float]:
    """CPU a point of the serial sweep costs besides building schedules: the sweep run
    twice in one process, its schedules kept from the first run for the second."""
    import pyarrow.parquet  # noqa: F401
    import tqdm  # noqa: F401

    import accelsim.sweep.fast as fast
    from accelsim.sweep.runner import execute

    built: dict[Any, Any] = {}
    build = fast.build_schedule

    def kept(net: Any, *args: Any) -> Any:
        key = (id(net), *map(repr, args))  # networks are kept per process by the sweep
        if key not in built:
            built[key] = build(net, *args)
        return built[key]

    fast.build_schedule = kept
    for _ in range(2):
        with tempfile.TemporaryDirectory() as out:
            start = time.process_time()
            run = execute(spec, out, backend="serial")
            cpu = time.process_time() - start
    return {"points": run.n_points, "elapsed_s": run.elapsed_s, "cpu_s": cpu}


def simulate_loop_once(spec: dict[str, Any]) -> dict[str, float]:
    """simulate() over every point of a grid (networks and configs made beforehand)."""
    import itertools

    from accelsim.config.loader import load_run
    from accelsim.pipeline import build_network
    from accelsim.sim import simulate

    axes = spec["axes"]
    configs = [load_run(spec["base"], dict(zip(axes, values, strict=True)))
               for values in itertools.product(*axes.values())]
    networks = {}
    for config in configs:
        key = config.model.model_dump_json()
        if key not in networks:
            networks[key] = build_network(config.model)
    start = time.perf_counter()
    for config in configs:
        simulate(networks[config.model.model_dump_json()], config.hardware, config.simulation)
    return {"points": len(configs), "elapsed_s": time.perf_counter() - start}


def naive_once(spec: dict[str, Any], samples: int = 30) -> dict[str, float]:
    """load_run + run_config per point, on a random sample of a sweep's points."""
    from accelsim.config.loader import load_run
    from accelsim.pipeline import run_config
    from accelsim.sweep.space import Design, load_sweep

    loaded = load_sweep(spec)
    design = Design(loaded)
    ids = np.random.default_rng(0).choice(design.n_points, samples, replace=False)
    columns = design.columns(ids)
    start = time.perf_counter()
    for i in range(samples):
        run_config(load_run(loaded.base_file, {p: v[i].item() for p, v in columns.items()}))
    return {"points": samples, "elapsed_s": time.perf_counter() - start}


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def parallelism_once(n: int = 2_000_000, tasks: int = 4) -> dict[str, float]:
    """How much faster 2 processes run a pure-Python loop than 1, on this machine now."""
    start = time.perf_counter()
    for _ in range(tasks):
        _burn(n)
    serial = time.perf_counter() - start
    with ProcessPoolExecutor(WORKERS) as pool:
        pool.submit(_burn, 1).result()
        start = time.perf_counter()
        list(pool.map(_burn, [n] * tasks))
        parallel = time.perf_counter() - start
    return {"points": 1, "elapsed_s": parallel, "ratio": serial / parallel}


JOBS = {
    "schedule-serial": lambda: sweep_once(schedule_spec(), "serial"),
    "schedule-local": lambda: sweep_once(schedule_spec(), "local"),
    "schedule-dask": lambda: sweep_once(schedule_spec(), "dask"),
    "schedule-simulate": lambda: simulate_loop_once(schedule_spec()),
    "schedule-overhead": lambda: overhead_once(schedule_spec()),
    "hardware-1m": lambda: sweep_once(hardware_spec(1000), "serial"),
    "hardware-4m": lambda: sweep_once(hardware_spec(4000), "serial"),
    "hardware-naive": lambda: naive_once(hardware_spec(1000)),
    "parallelism": parallelism_once,
}


def fresh(job: str) -> dict[str, float]:
    """Run one job in a new interpreter; its measurements."""
    out = subprocess.run([sys.executable, __file__, "--one", job], check=True,
                         capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def rate(r: dict[str, float]) -> float:
    return r["points"] / r["elapsed_s"]


def line(what: str, figure: str, baseline: str, target: str, met: bool) -> None:
    print(f"{what:44s} {figure:>24s}  {baseline:>34s}  target {target:>14s}  "
          f"{'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", choices=sorted(JOBS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(JOBS[args.one]()))
        return
    runs: dict[str, list[dict[str, float]]] = {job: [] for job in JOBS}
    for _ in range(args.repeats):  # interleaved, so a burst of load hits every job alike
        for job in JOBS:
            runs[job].append(fresh(job))
    m = {job: medians(r) for job, r in runs.items()}
    n = args.repeats
    print(f"medians of {n} runs, each in a fresh process; {WORKERS} workers; machine load "
          f"now {', '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}")
    serial, sim = m["schedule-serial"], m["schedule-simulate"]
    line("schedule-changing sweep, v1, serial",
         f"{rate(serial):,.0f} pt/s", f"simulate() loop {rate(sim):,.0f} pt/s "
         f"({rate(serial) / rate(sim):.2f}x)", ">= 1,000 pt/s", rate(serial) >= 1000)
    build = serial["build_s"] / serial["elapsed_s"]
    print(f"  of the serial sweep's {serial['elapsed_s']:.2f} s: building schedules "
          f"{serial['build_s']:.2f} s ({build:.0%}), the rest (validation, networks, "
          f"costing, evaluation, parquet) {serial['elapsed_s'] - serial['build_s']:.2f} s "
          f"({1 - build:.0%})")
    extra = m["schedule-overhead"]
    print(f"  with every schedule already built, the sweep costs "
          f"{extra['cpu_s'] / extra['points'] * 1e3:.2f} ms of CPU a point "
          f"({extra['points'] / extra['elapsed_s']:,.0f} pt/s)")
    ceiling = m["parallelism"]["ratio"]
    for backend, target in (("local", 1.8), ("dask", 1.0)):
        r = m[f"schedule-{backend}"]
        ratio = rate(r) / rate(serial)
        line(f"same sweep, {backend} backend vs serial", f"{ratio:.2f}x ({rate(r):,.0f} pt/s)",
             f"serial {rate(serial):,.0f} pt/s", f">= {target}x", ratio >= target)
        print(f"  {r['elapsed_s']:.2f} s wall; CPU: parent {r['parent_cpu_s']:.2f} s of "
              f"{r['cpu_s']:.2f} s ({r['parent_cpu_s'] / r['cpu_s']:.0%}; serial "
              f"{serial['cpu_s']:.2f} s)"
              + ("; includes starting and stopping the cluster, whose scheduler runs in the "
                 "parent" if backend == "dask" else ""))
    print(f"  this machine now: a CPU loop on 2 processes runs {ceiling:.2f}x one process "
          "(the bound on any backend's ratio)")
    hw1, hw4, naive = m["hardware-1m"], m["hardware-4m"], m["hardware-naive"]
    line("hardware-only sweep, 1M points, serial", f"{rate(hw1):,.0f} pt/s",
         f"naive loop {rate(naive):,.1f} pt/s ({rate(hw1) / rate(naive):,.0f}x)",
         ">= 2,000,000 pt/s", rate(hw1) >= 2e6)
    print(f"  {hw1['elapsed_s']:.2f} s wall, {hw1['cpu_s']:.2f} s CPU "
          f"({hw1['points'] / hw1['cpu_s']:,.0f} points per CPU second)")
    for label, r in (("1M", hw1), ("4M", hw4)):
        print(f"  {label} points: {r['elapsed_s']:.2f} s, {rate(r):,.0f} pt/s, peak RSS "
              f"{r['rss_parent_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
