"""Plots drawn in forked processes: the same PNG bytes as in-process, errors raised in the
parent, no child left behind; save_png: savefig's pixels without the alpha channel."""

from __future__ import annotations

import gc
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from accelsim.cli.app import main
from accelsim.config.loader import load_run
from accelsim.errors import ConfigError
from accelsim.pipeline import run_config
from accelsim.report import plot_process as module
from accelsim.report.plot_process import PlotJob, PlotProcess, idle_core, plot_process
from accelsim.report.plots import save_png
from accelsim.report.writer import PLOT_FILES, plot_jobs

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forking needs POSIX")


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    """PlotProcess.start forks whatever the machine's load and the test process's threads
    (earlier tests may leave one): what is tested here is the forked drawing itself."""
    monkeypatch.setattr(PlotProcess, "start", staticmethod(PlotProcess))


def _jobs(out: Path) -> list[PlotJob]:
    config = load_run("mobilenet_cifar.yaml")
    return plot_jobs(run_config(config), config, out)


def _gone(pid: int) -> bool:
    """True when `pid` is no child of this process any more (exited and reaped)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def failing_figure(message: str) -> Figure:
    """A figure function that fails, as a bug or bad input in a plot would."""
    raise ConfigError(message)


@pytest.mark.usefixtures("forking")
def test_an_error_in_a_child_is_raised_in_the_parent(tmp_path: Path) -> None:
    fine = _jobs(tmp_path)[1]
    # The second job fails in the grandchild forked for it: it still reaches the parent.
    jobs = [fine, PlotJob(failing_figure, ("no such field",), tmp_path / "bad.png")]
    with pytest.raises(ConfigError, match="no such field") as raised:
        with plot_process() as plotter:
            assert plotter is not None
            plotter.submit(jobs)
            plotter.join()
    assert any("raised in the plot process" in note for note in raised.value.__notes__)
    assert fine.path.is_file() and not (tmp_path / "bad.png").exists()
    assert _gone(plotter.pid)


@pytest.mark.usefixtures("forking")
def test_a_run_that_fails_after_submitting_waits_for_its_plots(tmp_path: Path) -> None:
    roofline = _jobs(tmp_path)[1]
    with pytest.raises(ConfigError, match="disk"), plot_process() as plotter:
        assert plotter is not None
        plotter.submit([roofline])
        raise ConfigError("the disk is full")  # before join: the block's error is raised
    assert _gone(plotter.pid) and roofline.path.is_file()  # no process writes afterwards


@pytest.mark.usefixtures("forking")
def test_a_run_that_fails_first_leaves_no_child() -> None:
    with pytest.raises(ConfigError), plot_process() as plotter:
        assert plotter is not None
        raise ConfigError("the run file is bad")
    assert _gone(plotter.pid)


def test_no_fork_while_another_thread_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "idle_core", lambda: True)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert PlotProcess.start() is None
        with plot_process() as plotter:
            assert plotter is None
    finally:
        stop.set()
        thread.join()
    with plot_process(enabled=False) as plotter:
        assert plotter is None


def test_no_fork_without_an_idle_core(monkeypatch: pytest.MonkeyPatch) -> None:
    cores = os.cpu_count() or 1
    monkeypatch.setattr(os, "getloadavg", lambda: (cores - 0.5, 0.0, 0.0))  # busy
    assert not idle_core() and PlotProcess.start() is None
    monkeypatch.setattr(os, "getloadavg", lambda: (cores - 0.6, 9.0, 9.0))  # busy no more
    assert idle_core()


def test_run_command_writes_the_same_report_either_way(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    started: list[PlotProcess | None] = []
    for fork in (True, False):
        def recorded_start(fork: bool = fork) -> PlotProcess | None:
            started.append(PlotProcess() if fork else None)
            return started[-1]

        monkeypatch.setattr(PlotProcess, "start", recorded_start)
        assert main(["run", "mobilenet_cifar.yaml", "--out", str(tmp_path / str(fork))]) == 0
    assert started[0] is not None and started[1] is None  # forked once, in-process once
    assert _gone(started[0].pid)
    for _, name in PLOT_FILES:
        forked, inline = ((tmp_path / str(fork) / name).read_bytes() for fork in (True, False))
        assert forked == inline and forked.startswith(b"\x89PNG"), name
    page = (tmp_path / "True" / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(PLOT_FILES)
    assert "Wrote 9 files" in capsys.readouterr().out


def test_save_png_is_savefig_without_alpha(tmp_path: Path) -> None:
    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    ax.bar([0, 1, 2], [3, 1, 2], color="tab:orange")
    ax.set_title("µs and kB")
    save_png(fig, tmp_path / "f.png")
    reference = io.BytesIO()
    fig.savefig(reference, format="png", dpi=100)
    rgba = np.asarray(Image.open(reference))
    ours = Image.open(tmp_path / "f.png")
    assert ours.mode == "RGB" and ours.size == (300, 200)
    assert (rgba[..., 3] == 255).all()  # savefig's image is opaque: dropping alpha loses nothing
    assert np.array_equal(np.asarray(ours), rgba[..., :3])


def collector_state_figure(seen: list[bool]) -> Figure:
    """A figure that records whether the garbage collector runs while it is built."""
    seen.append(gc.isenabled())
    return Figure(figsize=(1, 1))


def test_a_plot_is_drawn_with_the_collector_paused_and_restored(tmp_path: Path) -> None:
    seen: list[bool] = []
    assert gc.isenabled()
    PlotJob(collector_state_figure, (seen,), tmp_path / "a.png").draw()
    assert seen == [False] and gc.isenabled() and (tmp_path / "a.png").is_file()
    with pytest.raises(ConfigError):  # restored after a failure too
        PlotJob(failing_figure, ("bad",), tmp_path / "b.png").draw()
    assert gc.isenabled()
    gc.disable()  # a caller that paused it itself finds it paused still
    try:
        PlotJob(collector_state_figure, (seen,), tmp_path / "c.png").draw()
        assert not gc.isenabled()
    finally:
        gc.enable()


def slow_figure(seconds: float) -> Figure:
    """A figure that takes `seconds` to build (a long drawing)."""
    import time

    time.sleep(seconds)
    return Figure(figsize=(1, 1))


@pytest.mark.usefixtures("forking")
def test_a_ctrl_c_while_waiting_for_the_plots_leaves_no_child(tmp_path: Path) -> None:
    import signal

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    late = tmp_path / "late.png"
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt), plot_process() as plotter:
            assert plotter is not None
            plotter.submit([PlotJob(slow_figure, (3.0,), late)])
            signal.setitimer(signal.ITIMER_REAL, 0.3)  # Ctrl-C reaches the parent in join
            plotter.join()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert _gone(plotter.pid) and not late.exists()  # stopped, not left to write later


def test_no_fork_to_be_had_draws_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "idle_core", lambda: True)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    open_fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert PlotProcess.start() is None
    if open_fds is not None:  # both pipes closed again
        assert len(os.listdir("/proc/self/fd")) == open_fds


#: A fresh interpreter that forks the plot process before importing the simulator, as
#: `accelsim run` does; the first job writes the names of the child's modules.
_CHILD_MODULES = """
import sys
from pathlib import Path

