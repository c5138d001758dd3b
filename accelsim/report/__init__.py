"""Reports of a simulated run: tables (DataFrames with declared columns), text, plots, files.

    from accelsim.report import write_report, format_terminal
    paths = write_report(result, config, Path("reports/mobilenet_cifar"))

The names below are imported on first use, so importing a light submodule (the
command line's `plot_process`) does not import the simulator; pandas and matplotlib are
imported only inside the functions that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accelsim.lazy import lazy_getattr

if TYPE_CHECKING:
    from accelsim.report.markdown import bound_sentence, format_terminal, markdown_report
    from accelsim.report.tables import (
        LAYER_COLUMNS,
        SCHEDULE_COLUMNS,
        hardware_record,
        schedule_table,
        summary_record,
    )
    from accelsim.report.writer import PLOT_FILES, REPORT_FILES, write_report

__all__ = [
    "LAYER_COLUMNS",
    "PLOT_FILES",
    "REPORT_FILES",
    "SCHEDULE_COLUMNS",
    "bound_sentence",
    "format_terminal",
    "hardware_record",
    "markdown_report",
    "schedule_table",
    "summary_record",
    "write_report",
]

_LAZY = {
    "LAYER_COLUMNS": "accelsim.report.tables",
    "PLOT_FILES": "accelsim.report.writer",
    "REPORT_FILES": "accelsim.report.writer",
    "SCHEDULE_COLUMNS": "accelsim.report.tables",
    "bound_sentence": "accelsim.report.markdown",
    "format_terminal": "accelsim.report.markdown",
    "hardware_record": "accelsim.report.tables",
    "markdown_report": "accelsim.report.markdown",
    "schedule_table": "accelsim.report.tables",
    "summary_record": "accelsim.report.tables",
    "write_report": "accelsim.report.writer",
}

__getattr__ = lazy_getattr("accelsim.report", _LAZY)
