"""Time the NumPy reference executor against onnxruntime on MobileNet v1 224.

Run: ``python benchmarks/bench_executor.py [--repeats N] [--burners N]``. The network is
exported with `network_to_onnx` (same random weights for both) and outputs are checked to
agree; each row is the median of N interleaved timed runs (after a warm-up) of an executor
`Session` (float32, or integer mode calibrated once) and an onnxruntime session, with
their ratio next to its target. The "base" rows run on the machine as it is (the "quiet"
targets: on a shared machine, whatever else runs adds to them, so the script prints the
load average); the "loaded" rows repeat the measurement while N processes started by this
script burn CPU (default: one per core). Both sides of each ratio run in the same
conditions. ``--profile`` adds both runtimes' CPU time per run and the executor's top
functions.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import onnxruntime as ort

from accelsim.ir.onnx_export import network_to_onnx
from accelsim.ir.zoo import mobilenet_v1
from accelsim.reference import random_params
from accelsim.reference.executor import Session

#: Executor / onnxruntime ratio targets at batch 1, per (mode, condition).
TARGETS: dict[tuple[str, str], float] = {
    ("float32", "base"): 2.0, ("float32", "loaded"): 3.0,
    ("int", "base"): 5.0, ("int", "loaded"): 5.0,
}


def median_seconds(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median wall time of each function over `repeats` rounds, after one warm-up each.

    The functions alternate within every round, so a load change on a shared machine
    hits both sides of the ratio alike.
    """
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]


@contextmanager
def cpu_burners(count: int) -> Iterator[None]:
    """Run `count` busy-looping Python processes for the duration of the block."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(count)]
    try:
        time.sleep(0.5)  # let them start spinning before anything is timed
        yield
    finally:
        for process in burners:
            process.kill()
            process.wait()


def _ort_session(model: bytes, threads: int) -> ort.InferenceSession:
    """An onnxruntime CPU session with `threads` intra-op threads (0: its default)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # ORT's worker threads spin-wait after each run; interleaved with the executor, that
    # spinning would steal the cores from the executor's next timed run.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def main() -> None:
    """Print executor and onnxruntime medians, their ratio and its target, per row."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2,
                        help="CPU-burning processes during the load rows (0: skip them)")
    parser.add_argument("--profile", action="store_true",
                        help="also print where the executor's CPU time goes, per mode")
    args = parser.parse_args()
    net = mobilenet_v1()
    params = random_params(net, seed=0)
    model = network_to_onnx(net, params).SerializeToString()
    theirs, single = (_ort_session(model, threads) for threads in (0, 1))
    inputs = {batch: np.random.default_rng(batch).standard_normal((batch, 224, 224, 3)
                                                                  ).astype(np.float32)
              for batch in (1, 8)}
    # Both sides prepare their weights once; integer mode also calibrates once.
    ours = {"float32": Session(net, params),
            "int": Session(net, params, mode="int", calibration=inputs[1])}
    # (condition, mode, batch, keep): "outputs" returns the network outputs only, like
    # onnxruntime; "all" keeps every layer's output (what replay and verify use).
    rows = [("base", "float32", 1, "outputs"), ("base", "int", 1, "outputs"),
            ("base", "float32", 1, "all"), ("base", "int", 1, "all"),
            ("base", "float32", 8, "outputs")]
    if args.burners:
        rows += [("loaded", "float32", 1, "outputs"), ("loaded", "int", 1, "outputs")]
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
          f"on {os.cpu_count()} cores; loaded rows add {args.burners} CPU burners")
    print("ratio = executor / onnxruntime with its default threads (the target); "
          "ratio_1t = executor / onnxruntime on one thread, as the executor runs")
    print(f"{'condition':>9} {'mode':>7} {'batch':>5} {'keep':>7} {'executor_ms':>12} "
          f"{'ort_ms':>8} {'ratio':>6} {'target':>6} {'ort_1t_ms':>9} {'ratio_1t':>8} "
          f"{'max_abs_diff':>13}")
    for condition in ("base", "loaded"):
        selected = [row for row in rows if row[0] == condition]
        if not selected:
            continue
        with cpu_burners(args.burners if condition == "loaded" else 0):
            for _, mode, batch, keep in selected:
                x, session = inputs[batch], ours[mode]
                feed = {"input": np.ascontiguousarray(x.transpose(0, 3, 1, 2))}
                diff = np.abs(session.run(x).outputs["softmax"]
                              - theirs.run(None, feed)[0]).max()
                mine, reference, one = median_seconds(
                    [functools.partial(session.run, x, keep == "all"),
                     functools.partial(theirs.run, None, feed),
                     functools.partial(single.run, None, feed)], args.repeats)
                target = TARGETS.get((mode, condition)) if batch == 1 else None
                print(f"{condition:>9} {mode:>7} {batch:>5} {keep:>7} {mine * 1e3:>12.1f} "
                      f"{reference * 1e3:>8.1f} {mine / reference:>6.2f} "
                      f"{'-' if target is None else f'<={target:g}':>6} {one * 1e3:>9.1f} "
                      f"{mine / one:>8.2f} {diff:>13.2e}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.profile:
        feed = {"input": np.ascontiguousarray(inputs[1].transpose(0, 3, 1, 2))}
        spent = {f"executor {mode}": cpu_ms(functools.partial(s.run, inputs[1], False),
                                            args.repeats) for mode, s in ours.items()}
        spent["onnxruntime"] = cpu_ms(functools.partial(theirs.run, None, feed), args.repeats)
        spent["onnxruntime 1 thread"] = cpu_ms(functools.partial(single.run, None, feed),
                                               args.repeats)
        print("\nCPU time per batch-1 run, all threads: "
              + ", ".join(f"{name} {ms:.1f} ms" for name, ms in spent.items()))
        for mode, session in ours.items():
            profile_cpu(mode, functools.partial(session.run, inputs[1], False), args.repeats)


def cpu_ms(fn: Callable[[], object], repeats: int) -> float:
    """Mean CPU time of the whole process (every thread) per call of `fn`, in ms."""
    fn()
    start = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - start) / repeats * 1e3


def profile_cpu(mode: str, fn: Callable[[], object], repeats: int) -> None:
    """Print the functions taking the most CPU time (this thread's) per run of `fn`."""
    fn()
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    for _ in range(repeats):
        fn()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values()) / repeats  # type: ignore[attr-defined]
    print(f"\n{mode}, batch 1: {total * 1e3:.1f} ms CPU per run; own time per run, "
          "top functions:")
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])  # type: ignore[attr-defined]
    for (path, line, name), (_, calls, own, _, _) in rows[:12]:
        print(f"  {own / repeats * 1e3:7.2f} ms  {calls // repeats:>5} calls  "
              f"{os.path.basename(path)}:{line}({name})")


if __name__ == "__main__":
    main()
