"""write_report(): every file of a run's report directory (matplotlib for the plots, drawn
in-process or by a PlotProcess; no pandas, whose import would cost more than the whole
simulation)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from accelsim.config.loader import resolved_yaml
from accelsim.config.models import RunConfig
from accelsim.report.html import html_page
from accelsim.report.markdown import markdown_report
from accelsim.report.plot_process import PlotJob, PlotProcess
from accelsim.report.tables import (
    SCHEDULE_COLUMNS,
    layer_columns,
    schedule_rows,
    summary_record,
    write_csv,
)
from accelsim.report.trace import trace_document
from accelsim.sim.simulate import SimResult

__all__ = ["PLOT_FILES", "REPORT_FILES", "plot_jobs", "write_report"]

#: Files write_report always writes, in order.
REPORT_FILES: tuple[str, ...] = (
    "layers.csv",
    "schedule.csv",
    "summary.json",
    "config.resolved.yaml",
    "report.md",
    "report.html",
    "trace.json",
)
#: Plot files (title, file name), written unless plots=False.
PLOT_FILES: tuple[tuple[str, str], ...] = (
    ("Per layer: time split, peak SRAM occupancy, energy", "layers.png"),
    ("Roofline", "roofline.png"),
)


def plot_jobs(result: SimResult, config: RunConfig, out_dir: Path) -> list[PlotJob]:
    """The PLOT_FILES of a run as jobs, the costliest first (it is drawn while the others are)."""
    from accelsim.report import plots

    table = layer_columns(result)
    hw = config.hardware
    layers, roofline = (out_dir / name for _, name in PLOT_FILES)
    return [
        PlotJob(plots.layers_figure, (table, hw.sram_capacity), layers,
                {"overlap": config.simulation.overlap}),
        PlotJob(plots.roofline_figure, (table, hw.compute.peak_mac_rate, hw.dram.bandwidth),
                roofline),
    ]


def write_report(
    result: SimResult, config: RunConfig, out_dir: Path, plots: bool = True,
    overrides: Sequence[str] = (), plotter: PlotProcess | None = None,
) -> list[Path]:
    """Write REPORT_FILES and (unless plots=False) the PNG plots into out_dir (created if
    needed); return the paths. report.html embeds the plots; trace.json is the schedule
    as Chrome/Perfetto trace events.

    `overrides` are the command-line changes made to the run file (`--set ...`): recorded
    in summary.json and at the top of config.resolved.yaml. With a `plotter` (started
    before the simulation) the plots are drawn there while the other files are written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = plot_jobs(result, config, out_dir) if plots else []
    if plotter is not None and jobs:
        plotter.submit(jobs)
    else:
        for job in jobs:
            job.draw()
    written = [out_dir / name for name in REPORT_FILES]
    layers, schedule, summary, resolved, report, page, trace = written
    write_csv(layers, result.columns, result.rows)
    write_csv(schedule, SCHEDULE_COLUMNS, schedule_rows(result))
    record = {**summary_record(result, config), "overrides": list(overrides)}
    summary.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    applied = "".join(f"# applied on top of the run file: {line}\n" for line in overrides)
    resolved.write_text(applied + resolved_yaml(config), encoding="utf-8")
    images = PLOT_FILES if plots else ()
    report.write_text(markdown_report(result, config, images), encoding="utf-8")
    notes = [*(f"Applied on top of the run file: {line}" for line in overrides),
             "Beside this page: layers.csv, schedule.csv, summary.json, config.resolved.yaml, "
             "and trace.json (open it at ui.perfetto.dev)."]
    trace.write_text(json.dumps(trace_document(result)) + "\n", encoding="utf-8")
    if plotter is not None and jobs:
        plotter.join()
    embedded = [(title, out_dir / name) for title, name in images]
    page.write_text(html_page(result, record, f"accelsim report: {config.name}", embedded, notes),
                    encoding="utf-8")
    return written + [job.path for job in jobs]
