"""`accelsim compare A B [...]`: which design wins, by how much, and in which layers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from accelsim.cli.app import cli
from accelsim.cli.params import Number, shown_path
from accelsim.errors import AccelsimError

__all__ = ["compare"]


def _load(target: str, index: int) -> Any:
    """A Run from a report folder (summary.json and layers.csv) or a run file (simulated),
    labelled A, B, ... and the folder's or the run's name."""
    import pandas as pd

    from accelsim.report.compare import Run

    folder = Path(target)
    if folder.is_dir():
        files = [folder / "summary.json", folder / "layers.csv"]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise AccelsimError(f"{target}: not a report folder (no {', '.join(missing)}); "
                                "give a folder `accelsim run` wrote, or a run file")
        summary = json.loads(files[0].read_text(encoding="utf-8"))
        layers = pd.read_csv(files[1])
    else:
        from accelsim.cli.overrides import load_config
        from accelsim.pipeline import run_config
        from accelsim.report import summary_record

        config, _ = load_config(target)
        result = run_config(config)
        summary, layers = summary_record(result, config), result.table()
    name = folder.name if folder.is_dir() else summary["name"]  # a folder names its what-if
    return Run(f"{chr(ord('A') + index)} {name}", summary, layers)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}x"


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="A B [...]")
@click.option("--top", type=Number(int), default=10, show_default=True,
              help="Layers shown in the difference table (all of them in --json).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of compare.png  [default: reports/compare/]")
@click.option("--no-plots", is_flag=True, help="Skip compare.png.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def compare(targets: tuple[str, ...], top: int, out: Path | None, no_plots: bool,
            as_json: bool) -> None:
    """Compare runs side by side: summary, per-layer differences, a plot.

    Each of A, B, ... is a report folder written by `accelsim run` or a run file
    (simulated now). The first is the baseline: ratios and per-layer changes are the
    others against it; the layers that change most come first.

    \b
    Example (what if the SRAM were 256 KiB?):
      accelsim run mobilenet_cifar.yaml --set hardware.sram.capacity='256 KiB' --out reports/small
      accelsim compare mobilenet_cifar.yaml reports/small
    """
    from accelsim.report.compare import compare_figure, layer_differences, summary_rows
    from accelsim.report.markdown import text_table

    if len(targets) < 2:
        raise AccelsimError("compare: give at least two runs (report folders or run files)")
    if top < 1:
        raise AccelsimError(f"--top: must be at least 1, got {top}")
    runs = [_load(t, i) for i, t in enumerate(targets)]
    rows = summary_rows(runs)
    diff = layer_differences(runs)
    folder = out if out is not None else Path("reports") / "compare"
    plot = None
    if not no_plots:
        folder.mkdir(parents=True, exist_ok=True)
        plot = folder / "compare.png"
        compare_figure(runs).savefig(plot, dpi=100)
    if as_json:
        click.echo(json.dumps({
            "runs": [{"label": r.label, "source": t, "summary": r.summary}
                     for r, t in zip(runs, targets, strict=True)],
            "summary": [{k: v for k, v in row.items() if k != "text"} for row in rows],
            "layers": diff.to_dict("records"), "plot": str(plot) if plot else None,
        }, indent=2, allow_nan=False))
        return
    labels = [r.label for r in runs]
    ratio_heads = [f"{label.split()[0]}/A" for label in labels[1:]]
    table = [[row["quantity"], *row["text"], *map(_ratio, row["ratio_to_first"])]
             for row in rows]
    width = len(labels) + len(ratio_heads)
    click.echo(text_table(["", *labels, *ratio_heads], table, set(range(1, width + 1))))
    shown = diff.head(top)
    time_cols = [f"time_s:{label}" for label in labels]
    delta_cols = [f"delta_s:{label}" for label in labels[1:]]
    layer_rows = [
        [str(r["layer"]), str(r["name"]), *(f"{r[c] * 1e6:,.2f}" for c in time_cols),
         *(f"{r[c] * 1e6:+,.2f}" for c in delta_cols),
         " -> ".join(dict.fromkeys(str(r[f"bound:{label}"]) for label in labels))]
        for r in shown.to_dict("records")
    ]
    heads = ["#", "layer", *(f"{label.split()[0]} µs" for label in labels),
             *(f"{label.split()[0]}-A µs" for label in labels[1:]), "bound"]
    click.echo(f"\nLayers that change most ({len(shown)} of {len(diff)}; --top N for more):")
    click.echo(text_table(heads, layer_rows, set(range(2, len(heads) - 1)) | {0}))
    if plot is not None:
        click.echo(f"\nwrote {shown_path(plot)}")
