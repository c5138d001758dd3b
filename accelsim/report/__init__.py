"""Reports of a simulated run: tables (DataFrames with declared columns), text, plots, files.

    from accelsim.report import write_report, format_terminal
    paths = write_report(result, config, Path("reports/mobilenet_cifar"))

pandas and matplotlib are imported only inside the functions that need them.
"""

from __future__ import annotations

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
