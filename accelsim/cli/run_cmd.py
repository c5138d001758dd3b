"""`accelsim run` (simulate a run file, print the table, write the report) and `accelsim schema`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from accelsim.cli.app import cli
from accelsim.cli.outdir import prepare_out_dir, staged_files
from accelsim.cli.overrides import hardware_option, load_config, set_option
from accelsim.cli.params import Choice, Number, shown_path
from accelsim.cli.progress import run_step
from accelsim.errors import AccelsimError, ScheduleError
from accelsim.report.plot_process import plot_process

__all__ = ["run", "schema"]


def _policies() -> tuple[str, ...]:
    """The placement policies (imported when `--policy` is read: the configuration models
    would otherwise load before the plot process is forked, delaying its matplotlib)."""
    from accelsim.config.models import POLICIES

    return POLICIES


@cli.command()
@click.argument("runfile")
@set_option
@hardware_option
@click.option(
    "--policy",
    type=Choice(_policies),
    default=None,
    help="SRAM placement policy (overrides simulation.policy).",
)
@click.option(
    "--overlap/--no-overlap",
    default=None,
    help="Overlap compute with DRAM transfers (overrides simulation.overlap).",
)
@click.option(
    "--batch", type=Number(int), default=None, help="Batch size (overrides simulation.batch)."
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Report directory (default: reports/<run name>/ in the working directory).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print summary.json to stdout instead of the tables (files still written).",
)
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
def run(
    runfile: str,
    settings: tuple[str, ...],
    hardware: str | None,
    policy: str | None,
    overlap: bool | None,
    batch: int | None,
    out: Path | None,
    as_json: bool,
    no_plots: bool,
) -> None:
    """Simulate RUNFILE and write its report.

    RUNFILE is a run YAML file: a path, or a bare name looked up in ./hw_configs/ and then
    in the project's hw_configs/ (e.g. `accelsim run mobilenet_cifar.yaml`). Options
    override the file's fields (config.resolved.yaml records them). The report directory
    gets layers.csv, schedule.csv, summary.json, config.resolved.yaml, report.md,
    report.html, trace.json and PNG plots.

    \b
    Examples:
      accelsim run mobilenet_cifar.yaml --set hardware.sram.capacity='512 KiB'
      accelsim run mobilenet_cifar.yaml --hardware edge_1mb.yaml --overlap
    """
    if batch is not None and batch < 1:
        raise AccelsimError(f"--batch: must be at least 1, got {batch}")
    # Started before the simulator is imported: the plots' matplotlib loads meanwhile.
    with plot_process(enabled=not no_plots) as plotter:
        from accelsim.pipeline import run_config
        from accelsim.report import format_terminal, write_report

        options = {"policy": policy, "overlap": overlap, "batch": batch}
        flags = tuple(f"simulation.{key}={str(value).lower() if isinstance(value, bool) else value}"
                      for key, value in options.items() if value is not None)
        config, changes = load_config(runfile, flags + settings, hardware)
        out_dir = prepare_out_dir(out if out is not None else Path("reports") / config.name)
        try:
            result = run_step(f"simulating {config.name}", run_config, config)
        except ScheduleError as exc:  # e.g. an SRAM too small for some layer: name the file
            raise ScheduleError(f"{runfile}: {exc}") from None
        with staged_files(out_dir) as stage:
            written = [out_dir / p.name for p in write_report(
                result, config, stage, plots=not no_plots, overrides=changes.lines(),
                plotter=plotter)]
    if as_json:
        click.echo((out_dir / "summary.json").read_text(encoding="utf-8").rstrip())
        return
    click.echo(format_terminal(result, config))
    click.echo(f"\nWrote {len(written)} files to {shown_path(out_dir)}/:")
    for path in written:
        click.echo(f"  {path.name}")


@cli.command()
@click.option("--markdown", is_flag=True,
              help="Print the run-file reference (docs/config.md) instead.")
def schema(markdown: bool) -> None:
    """Print the JSON Schema of run files, for editors that validate YAML.

    \b
    Save it, then point a run file's first line at it; the YAML language server
    (VS Code's YAML extension and others) then checks keys and values as you type:
        accelsim schema > run.schema.json
        # yaml-language-server: $schema=run.schema.json
    """
    from accelsim.config.schema import config_markdown, run_schema
    from accelsim.ir.zoo import MODELS

    if markdown:
        click.echo(config_markdown(list(MODELS)), nl=False)
        return
    click.echo(json.dumps(run_schema(list(MODELS)), indent=2))
