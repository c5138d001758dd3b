"""A progress line for long `run` and `verify` steps, on a terminal only.

A schedule search over a tiny SRAM or a replay of a large network can take minutes. A step
run through `run_step` shows, after DELAY_S seconds, a line with its name and the elapsed
time, refreshed while it runs and erased when it ends. Off a terminal (pipes, files,
tests) nothing is printed, so `--json` output and logs stay clean.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TextIO, TypeVar

__all__ = ["DELAY_S", "run_step"]

#: Seconds a step runs before its progress line appears (short steps never show one).
DELAY_S = 2.0
T = TypeVar("T")


def run_step(label: str, fn: Callable[..., T], *args: object, stream: TextIO | None = None,
             delay: float = DELAY_S, **kwargs: object) -> T:
    """fn(*args, **kwargs), with a `label: 12s elapsed` line on `stream` (stderr) if a terminal."""
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        return fn(*args, **kwargs)
    stop = threading.Event()

    def show() -> None:
        if stop.wait(delay):
            return
        from tqdm import tqdm  # imported only when a line is shown: it costs 30-60 ms

        with tqdm(total=None, file=out, leave=False, desc=label,
                  bar_format="{desc}: {elapsed} elapsed") as bar:
            while True:
                bar.refresh()
                if stop.wait(0.5):
                    return

    thread = threading.Thread(target=show, daemon=True, name="accelsim-progress")
    thread.start()
    try:
        return fn(*args, **kwargs)
    finally:
        stop.set()
        thread.join()
