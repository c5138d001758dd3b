"""`accelsim sweep`: many design points of one run file, stored as they finish."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from accelsim.cli.app import cli
from accelsim.cli.outdir import prepare_out_dir, staged_files
from accelsim.cli.overrides import load_config, parse_settings, set_option
from accelsim.cli.params import Number, shown_path
from accelsim.errors import AccelsimError

if TYPE_CHECKING:
    from accelsim.sweep.space import SweepSpec

__all__ = ["sweep"]


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM behaves like Ctrl-C: finished chunks stay on disk, the store closes."""
    raise KeyboardInterrupt



@cli.command()
@click.argument("sweepfile")
@set_option
@click.option("--out", "out", default=None,
              help="Output folder (default: reports/sweeps/<sweep file stem>/).")
@click.option("--backend", default="local", show_default=True,
              help="Where to run: local (worker processes), dask, or serial.")
@click.option("--scheduler", default=None,
              help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a LocalCluster).")
@click.option("--workers", type=Number(int), default=None,
              help="Worker processes (default: the number of CPUs).")
@click.option("--resume", is_flag=True,
              help="Run only the points missing from an interrupted sweep in the same folder.")
@click.option("--sensitivity", "with_sensitivity", is_flag=True,
              help="Also write elasticities and knees (sensitivity.csv, knees.csv).")
@click.option("--knee-threshold", type=Number(float), default=0.05, show_default=True,
              help="A knee is where going further improves total time by less than this.")
@click.option("--rel-step", type=Number(float), default=0.05, show_default=True,
              help="Relative nudge of each hardware field for the elasticities.")
@click.option("--no-plots", is_flag=True, help="Skip pareto.csv and the PNG plots.")
@click.option("--chunk-size", type=Number(int), default=None, hidden=True,
              help="Points per evaluate task (advanced; default 65536).")
def sweep(sweepfile: str, settings: tuple[str, ...], out: str | None, backend: str,
          scheduler: str | None, workers: int | None, resume: bool, with_sensitivity: bool,
          knee_threshold: float, rel_step: float, no_plots: bool, chunk_size: int | None) -> None:
    """Simulate every design point of SWEEPFILE (a base run file and axes).

    See docs/sweeps.md. --set changes the base run file (not a swept field). Writes
    DIR/results.parquet (one row per point), DIR/sweep.yaml, DIR/pareto.csv and DIR/*.png.
    Ctrl-C or SIGTERM keeps every finished chunk; --resume finishes the rest.
    """
    from accelsim.sweep.runner import DEFAULT_CHUNK, default_out, execute
    from accelsim.sweep.space import load_sweep
    from accelsim.sweep.store import ResultStore

    if not 0 < knee_threshold < 1:
        raise AccelsimError(f"--knee-threshold: must be between 0 and 1, got {knee_threshold}")
    if rel_step <= 0:
        raise AccelsimError(f"--rel-step: must be > 0, got {rel_step}")
    spec = load_sweep(sweepfile)
    if settings:
        spec = _with_settings(sweepfile, spec, settings)
    folder = prepare_out_dir(Path(out) if out else default_out(spec))
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        run = execute(spec, folder, backend=backend, workers=workers, resume=resume,
                      progress=True, scheduler=scheduler, chunk_size=chunk_size or DEFAULT_CHUNK)
    except KeyboardInterrupt:
        store = ResultStore(folder)
        saved = int(store.done_mask(_points(spec)).sum())
        click.echo(f"accelsim: interrupted; {saved:,} finished points are kept in "
                   f"{shown_path(store.parts)}; run again with --resume to finish", err=True)
        raise click.exceptions.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(f"{run.n_points:,} points ({run.computed:,} computed, {run.resumed:,} resumed, "
               f"{run.schedules} schedules) in {run.elapsed_s:.2f} s -> {shown_path(run.results)}")
    frame = ResultStore(folder).read()
    infeasible = int((~frame["feasible"].astype(bool)).sum())
    if infeasible:
        click.echo(f"{infeasible:,} points cannot run (SRAM too small for some layer): "
                   "see the infeasible_reason column")
    if not no_plots:
        from accelsim.sweep.plots import write_outputs

        with staged_files(folder) as stage:
            written = write_outputs(frame, spec, stage)
        for path in written:
            click.echo(f"wrote {shown_path(folder / path.name)}")
    feasible = frame[frame["feasible"].astype(bool)]
    if len(feasible):
        best = feasible.loc[feasible["total_time_s"].idxmin()]
        where = ", ".join(_setting(a.path, best[a.path]) for a in spec.axes)
        click.echo(f"fastest: {best['total_time_s'] * 1e3:.4g} ms at {where}")
    if with_sensitivity:
        _sensitivity(spec, folder, rel_step, knee_threshold)


def _with_settings(sweepfile: str, spec: SweepSpec, settings: tuple[str, ...]) -> SweepSpec:
    """The sweep again with `--set` applied to its base (checked like `run --set`)."""
    from accelsim.sweep.space import load_sweep

    load_config(spec.base_file, settings)
    parsed = parse_settings(settings)
    for axis in spec.axes:
        clash = [p for p in parsed if p == axis.path or p.startswith(axis.path + ".")
                 or axis.path.startswith(p + ".")]
        if clash:
            raise AccelsimError(f"--set {clash[0]}: {axis.path} is an axis of {sweepfile}; "
                                "set it in the sweep file's axes instead")
    return load_sweep(sweepfile, parsed)


def _setting(path: str, value: object) -> str:
    """'hardware.dram.bandwidth=16 GB/s': a swept value in readable units."""
    import numpy as np

    from accelsim.sweep.plots import human_axis, number

    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return f"{path}={value}"
    _, unit, scale = human_axis(path, np.array([float(value)]))
    return f"{path}={number(float(value) / scale)} {unit}".rstrip()


def _points(spec: object) -> int:
    from accelsim.sweep.space import Design, SweepSpec

    assert isinstance(spec, SweepSpec)
    return Design(spec).n_points


def _sensitivity(spec: object, folder: Path, rel_step: float, threshold: float) -> None:
    import pandas as pd

    from accelsim.sweep.sensitivity import knees, sensitivity
    from accelsim.sweep.space import SweepSpec

    assert isinstance(spec, SweepSpec)
    table = sensitivity(spec.base, rel_step)
    table.to_csv(folder / "sensitivity.csv", index=False)
    knee_table = knees(spec, threshold)
    knee_table.to_csv(folder / "knees.csv", index=False)
    total = table[table["layer"] == "total"]
    click.echo(f"\nElasticities of the base config (+{rel_step:.0%} per field, +1 bit for "
               "bit widths), network total:")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        click.echo(total[["parameter", "base_value", "new_value", "time_elasticity",
                          "dram_elasticity"]].to_string(index=False))
        click.echo(f"\nKnees (other axes at base values; total time within {threshold:.0%} "
                   "of the best):")
        click.echo(knee_table.to_string(index=False) if len(knee_table) else "  no numeric axes")
    written = (shown_path(folder / name) for name in ("sensitivity.csv", "knees.csv"))
    click.echo(f"wrote {', '.join(written)}")
