"""Text renderings of a run: the bound sentence, report.md and the terminal table.

Every table here is built from the layer records (result.rows), row by row, with a
tiny formatter (pandas' own to_markdown needs tabulate, which accelsim does not depend on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from accelsim.config.models import RunConfig
from accelsim.report.quantities import binary_size, si, size_text
from accelsim.report.tables import summary_record
from accelsim.sim.simulate import SimResult

if TYPE_CHECKING:
    pass

__all__ = ["MARKDOWN_COLUMNS", "bound_sentence", "cells", "duration", "format_terminal",
           "hardware_rows", "markdown_report", "pe_utilization", "summary_rows", "text_table",
           "with_pe"]


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f}"


def duration(seconds: float) -> str:
    """A time in the unit that reads best: '100 ns', '909 µs', '12.3 ms', '1.5 s'."""
    if seconds < 1e-6:
        return f"{seconds * 1e9:.3g} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def _percent(part: float, whole: float) -> str:
    """part/whole as a whole percentage that never rounds up to 100% or down to 0%."""
    share = part / whole if whole else 0.0
    if 0.995 <= share < 1:
        return ">99%"
    if 0 < share < 0.005:
        return "<1%"
    return f"{share:.0%}"


def bound_sentence(summary: dict[str, Any]) -> str:
    """One sentence saying what bounds the network, derived from a summary record."""
    fraction = float(summary["memory_bound_time_fraction"])
    dram = summary["dram_read_bytes"] + summary["dram_write_bytes"]
    compulsory = summary["compulsory_dram_bytes"]
    extra = dram - compulsory
    if extra > 0:
        passes = -(-summary["batch"] // summary.get("sub_batch", summary["batch"]))
        causes = [("spills", summary["spills"] > 0), ("tiling", summary["tiled_layers"] > 0),
                  (f"filters re-read by {passes} sub-batch passes", passes > 1)]
        cause = " and ".join(name for name, present in causes if present) or "extra transfers"
        traffic = (
            f"DRAM traffic is {si(dram, 'B')} of which {si(compulsory, 'B')} is "
            f"compulsory (filters and network I/O): the rest ({si(extra, 'B')}) is "
            f"{cause} caused by the {_sram(summary['sram_capacity_bytes'], summary)} "
            "SRAM capacity"
        )
    else:
        traffic = (
            f"DRAM traffic is {si(dram, 'B')}, all of it compulsory (filters and "
            "network I/O), so SRAM capacity costs nothing here"
        )
    if fraction >= 0.5:
        head = (
            f"{_percent(fraction, 1)} of the time is spent in memory-bound layers, so DRAM "
            "bandwidth bounds the network"
        )
    else:
        head = (
            f"{_percent(1 - fraction, 1)} of the time is spent in compute-bound layers, so the "
            "MAC rate bounds the network"
        )
    return f"{head}; {traffic}."


def _sram(value: float, summary: dict[str, Any]) -> str:
    """An SRAM size in the units the capacity reads best in (256 KiB, or 1 MB)."""
    return size_text(value, binary_size(summary["sram_capacity_bytes"]))


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """Fixed-width text table; columns whose index is in `right` are right-aligned."""
    columns = zip(headers, *rows, strict=True)
    widths = [max(len(cell) for cell in column) for column in columns]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """A GitHub Markdown table; pipes inside cells are escaped."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    rule = ["---:" if i in right else "---" for i in range(len(headers))]
    return "\n".join([line(headers), line(rule), *(line(r) for r in rows)])


#: Per-layer columns of report.md: (header, layers column, formatter, right-aligned).
_Column = tuple[str, str, Callable[[Any], str], bool]
MARKDOWN_COLUMNS: tuple[_Column, ...] = (
    ("layer", "layer", str, True),
    ("name", "name", str, False),
    ("op", "op", str, False),
    ("MACs", "macs", "{:,}".format, True),
    ("DRAM read (B)", "dram_read_bytes", "{:,}".format, True),
    ("DRAM write (B)", "dram_write_bytes", "{:,}".format, True),
    ("compute (µs)", "compute_time_s", _us, True),
    ("data movement (µs)", "data_movement_time_s", _us, True),
    ("waiting for data (µs)", "stall_time_s", _us, True),
    ("total (µs)", "total_time_s", _us, True),
    ("bound", "bound", str, False),
    ("tiling", "tiling", str, False),
    ("spill reason", "spill_reason", lambda v: str(v) if v else "-", False),
)
_TERMINAL_COLUMNS: tuple[_Column, ...] = (
    ("#", "layer", str, True),
    ("name", "name", str, False),
    ("op", "op", str, False),
    ("MACs", "macs", "{:,}".format, True),
    ("DRAM R (B)", "dram_read_bytes", "{:,}".format, True),
    ("DRAM W (B)", "dram_write_bytes", "{:,}".format, True),
    ("compute µs", "compute_time_s", _us, True),
    ("move µs", "data_movement_time_s", _us, True),
    ("wait µs", "stall_time_s", _us, True),
    ("total µs", "total_time_s", _us, True),
    ("bound", "bound", str, False),
)


