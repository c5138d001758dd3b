"""How long the command line takes, each run a fresh process, next to its target.

    python benchmarks/bench_cli.py [--repeats 7] [--against DIR]

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

Bytecode: a user's installed package has its modules compiled once (pip writes the .pyc
files, or the first import does), but an editable install (`pip install -e .`) in an
environment with PYTHONDONTWRITEBYTECODE=1, or a read-only tree, compiles accelsim's 60-odd
modules from source in every process (0.02-0.1 s of `run` here). Both are timed, labelled:
"bytecode cached" rows read every module's bytecode from a temporary PYTHONPYCACHEPREFIX,
filled by one run of each command before timing (the source tree is left untouched);
"compiled each run" rows use a copy of that cache without accelsim's bytecode, so accelsim
alone is compiled from source, as in such an environment. The targets are judged on both rows.

The load average of a shared machine often stops `run` from forking (above), so `run` is
timed once more with the fork forced (`idle_core` replaced in a `python -c` wrapper): the
figure of the forked path, slower under load than on a quiet machine.

`--against DIR` times `run` (with plots) of another accelsim source tree as well, e.g. an
earlier commit unpacked with `git archive COMMIT | tar -x -C DIR`, in the same round-robin:
the same interpreter and packages run it with DIR first on PYTHONPATH, so only the code
differs.
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
from dataclasses import dataclass, field
from pathlib import Path

import accelsim
from accelsim.report import PLOT_FILES, REPORT_FILES

RUN_FILE = "mobilenet_cifar.yaml"
#: `accelsim ARGS...` with the plot process forked whatever the load average says.
FORKED = ("import sys; from accelsim.report import plot_process; "
          "plot_process.idle_core = lambda: True; from accelsim.cli.app import main; "
          "sys.exit(main(sys.argv[1:]))")


@dataclass
class Row:
    """One timed command, its bytecode cache and source tree, target and report check."""

    label: str
    command: list[str]
    cache: Path  # PYTHONPYCACHEPREFIX of its runs
    tree: Path | None = None  # another accelsim source tree, put first on PYTHONPATH
    target: float | None = None
    out: Path | None = None  # report folder, checked after each run
    plots: bool = False  # whether that folder must hold the PNGs too
    base: int | None = None  # index of the row it is compared with
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    def environment(self, write: bool = False) -> dict[str, str]:
        """This process's environment with bytecode read from the row's cache (and written
        there if `write`) and its source tree first on the module path."""
        env = {**os.environ, "PYTHONPYCACHEPREFIX": str(self.cache)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if not write:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        if self.tree is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.tree), *filter(None, [os.environ.get("PYTHONPATH")])])
        return env

    def run(self, cwd: Path, write: bool = False) -> tuple[float, float]:
        """(wall seconds, CPU seconds) of one run, which must exit 0 and write its report."""
        if self.out is not None:
            shutil.rmtree(self.out, ignore_errors=True)
        times = timed(self.command, cwd, self.environment(write))
        if self.out is not None:
            check_report(self.out, self.plots)
        return times


def accelsim_command() -> list[str]:
    """The installed `accelsim` script beside this interpreter, else `python -m accelsim`."""
    script = Path(sys.executable).with_name("accelsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "accelsim"]


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `command`, which must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
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


def timed_rows(work: Path, against: Path | None) -> list[Row]:
    """The rows: baselines, then --help and run with bytecode cached and compiled each run
    (and run of the `against` tree), then run --no-plots."""
    cli = accelsim_command()
    cached, compiled = work / "cache", work / "cache-without-accelsim"
    python = sys.executable
    rows = [
        Row("python -c pass (baseline)", [python, "-c", "pass"], cached),
        Row("python -c 'import click' (baseline)", [python, "-c", "import click"], cached),
        Row("python -c 'import matplotlib.pyplot' (baseline)",
            [python, "-c", "import matplotlib.pyplot"], cached),
    ]
    trees: list[tuple[Path | None, str]] = [(None, "")]
    if against is not None:
        trees.append((against, f" of {against}"))
    for cache, how in ((cached, "bytecode cached"), (compiled, "compiled each run")):
        rows.append(Row(f"accelsim --help ({how})", [*cli, "--help"], cache, target=0.2,
                        base=1))
        for tree, whose in trees:
            out = work / f"report-{len(rows)}"
            rows.append(Row(f"accelsim run {RUN_FILE}{whose} ({how})",
                            [*cli, "run", RUN_FILE, "--out", str(out)], cache, tree,
                            target=1.2, out=out, plots=True, base=2))
    for tree, whose in trees:
        out = work / f"report-{len(rows)}"
        rows.append(Row(f"  same{whose}, plots forked whatever the load (bytecode cached)",
                        [python, "-c", FORKED, "run", RUN_FILE, "--out", str(out)], cached,
                        tree, target=1.2, out=out, plots=True, base=2))
    out = work / "report-bare"
    rows.append(Row(f"accelsim run {RUN_FILE} --no-plots (bytecode cached)",
                    [*cli, "run", RUN_FILE, "--no-plots", "--out", str(out)], cached, out=out))
    return rows


def fill_caches(rows: list[Row], work: Path, sources: list[Path]) -> None:
    """Run each row once writing bytecode into its cache (which also warms matplotlib's font
    cache and the file system's), then make the cache without the `sources` packages."""
    cached, compiled = work / "cache", work / "cache-without-accelsim"
    for row in rows:
        if row.cache == cached:
            row.run(work, write=True)
    shutil.copytree(cached, compiled)
    for source in sources:
        shutil.rmtree(compiled / source.resolve().relative_to("/"), ignore_errors=True)


def main() -> None:
    """Print one line per command: median wall and CPU seconds, and the target if any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each command")
    parser.add_argument("--against", type=Path, default=None,
                        help="another accelsim source tree whose `run` is timed too")
    args = parser.parse_args()
    against = args.against.resolve() if args.against is not None else None
    if against is not None and not (against / "accelsim" / "__init__.py").is_file():
        raise SystemExit(f"--against {args.against}: no accelsim package in it")
    work = Path(tempfile.mkdtemp(prefix="bench_cli_"))
    try:
        rows = timed_rows(work, against)
        sources = [Path(accelsim.__file__).parent]
        fill_caches(rows, work, sources + ([against / "accelsim"] if against else []))
        for _ in range(args.repeats):
            for row in rows:
                wall, cpu = row.run(work)
                row.walls.append(wall)
                row.cpus.append(cpu)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(rows, args.repeats)


def report(rows: list[Row], repeats: int) -> None:
    """The table: median wall and CPU seconds per row, the target, the baseline ratios."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{repeats} runs each, round-robin; {os.cpu_count()} cores, load average {load}")
    width = max(len(row.label) for row in rows)
    print(f"{'command':{width}s} {'wall s':>7s} {'CPU s':>6s} {'target':>6s} {'met':>4s}  "
          "wall and CPU against its baseline")
    wall = [statistics.median(row.walls) for row in rows]
    cpu = [statistics.median(row.cpus) for row in rows]
    for i, row in enumerate(rows):
        goal = "" if row.target is None else f"{row.target:.2f}"
        verdict = "" if row.target is None else ("yes" if wall[i] <= row.target else "no")
        versus = "" if row.base is None else (
            f"{wall[i] / wall[row.base]:.2f}x, {cpu[i] / cpu[row.base]:.2f}x "
            f"{rows[row.base].label.split(' (')[0]}")
        print(f"{row.label:{width}s} {wall[i]:7.3f} {cpu[i]:6.3f} {goal:>6s} {verdict:>4s}  "
              f"{versus}")


if __name__ == "__main__":
    main()