from accelsim.report.plot_process import PlotJob, PlotProcess


def modules_seen(path):
    path.write_text("\\n".join(sorted(sys.modules)), encoding="utf-8")
    from matplotlib.figure import Figure

    return Figure(figsize=(1, 1))


plotter = PlotProcess()
from accelsim.config.loader import load_run
from accelsim.pipeline import run_config
from accelsim.report.writer import plot_jobs

out = Path(sys.argv[1])
config = load_run("mobilenet_cifar.yaml")
jobs = plot_jobs(run_config(config), config, out)
plotter.submit([PlotJob(modules_seen, (out / "modules.txt",), out / "modules.png"), *jobs])
plotter.join()
"""


def test_the_plot_process_imports_matplotlib_and_not_the_simulator(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", _CHILD_MODULES, str(tmp_path)], check=True,
                   timeout=120)
    modules = set((tmp_path / "modules.txt").read_text(encoding="utf-8").split())
    # Drawn by then: the jobs were unpickled (importing the figure functions) after preload.
    assert {"matplotlib.backends.backend_agg", "accelsim.report.plots"} <= modules
    heavy = sorted(m for m in modules if m.split(".")[0] == "pandas" or m.startswith(
        ("accelsim.sim", "accelsim.mapping", "accelsim.ir", "accelsim.config",
         "accelsim.report.tables")))
    assert heavy == []
    assert all((tmp_path / name).is_file() for _, name in PLOT_FILES)
