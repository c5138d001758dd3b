"""Fuzz >= 10,000 random run and model files; print counts of crashes, hangs and violations.

    python benchmarks/fuzz_configs.py [--cases 10000] [--seed 0] [--timeout 10]

The files come from tests/fuzz_inputs.py, the generator the test suite's hypothesis fuzz
uses; each is loaded and simulated as `accelsim run` does. A case using more than --timeout
seconds of CPU time is a hang (stopped by SIGPROF; CPU time, so a busy machine does not
turn slow cases into hangs); a case whose message names neither the
run file nor the model file is "unlocated". The last line is a JSON record of the counts.
Exit code 1 when any crash, hang, unlocated error or invariant violation occurred.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz_inputs import Outcome, judge, write_case  # noqa: E402

BAD_KINDS = ("crash", "hang", "unlocated", "violation")


class _Hang(BaseException):
    """Raised by the alarm when one case runs past the timeout (not an Exception, so the
    judge cannot take it for a crash)."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Hang


def main() -> int:
    """Run the cases, print the first few examples of each bad kind, then the counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    counts: collections.Counter[str] = collections.Counter()
    shown: collections.Counter[str] = collections.Counter()
    slowest = 0.0  # wall time
    signal.signal(signal.SIGPROF, _alarm)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for case in range(args.cases):
            run = write_case(rng, Path(folder))
            began = time.perf_counter()
            signal.setitimer(signal.ITIMER_PROF, args.timeout)
            try:
                outcome = judge(run)
            except _Hang:
                outcome = Outcome("hang", f"over {args.timeout:g} s of CPU time")
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
            slowest = max(slowest, time.perf_counter() - began)
            counts[outcome.kind] += 1
            if outcome.kind in BAD_KINDS and shown[outcome.kind] < 3:
                shown[outcome.kind] += 1
                model = run.parent / "model.yaml"
                shown_model = model.read_text() if model.exists() else ""
                print(f"case {case} {outcome.kind}: {outcome.detail}\n{run.read_text()}"
                      f"{shown_model}")
    record = {"cases": args.cases, "seed": args.seed,
              **{kind: counts[kind] for kind in ("ok", "rejected", *BAD_KINDS)},
              "slowest_case_s": round(slowest, 2),
              "elapsed_s": round(time.perf_counter() - start, 1)}
    print(f"{args.cases:,} configs: {counts['crash']} crashes, {counts['hang']} hangs, "
          f"{counts['violation']} invariant violations, {counts['unlocated']} errors not "
          f"naming the file; {counts['ok']:,} ran, {counts['rejected']:,} rejected with one "
          f"located line")
    print(json.dumps(record))
    return 1 if any(counts[kind] for kind in BAD_KINDS) else 0


if __name__ == "__main__":
    sys.exit(main())