#: Columns added after MACs when compute is a PE array (cycles and utilisation).
_GROUP_COLUMN: _Column = ("fused group", "fusion_group", lambda v: str(v) or "-", False)
_PE_COLUMNS: tuple[_Column, ...] = (
    ("cycles", "compute_cycles", "{:,}".format, True),
    ("PE util", "pe_utilization", "{:.0%}".format, True),
)


def with_pe(columns: Sequence[_Column], result: SimResult) -> tuple[_Column, ...]:
    """`columns` with the PE-array columns after MACs when the run has a PE array, and the
    fusion group after the name when some layers ran in fused groups."""
    columns = tuple(columns)
    if any(r["fusion_group"] for r in result.rows):
        at = [c[1] for c in columns].index("name") + 1
        columns = (*columns[:at], _GROUP_COLUMN, *columns[at:])
    if not result.hardware.compute.is_pe_array:
        return columns
    at = [c[1] for c in columns].index("macs") + 1
    return (*columns[:at], *_PE_COLUMNS, *columns[at:])


def pe_utilization(result: SimResult) -> float | None:
    """MAC-weighted PE utilisation of the run: MACs / (cycles x PEs); None without an array."""
    compute = result.hardware.compute
    if not compute.is_pe_array:
        return None
    assert compute.pe_rows and compute.pe_cols
    cycles = sum(int(r["compute_cycles"]) for r in result.rows)
    macs = sum(int(r["macs"]) for r in result.rows)
    return macs / (cycles * compute.pe_rows * compute.pe_cols) if cycles else 0.0


def cells(records: Sequence[dict[str, Any]], columns: Sequence[_Column]) -> list[list[str]]:
    """The formatted cells of `columns`, one list per layer record."""
    return [[fmt(record[col]) for _, col, fmt, _ in columns] for record in records]


def _right(columns: Sequence[_Column]) -> set[int]:
    return {i for i, column in enumerate(columns) if column[3]}


def hardware_rows(result: SimResult) -> list[list[str]]:
    """(label, value) rows describing the run's hardware and simulation settings."""
    hw, sim = result.hardware, result.simulation
    p, peak, bandwidth = hw.precision, hw.compute.peak_mac_rate, hw.dram.bandwidth
    compute = si(peak, "MAC/s")
    if hw.compute.is_pe_array:
        compute += (
            f" ({hw.compute.pe_rows}x{hw.compute.pe_cols} PEs at "
            f"{si(hw.compute.clock or 0.0, 'Hz')}, {hw.compute.dataflow} dataflow)"
        )
    sram = size_text(hw.sram_capacity, binary_size(hw.sram_capacity))
    return [
        ["SRAM capacity", f"{sram} ({hw.sram_capacity:,} B)"],
        [
            "DRAM bandwidth",
            si(bandwidth, "B/s")
            + (f", {duration(hw.dram.latency)} per transfer" if hw.dram.latency else ""),
        ],
        ["Peak MAC rate", f"{compute}; ridge point {peak / bandwidth:,.4g} MAC/byte"],
        [
            "Precision",
            f"{p.activation_bits}-bit activations, {p.weight_bits}-bit weights, "
            f"{p.accumulator_bits}-bit accumulators",
        ],
        ["Placement policy", sim.policy],
        ["Compute/transfer overlap", "yes" if sim.overlap else "no"],
        ["Batch", str(sim.batch) + (f", run in passes of {result.schedule.sub_batch}"
                                    if result.schedule.sub_batch < sim.batch else "")],
    ]


