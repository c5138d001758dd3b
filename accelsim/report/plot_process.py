"""Drawing a run's PNGs in forked processes, so matplotlib's start-up overlaps the simulation.

Importing matplotlib takes about as long as importing the simulator and simulating a small
network (0.3 s each on a quiet machine), and drawing the two figures takes longer than
either. `PlotProcess.start()` forks a child before the simulator is imported: the child
imports matplotlib while the parent simulates, then receives the plot jobs, draws the first
and forks once more per other job (the import is shared, not repeated), so the figures are
drawn side by side. An error in a child (a full disk, a bug) is raised again in the parent
when it joins.

Forking needs POSIX and a process without other threads, and pays only when a core is
idle; `start()` returns None otherwise and the caller draws in-process (`PlotJob.draw`).
`with plot_process() as plotter:` makes sure no child outlives the block, whatever fails
inside it.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelsim.collector import collector_paused

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PlotJob", "PlotProcess", "idle_core", "plot_process"]


@dataclass(frozen=True)
class PlotJob:
    """One PNG: `figure(*args, **kwargs)` saved at `path` (picklable: module-level figure)."""

    figure: Callable[..., Figure]
    args: tuple[Any, ...]
    path: Path
    kwargs: dict[str, Any] = field(default_factory=dict)

    def draw(self) -> None:
        """Build the figure and write it, the garbage collector paused meanwhile.

        A figure is some 10^5 short-lived objects, whose allocation would run the collector
        over the whole heap: drawn in the process that simulated, 20% of the layers figure's
        CPU time (measured; a forked plot process, whose inherited objects are frozen, gains
        little). Its cycles are collected once drawing is over, or freed at exit.
        """
        from accelsim.report.plots import save_png

        with collector_paused():
            save_png(self.figure(*self.args, **self.kwargs), self.path)


def idle_core() -> bool:
    """Whether a core is likely idle: the 1-minute load average is half a core below the count.

    On a busy machine the scheduler shares the CPU between sessions, not processes
    (autogroup), so a second process gets no more of it, and the forked processes spend
    about 0.15 s more CPU on the same drawing (measured under load): in-process is faster.
    """
    return os.getloadavg()[0] < (os.cpu_count() or 1) - 0.5


def _read_all(fd: int) -> bytes:
    """Everything written to the pipe `fd` until its writers close it; closes `fd`."""
    with os.fdopen(fd, "rb") as pipe:
        return pipe.read()


class _Child:
    """A forked process running one function; its outcome comes back through a pipe."""

    def __init__(self, work: Callable[[], None]) -> None:
        read, write = os.pipe()
        # Frozen objects are left alone by the child's garbage collector, which would
        # otherwise write to every one and copy the parent's memory page by page (measured:
        # 0.2 s more CPU per run without this).
        gc.freeze()
        try:
            self.pid = os.fork()
        except OSError:  # no process to be had (EAGAIN, ENOMEM): nothing is left open
            gc.unfreeze()
            os.close(read)
            os.close(write)
            raise
        if self.pid == 0:  # the child: never returns into the caller's code
            os.close(read)
            try:
                _report(write, work)
            finally:
                os._exit(0)
        gc.unfreeze()
        os.close(write)
        self._outcome = read
        self.reaped = False

    def join(self) -> None:
        """Wait for the child; raise the exception it raised, if any."""
        fd, self._outcome = self._outcome, -1  # closed by the read, even if interrupted
        data = _read_all(fd)
        os.waitpid(self.pid, 0)
        self.reaped = True
        error = pickle.loads(data) if data else RuntimeError("the plot process died")
        if error is not None:
            raise error

    def kill(self) -> None:
        """Stop the child and reap it (its work is no longer wanted); nothing once reaped."""
        if self.reaped:
            return
        os.kill(self.pid, signal.SIGKILL)
        if self._outcome >= 0:
            os.close(self._outcome)
            self._outcome = -1
        os.waitpid(self.pid, 0)
        self.reaped = True


def _report(fd: int, work: Callable[[], None]) -> None:
    """Run `work` and write its outcome to `fd`: None, or the exception with its traceback."""
    outcome: BaseException | None = None
    try:
        work()
    except BaseException as exc:  # every failure, Ctrl-C included, goes back to the parent
        exc.add_note("raised in the plot process:\n" + traceback.format_exc().rstrip())
        outcome = exc
    try:
        data = pickle.dumps(outcome)
        pickle.loads(data)
    except Exception:  # an exception that does not survive pickling: its text instead
        data = pickle.dumps(RuntimeError(traceback.format_exc()))
    with os.fdopen(fd, "wb") as pipe:
        pipe.write(data)


def _draw_side_by_side(jobs: Sequence[PlotJob]) -> None:
    """Draw jobs[0] here and each other job in a child forked from this process."""
    others = [_Child(job.draw) for job in jobs[1:]]
    try:
        if jobs:
            jobs[0].draw()
    finally:
        for child in others:
            child.join()


class PlotProcess:
    """A child process that imports matplotlib now and draws the jobs `submit` sends later."""

    def __init__(self) -> None:
        import numpy  # noqa: F401 - both sides need it: imported before the fork, once

        self._jobs_read, self._jobs_write = os.pipe()
        try:
            self._child = _Child(self._serve)
        except OSError:
            os.close(self._jobs_read)
            os.close(self._jobs_write)
            raise
        os.close(self._jobs_read)
        self._submitted = self._joined = False

    @classmethod
    def start(cls) -> PlotProcess | None:
        """A started PlotProcess, or None where forking is unsafe (no fork, other threads),
        fails (no process to be had) or gains nothing (no idle core: see `idle_core`)."""
        if not hasattr(os, "fork") or threading.active_count() > 1 or not idle_core():
            return None
        try:
            return cls()
        except OSError:
            return None

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._child.pid

    def _serve(self) -> None:
        """In the child: import the plotting stack, wait for the jobs, draw them."""
        os.close(self._jobs_write)
        from accelsim.report.plots import preload

        preload()
        data = _read_all(self._jobs_read)
        if data:  # no data: the parent stopped before it had anything to draw
            _draw_side_by_side(pickle.loads(data))

    def submit(self, jobs: Sequence[PlotJob]) -> None:
        """Send the jobs to the child (once); `join` waits for the PNGs."""
        data = pickle.dumps(list(jobs))
        self._submitted = True
        with os.fdopen(self._jobs_write, "wb") as pipe:
            pipe.write(data)

    def join(self) -> None:
        """Wait until every submitted PNG is written; raise the first child's error."""
        self._joined = True
        self._child.join()

    def close(self) -> None:
        """End the child unless `join` reaped it: stop it if it got no jobs (the run failed
        first); if `join` was not reached, wait for its PNGs; if a join was cut short (a
        Ctrl-C while waiting), stop it. Either way no process writes after the caller moves
        on."""
        if self._child.reaped:
            return
        if not self._submitted:
            os.close(self._jobs_write)
        elif not self._joined:
            self._joined = True
            try:
                self._child.join()
            except BaseException:  # the caller is already failing: its error is reported
                pass
        self._child.kill()


@contextmanager
def plot_process(enabled: bool = True) -> Iterator[PlotProcess | None]:
    """A started PlotProcess (None if not `enabled` or forking is unsafe), closed on exit."""
    plotter = PlotProcess.start() if enabled else None
    try:
        yield plotter
    finally:
        if plotter is not None:
            plotter.close()
