"""How long the command line takes, each run a fresh process, next to its target.

    python benchmarks/bench_cli.py [--repeats 7]

Times `accelsim --help` (target 0.2 s) and `accelsim run mobilenet_cifar.yaml` with its
plots (target 1.2 s; every report file and PNG is checked after each run), plus `run
--no-plots`, against baselines measured in the same run: the interpreter alone (`python -c
pass`), `import click` and `import matplotlib.pyplot`. The commands are run round-robin, so
a change in the machine's load touches every row alike. Each row gives the median wall time
of the subprocess and the median CPU time (user + system) it used: on a machine shared with
other work, wall time includes waiting for a core and CPU time does not. The last column
compares `--help` with `import click` and `run` with `import matplotlib.pyplot`, the largest
part of each (wall and CPU ratios). `run` draws its plots in forked processes only while
the load average leaves a core idle (accelsim/report/plot_process.py), in-process otherwise:
the load average printed says which applied.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from accelsim.report import PLOT_FILES, REPORT_FILES

RUN_FILE = "mobilenet_cifar.yaml"


def accelsim_command() -> list[str]:
    """The installed `accelsim` script beside this interpreter, else `python -m accelsim`."""
    script = Path(sys.executable).with_name("accelsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "accelsim"]


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `command`, which must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def check_report(out: Path, plots: bool) -> None:
    """Fail unless `out` holds every report file (and every PNG when `plots`)."""
    names = list(REPORT_FILES) + ([name for _, name in PLOT_FILES] if plots else [])
    missing = [name for name in names if not (out / name).is_file()]
    if missing:
        raise SystemExit(f"{out}: missing {', '.join(missing)}")


def main() -> None:
    """Print one line per command: median wall and CPU seconds, and the target if any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each command")
    args = parser.parse_args()
    cli = accelsim_command()
    work = Path(tempfile.mkdtemp(prefix="bench_cli_"))
    out_plots, out_bare = work / "plots", work / "bare"
    # (label, command, target s, report folder to check, index of the row it compares with)
    rows: list[tuple[str, list[str], float | None, Path | None, int | None]] = [
        ("python -c pass (baseline)", [sys.executable, "-c", "pass"], None, None, None),
        ("python -c 'import click' (baseline)", [sys.executable, "-c", "import click"],
         None, None, None),
        ("python -c 'import matplotlib.pyplot' (baseline)",
         [sys.executable, "-c", "import matplotlib.pyplot"], None, None, None),
        ("accelsim --help", [*cli, "--help"], 0.2, None, 1),
        (f"accelsim run {RUN_FILE} (with plots)",
         [*cli, "run", RUN_FILE, "--out", str(out_plots)], 1.2, out_plots, 2),
        (f"accelsim run {RUN_FILE} --no-plots",
         [*cli, "run", RUN_FILE, "--no-plots", "--out", str(out_bare)], None, out_bare, None),
    ]
    walls: list[list[float]] = [[] for _ in rows]
    cpus: list[list[float]] = [[] for _ in rows]
    try:
        timed(rows[-2][1], work)  # warm-up: matplotlib's font cache, the file system cache
        for _ in range(args.repeats):
            for i, (_, command, _, out, _) in enumerate(rows):
                if out is not None:
                    shutil.rmtree(out, ignore_errors=True)
                wall, cpu = timed(command, work)
                if out is not None:
                    check_report(out, plots=out == out_plots)
                walls[i].append(wall)
                cpus[i].append(cpu)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.repeats} runs each, round-robin; {os.cpu_count()} cores, load average {load}")
    print(f"{'command':50s} {'wall s':>7s} {'CPU s':>6s} {'target':>6s} {'met':>4s}  "
          "wall and CPU against its baseline")
    wall = [statistics.median(times) for times in walls]
    cpu = [statistics.median(times) for times in cpus]
    for i, (label, _, target, _, base) in enumerate(rows):
        goal = "" if target is None else f"{target:.2f}"
        verdict = "" if target is None else ("yes" if wall[i] <= target else "no")
        versus = "" if base is None else (f"{wall[i] / wall[base]:.2f}x, {cpu[i] / cpu[base]:.2f}x"
                                          f" {rows[base][0].split(' (')[0]}")
        print(f"{label:50s} {wall[i]:7.3f} {cpu[i]:6.3f} {goal:>6s} {verdict:>4s}  {versus}")

if __name__ == "__main__":
    main()
