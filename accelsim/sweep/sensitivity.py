"""Elasticities and knees: which hardware knob matters, and how far it is worth turning.

`sensitivity(config)` nudges one numeric hardware field at a time and reports, per layer
and in total, the elasticity of total time and of DRAM traffic:

    elasticity = (relative change of the metric) / (relative change of the field)

Continuous fields (SRAM capacity, DRAM bandwidth, MAC rate or clock, DRAM latency when
nonzero) rise by `rel_step` (+5% default; the capacity is rounded to whole bytes).
Bit widths (activation_bits, weight_bits) rise by one bit, a relative step of 1/bits.
An elasticity of -1 means "10% more of this, 10% less time"; 0 means "does not matter here".

`knees(spec)` holds every other axis at its base value and, for each numeric axis, finds the
smallest swept value beyond which total time improves by less than `threshold` (5%): the
point where (t(v) - t(best)) / t(v) < threshold, with t(best) the time at the largest value.
An axis along which time does not fall (trend "rises" or "flat", e.g. the width multiplier)
has no knee (NaN).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.config.loader import apply_overrides, load_run, validate
from accelsim.config.models import HardwareConfig, RunConfig
from accelsim.pipeline import build_network, run_config
from accelsim.sweep.fast import evaluate, prepare
from accelsim.sweep.space import Points, SweepSpec, get_path

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KNEE_COLUMNS", "SENSITIVITY_COLUMNS", "knees", "sensitivity"]

SENSITIVITY_COLUMNS: tuple[str, ...] = (
    "parameter", "layer", "base_value", "new_value", "relative_step", "total_time_s",
    "new_total_time_s", "time_elasticity", "dram_bytes", "new_dram_bytes",
    "dram_elasticity",
)
KNEE_COLUMNS: tuple[str, ...] = (
    "axis", "trend", "knee_value", "knee_total_time_s", "best_value", "best_total_time_s",
    "threshold", "values",
)


def _capacities(hw: HardwareConfig) -> list[tuple[str, int]]:
    """(path below hardware, bytes) of every on-chip capacity: the sram shorthand's, or each
    level's by name."""
    if hw.sram is not None:
        return [("sram.capacity", hw.sram.capacity)]
    return [(f"memory.{level.name}.capacity", level.capacity) for level in hw.levels]


def _steps(config: RunConfig, rel_step: float) -> list[tuple[str, Any]]:
    """(dotted path, nudged value) for each numeric hardware field of this config."""
    hw = config.hardware
    steps: list[tuple[str, Any]] = [
        (f"hardware.{path}", int(round(capacity * (1 + rel_step))))
        for path, capacity in _capacities(hw)]
    steps.append(("hardware.dram.bandwidth", hw.dram.bandwidth * (1 + rel_step)))
    if hw.compute.is_pe_array:
        assert hw.compute.clock is not None
        steps.append(("hardware.compute.clock", hw.compute.clock * (1 + rel_step)))
    else:
        assert hw.compute.mac_rate is not None
        steps.append(("hardware.compute.mac_rate", hw.compute.mac_rate * (1 + rel_step)))
    if hw.dram.latency > 0:
        steps.append(("hardware.dram.latency", hw.dram.latency * (1 + rel_step)))
    for bits in ("activation_bits", "weight_bits"):
        value = getattr(hw.precision, bits)
        if value < 64:
            steps.append((f"hardware.precision.{bits}", value + 1))
    return steps


def _elasticity(new: np.ndarray, old: np.ndarray, step: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(old != 0, (new - old) / np.where(old != 0, old, 1), 0.0)
    return rel / step


def sensitivity(config_or_path: RunConfig | str | Path, rel_step: float = 0.05
                ) -> pd.DataFrame:
    """Per-layer and total elasticities of time and DRAM traffic (SENSITIVITY_COLUMNS).

    Rows come per parameter: one per layer (by name), then one with layer "total".
    """
    import pandas as pd

    config = config_or_path if isinstance(config_or_path, RunConfig) else load_run(
        config_or_path)
    net = build_network(config.model)
    base = run_config(config, net).table()
    data = config.model_dump(mode="json", exclude_none=True)
    frames = []
    for path, value in _steps(config, rel_step):
        nudged = validate(RunConfig, apply_overrides(data, {path: value}), f"sensitivity {path}")
        old_value, new_value = float(get_path(config, path)), float(get_path(nudged, path))
        step = (new_value - old_value) / old_value
        table = run_config(nudged, net).table()
        old_t, new_t = base["total_time_s"].to_numpy(), table["total_time_s"].to_numpy()
        old_d = (base["dram_read_bytes"] + base["dram_write_bytes"]).to_numpy(dtype=float)
        new_d = (table["dram_read_bytes"] + table["dram_write_bytes"]).to_numpy(dtype=float)
        layers = [*base["name"], "total"]
        old_t, new_t = np.append(old_t, old_t.sum()), np.append(new_t, new_t.sum())
        old_d, new_d = np.append(old_d, old_d.sum()), np.append(new_d, new_d.sum())
        frames.append(pd.DataFrame({
            "parameter": path, "layer": layers, "base_value": old_value,
            "new_value": new_value, "relative_step": step, "total_time_s": old_t,
            "new_total_time_s": new_t, "time_elasticity": _elasticity(new_t, old_t, step),
            "dram_bytes": old_d, "new_dram_bytes": new_d,
            "dram_elasticity": _elasticity(new_d, old_d, step),
        }))
    return pd.concat(frames, ignore_index=True)[list(SENSITIVITY_COLUMNS)]


def knee(values: np.ndarray, times: np.ndarray, threshold: float = 0.05) -> int:
    """Index (into ascending `values`) of the smallest value within `threshold` of the best."""
    best = times[-1]
    for i, t in enumerate(times):
        if t <= 0 or (t - best) / t < threshold:
            return i
    return len(times) - 1


def knees(spec: SweepSpec, threshold: float = 0.05) -> pd.DataFrame:
    """For each numeric axis, the knee of total time with the other axes at base values."""
    import pandas as pd

    rows = []
    for axis in spec.axes:
        values = [v for v in axis.values if isinstance(v, int | float)
                  and not isinstance(v, bool)]
        if len(values) < 2 or len(values) != len(axis.values):
            continue
        ordered = np.array(sorted(set(values)), dtype=float)
        times = _axis_times(spec, axis.path, axis.fast, ordered, axis.integer)
        i = knee(ordered, times, threshold)
        trend = ("falls" if times[-1] < times[0] else "rises" if times[-1] > times[0]
                 else "flat")
        rows.append({
            "axis": axis.path, "trend": trend,
            "knee_value": ordered[i] if trend == "falls" else np.nan,
            "knee_total_time_s": times[i] if trend == "falls" else np.nan,
            "best_value": ordered[-1], "best_total_time_s": times[-1],
            "threshold": threshold, "values": len(ordered),
        })
    return pd.DataFrame(rows, columns=list(KNEE_COLUMNS))


def _axis_times(spec: SweepSpec, path: str, fast: bool, values: np.ndarray,
                integer: bool) -> np.ndarray:
    """Total time at each value of one axis, everything else at the base config."""
    if fast:
        arrays = prepare([spec.base])[0]
        ids = np.arange(len(values))
        return np.asarray(evaluate(arrays, Points(ids, {path: (values, ids)}))["total_time_s"])
    data = spec.base.model_dump(mode="json", exclude_none=True)
    times = []
    for v in values:
        value = int(v) if integer else float(v)
        config = validate(RunConfig, apply_overrides(data, {path: value}), f"knee {path}")
        times.append(run_config(config).summary()["total_time_s"])
    return np.array(times)
