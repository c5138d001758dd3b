"""The report's tables and records: per-tensor schedule, summary record, number formatting.

pandas is imported inside the functions that build DataFrames, so importing this module
(and the CLI that uses it) stays fast; the report writer needs none (`write_csv`,
`layer_columns`), which keeps `accelsim run` from paying for pandas' import.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.config.models import RunConfig
from accelsim.sim.simulate import LAYER_COLUMNS, SimResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LAYER_COLUMNS",
    "SCHEDULE_COLUMNS",
    "hardware_record",
    "layer_columns",
    "layer_table",
    "schedule_rows",
    "schedule_table",
    "summary_record",
    "write_csv",
]

#: Columns of schedule.csv: one row per tensor. Layer indices are those of layers.csv
#: (1 = first computed layer); 0 means a network input, present in DRAM before layer 1.
SCHEDULE_COLUMNS: tuple[str, ...] = (
    "tensor",
    "kind",
    "size_bytes",
    "produced_at_layer",
    "last_use_at_layer",
    "placement",
    "spill_reason",
)

def layer_table(result: SimResult) -> pd.DataFrame:
    """One row per layer, columns exactly LAYER_COLUMNS (the content of layers.csv)."""
    return result.table()


def _layer_index_of_position(result: SimResult) -> dict[int, int]:
    """Position in net.order -> layers.csv index (0 for network inputs)."""
    index = {name: k for k, name in enumerate(result.schedule.passes(), start=1)}
    return {pos: index.get(name, 0) for pos, name in enumerate(result.network.order)}


def layer_columns(result: SimResult) -> dict[str, np.ndarray]:
    """The layers table as column name -> array (what the plots read), without pandas."""
    return {c: np.array([row[c] for row in result.rows]) for c in result.columns}


def write_csv(path: Path, columns: Sequence[str], records: Sequence[Mapping[str, Any]]) -> None:
    """A CSV of `records` with a header of `columns`, numbers written as pandas writes them."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_cell(record[c]) for c in columns] for record in records)


def _cell(value: Any) -> Any:
    """A CSV cell: floats by their shortest repr ('1e-06', 'inf'), numpy scalars as Python."""
    if isinstance(value, np.generic):
        value = value.item()
    return "" if value is None else value


def schedule_table(result: SimResult) -> pd.DataFrame:
    """One row per tensor (feature maps and filters): size, lifetime and placement."""
    import pandas as pd

    return pd.DataFrame(schedule_rows(result), columns=list(SCHEDULE_COLUMNS))


def schedule_rows(result: SimResult) -> list[dict[str, Any]]:
    """The records of schedule_table, one per tensor."""
    at = _layer_index_of_position(result)
    return [
        {
            "tensor": t.tensor,
            "kind": t.kind,
            "size_bytes": t.size_bytes,
            "produced_at_layer": at[t.produced_at],
            "last_use_at_layer": at[t.last_use_at],
            "placement": t.placement,
            "spill_reason": t.spill_reason,
        }
        for t in result.schedule.tensors
    ]


def hardware_record(config: RunConfig) -> dict[str, Any]:
    """The hardware essentials of summary.json, in base units."""
    hw = config.hardware
    peak, bandwidth = hw.compute.peak_mac_rate, hw.dram.bandwidth
    return {
        "name": hw.name,
        "sram_capacity_bytes": hw.sram_capacity,
        "dram_bandwidth_bytes_per_s": bandwidth,
        "dram_latency_s": hw.dram.latency,
        "peak_mac_rate_mac_per_s": peak,
        "ridge_point_mac_per_byte": peak / bandwidth,
        "activation_bits": hw.precision.activation_bits,
        "weight_bits": hw.precision.weight_bits,
        "accumulator_bits": hw.precision.accumulator_bits,
    }


def _finite(value: Any) -> Any:
    """JSON has no infinity or NaN: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def summary_record(result: SimResult, config: RunConfig) -> dict[str, Any]:
    """result.summary() with the run name and hardware essentials (the content of summary.json).

    Non-finite numbers (inferences_per_s of a zero-time run) become None, so the record
    is strict JSON.
    """
    record = {"name": config.name, **result.summary(), "hardware": hardware_record(config)}
    return {k: _finite(v) for k, v in record.items()}
