"""`accelsim export`: write a network's workload (and a run's hardware) for SCALE-Sim,
Timeloop or ZigZag."""

from __future__ import annotations

from pathlib import Path

import click

from accelsim.cli.app import cli
from accelsim.cli.overrides import hardware_option, is_run_file, load_config, set_option
from accelsim.cli.params import Number
from accelsim.errors import AccelsimError
from accelsim.export import DEFAULT_ARRAY, FORMATS, export_network
from accelsim.ir.modelfile import resolve_model
from accelsim.sim.pe_array import PEArray

__all__ = ["export"]


@cli.command()
@click.argument("model")
@set_option
@hardware_option
@click.option("--format", "fmt", required=True, metavar="|".join(FORMATS), help="Target tool.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder  [default: reports/export/MODEL/FORMAT]",
)
@click.option(
    "--alpha",
    type=Number(float),
    default=1.0,
    show_default=True,
    help="Width multiplier (built-in models).",
)
@click.option(
    "--resolution", type=Number(int), default=None, help="Input resolution  [default: the model's]"
)
@click.option(
    "--classes",
    type=Number(int),
    default=None,
    help="Output classes (built-in models)  [default: the model's]",
)
@click.option(
    "--rows",
    type=Number(int),
    default=DEFAULT_ARRAY.rows,
    show_default=True,
    help="PE array rows (scale.cfg; with a run file, the array an ideal mac_rate becomes).",
)
@click.option(
    "--cols",
    type=Number(int),
    default=DEFAULT_ARRAY.cols,
    show_default=True,
    help="PE array columns (as --rows).",
)
@click.option(
    "--dataflow",
    default=DEFAULT_ARRAY.dataflow,
    show_default=True,
    metavar="os|ws|is",
    help="Dataflow (SCALE-Sim scale.cfg).",
)
def export(
    model: str,
    settings: tuple[str, ...],
    hardware: str | None,
    fmt: str,
    out: Path | None,
    alpha: float,
    resolution: int | None,
    classes: int | None,
    rows: int,
    cols: int,
    dataflow: str,
) -> None:
    """Write MODEL's conv and dense layers as input files of another simulator.

    MODEL is a built-in name, a model file, or a run file (looked up like `accelsim run`):
    a run file's network and hardware are both written (SCALE-Sim scale.cfg, Timeloop
    arch.yaml, ZigZag accelerator YAML), after --set and --hardware. Pools, adds and
    other weightless ops are left out: they cost no PE-array cycles.
    """
    from accelsim.pipeline import build_network

    array = PEArray(rows, cols, dataflow)  # type: ignore[arg-type]
    if is_run_file(model):
        config, _ = load_config(model, settings, hardware)
        net = build_network(config.model)
        files = export_network(net, fmt, array, config.hardware)
    else:
        if settings or hardware:
            raise AccelsimError(f"{model}: --set and --hardware need a run file, not a model")
        net = resolve_model(model, alpha, resolution, classes)
        files = export_network(net, fmt, array)
    folder = out if out is not None else Path("reports") / "export" / net.name / fmt
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        click.echo(str(path))