def summary_rows(s: dict[str, Any], utilization: float | None = None) -> list[list[str]]:
    """(label, value) rows of a run's totals, from its summary record."""
    total = s["total_time_s"]
    dram = s["dram_read_bytes"] + s["dram_write_bytes"]
    pe = [] if utilization is None else [
        ["PE utilisation", f"{utilization:.1%} (MACs / (cycles x PEs), over the run)"]]
    return [
        ["Total time", f"{duration(total)} ({duration(s['time_per_inference_s'])} per inference)"],
        [
            "Compute time",
            f"{duration(s['compute_time_s'])} ({_percent(s['compute_time_s'], total)} of total)",
        ],
        *pe,
        [
            "Waiting for data",
            f"{duration(s['stall_time_s'])} ({_percent(s['stall_time_s'], total)} of total: "
            "the compute unit idle while transfers run)",
        ],
        [
            "Data movement time",
            f"{duration(s['data_movement_time_s'])} "
            f"({_percent(s['data_movement_time_s'], total)} of total)",
        ],
        [
            "DRAM traffic",
            f"{si(dram, 'B')} (read {s['dram_read_bytes']:,} B, write {s['dram_write_bytes']:,} B)",
        ],
        [
            "Compulsory DRAM traffic",
            f"{si(s['compulsory_dram_bytes'], 'B')} "
            f"({_percent(s['compulsory_dram_bytes'], dram)} of DRAM traffic)",
        ],
        [
            "Peak SRAM",
            f"{_sram(s['peak_sram_bytes'], s)} of {_sram(s['sram_capacity_bytes'], s)} "
            f"({_percent(s['peak_sram_bytes'], s['sram_capacity_bytes'])})",
        ],
        ["Spills", str(s["spills"])],
        ["Tiled layers", str(s["tiled_layers"])],
        [
            "Energy",
            f"{si(s['energy_j'], 'J')} (MAC {si(s['energy_mac_j'], 'J')}, "
            f"SRAM {si(s['energy_sram_j'], 'J')}, DRAM {si(s['energy_dram_j'], 'J')})",
        ],
    ]


def markdown_report(
    result: SimResult, config: RunConfig, images: Sequence[tuple[str, str]] = ()
) -> str:
    """report.md: hardware, summary, what bounds the network, per-layer table, plot links.

    `images` are (title, relative path) pairs of plots written beside the report.
    """
    s = summary_record(result, config)
    columns = with_pe(MARKDOWN_COLUMNS, result)
    parts = [
        f"# accelsim report: {config.name}",
        f"Model `{s['model']}`: {s['layers']} layers, {s['macs']:,} MACs (batch {s['batch']}).",
        "## Hardware",
        _markdown_table(["", ""], hardware_rows(result), set()),
        "## Summary",
        _markdown_table(["quantity", "value"], summary_rows(s, pe_utilization(result)),
                        set()),
        f"**{bound_sentence(s)}**",
        "## Per layer",
        _markdown_table([c[0] for c in columns], cells(result.rows, columns), _right(columns)),
    ]
    if images:
        parts.append("## Plots")
        parts += [f"![{title}]({path})" for title, path in images]
    parts.append(
        "Files: `layers.csv` (every per-layer column), `schedule.csv` (every tensor's "
        "lifetime and placement), `summary.json`, `report.html` (this report as one page, "
        "tables sortable), `trace.json` (the DRAM bus and compute as a Chrome/Perfetto "
        "trace: ui.perfetto.dev) and `config.resolved.yaml` "
        "(`accelsim run config.resolved.yaml` repeats this run)."
    )
    return "\n\n".join(parts) + "\n"


def format_terminal(result: SimResult, config: RunConfig) -> str:
    """The per-layer table and a summary block, fixed-width, for a terminal."""
    s = summary_record(result, config)
    columns = with_pe(_TERMINAL_COLUMNS, result)
    rows = cells(result.rows, columns)
    utilization = pe_utilization(result)
    totals = {
        "layer": "", "name": "total", "op": "", "fusion_group": "", "macs": f"{s['macs']:,}",
        "compute_cycles": f"{sum(int(r['compute_cycles']) for r in result.rows):,}",
        "pe_utilization": f"{utilization or 0:.0%}",
        "dram_read_bytes": f"{s['dram_read_bytes']:,}",
        "dram_write_bytes": f"{s['dram_write_bytes']:,}",
        "compute_time_s": _us(s["compute_time_s"]),
        "data_movement_time_s": _us(s["data_movement_time_s"]),
        "stall_time_s": _us(s["stall_time_s"]),
        "total_time_s": _us(s["total_time_s"]), "bound": "",
    }
    rows.append([totals[c[1]] for c in columns])
    header = (
        f"{config.name}: {s['model']} on {_sram(config.hardware.sram_capacity, s)} SRAM, "
        f"{si(config.hardware.dram.bandwidth, 'B/s')}, "
        f"{si(config.hardware.compute.peak_mac_rate, 'MAC/s')} "
        f"(policy {s['policy']}, overlap {'on' if s['overlap'] else 'off'}, "
        f"batch {s['batch']})"
    )
    summary = [f"  {label + ':':<26}{value}" for label, value in summary_rows(s, utilization)]
    return "\n".join(
        [
            header,
            "",
            text_table([c[0] for c in columns], rows, _right(columns)),
            "",
            "Summary",
            *summary,
            "",
            bound_sentence(s),
        ]
    )
