"""Time the NumPy reference executor against onnxruntime on MobileNet v1 224.

Run: ``python benchmarks/bench_executor.py [--repeats N]``. The network is exported with
`network_to_onnx` (same random weights for both), outputs are checked to agree, and the
median of N interleaved timed runs (after a warm-up) is printed per batch size.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import onnxruntime as ort

from accelsim.ir.onnx_export import network_to_onnx
from accelsim.ir.zoo import mobilenet_v1
from accelsim.reference import random_params
from accelsim.reference.executor import Session


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


def main() -> None:
    """Print executor and onnxruntime medians and their ratio for batch 1 and 8."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    net = mobilenet_v1()
    params = random_params(net, seed=0)
    options = ort.SessionOptions()
    # ORT's worker threads spin-wait after each run; interleaved with the executor, that
    # spinning would steal the cores from the executor's next timed run.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(network_to_onnx(net, params).SerializeToString(),
                                   options, providers=["CPUExecutionProvider"])
    ours_session = Session(net, params)  # both sides prepare their weights once
    print(f"{'batch':>5} {'executor_ms':>12} {'ort_ms':>8} {'ratio':>6} {'max_abs_diff':>13}")
    for batch in (1, 8):
        x = np.random.default_rng(batch).standard_normal((batch, 224, 224, 3))
        x = x.astype(np.float32)
        feed = {"input": np.ascontiguousarray(x.transpose(0, 3, 1, 2))}
        diff = np.abs(ours_session.run(x).outputs["softmax"]
                      - session.run(None, feed)[0]).max()
        ours, theirs = median_seconds(
            [lambda x=x: ours_session.run(x), lambda feed=feed: session.run(None, feed)],
            args.repeats,
        )
        print(f"{batch:>5} {ours * 1e3:>12.1f} {theirs * 1e3:>8.1f} {ours / theirs:>6.2f} "
              f"{diff:>13.2e}")


if __name__ == "__main__":
    main()
