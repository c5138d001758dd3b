"""Vectorised evaluation: one schedule per group, every point of the group at once.

A schedule depends on the model, SRAM capacity, precision, policy, batch and overlap
(double buffering changes it); compute cycles of a PE array depend on the array too.
Bandwidth, MAC rate, clock, DRAM latency and energy constants only enter the final
arithmetic, so `prepare` builds a group's per-layer arrays once (through the simulator's
own `cost_schedule`) and `evaluate` turns them into totals for many points with NumPy
broadcasting through `accelsim.sim.time_layers`, the function `simulate` uses, so both
always agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from accelsim.config.models import VECTOR_RATE_PER_MAC_RATE, RunConfig
from accelsim.errors import ScheduleError
from accelsim.ir.graph import Network
from accelsim.mapping import build_schedule
from accelsim.pipeline import build_network
from accelsim.sim.compute import compute_model
from accelsim.sim.simulate import cost_schedule, sizes_for, time_layers
from accelsim.sim.timeline import Timeline, compile_timeline

__all__ = [
    "RESULT_COLUMNS",
    "GroupArrays",
    "energy_j",
    "evaluate",
    "prepare",
    "schedule_key",
]

#: Result columns after point_id and the axis columns, in order; units in every name.
#: A design point whose SRAM is too small for some layer is kept, with `feasible` false,
#: the reason, NaN times and energy, and -1 in the integer columns.
RESULT_COLUMNS: tuple[str, ...] = (
    "total_time_s", "compute_time_s", "data_movement_time_s", "dram_read_bytes",
    "dram_write_bytes", "peak_sram_bytes", "spills", "energy_j", "feasible",
    "infeasible_reason",
)
_INT_COLUMNS = ("dram_read_bytes", "dram_write_bytes", "peak_sram_bytes", "spills")
#: Points per NumPy block inside `evaluate` (points x layers matrices stay ~ a few MB).
BLOCK_POINTS = 8192


_ENERGY = ("mac", "sram_read_byte", "sram_write_byte", "dram_read_byte", "dram_write_byte")
_NETWORKS: dict[str, Network] = {}


def schedule_key(config: RunConfig) -> str:
    """What a schedule depends on: model, SRAM capacity, precision, policy, batch, overlap."""
    hw, sim = config.hardware, config.simulation
    return json.dumps([config.model.model_dump(mode="json"), hw.sram.capacity,
                       hw.precision.model_dump(mode="json"), sim.policy, sim.batch,
                       sim.overlap])


@dataclass(frozen=True)
class GroupArrays:
    """One group's per-layer work and traffic, and the defaults of its fast fields."""

    macs: np.ndarray
    cycles: np.ndarray
    dram_bytes: np.ndarray
    transfers: np.ndarray
    totals: Mapping[str, float]
    is_pe: bool
    defaults: Mapping[str, Any]
    timeline: Timeline | None = None
    infeasible: str = ""  # why no schedule exists (empty when one does)
    vector_elements: np.ndarray | None = None  # per layer, whole batch


def _network(config: RunConfig) -> Network:
    """The config's network, built once per model per process."""
    key = config.model.model_dump_json()
    if key not in _NETWORKS:
        if len(_NETWORKS) > 32:
            _NETWORKS.clear()
        _NETWORKS[key] = build_network(config.model)
    return _NETWORKS[key]


def prepare(configs: Sequence[RunConfig]) -> list[GroupArrays]:
    """Per-layer arrays for configs that share one schedule (built once, here)."""
    first = configs[0]
    net = _network(first)
    sizes = sizes_for(first.hardware, first.simulation.batch)
    capacity, policy = first.hardware.sram.capacity, first.simulation.policy
    overlap = first.simulation.overlap
    try:
        schedule = build_schedule(net, sizes, capacity, policy, double_buffer=overlap)
    except ScheduleError as exc:
        empty = np.zeros(0)
        return [GroupArrays(empty, empty, empty, empty, {}, False, {}, None, str(exc))
                for _ in configs]
    timeline = compile_timeline(schedule) if overlap else None
    out = []
    for config in configs:
        hw, sim = config.hardware, config.simulation
        result = cost_schedule(net, hw, sim, schedule, compute_model(hw.compute))
        costs = result.costs
        total = result.total
        defaults = {
            "hardware.dram.bandwidth": hw.dram.bandwidth,
            "hardware.dram.latency": hw.dram.latency,
            "hardware.compute.mac_rate": hw.compute.mac_rate,
            "hardware.compute.clock": hw.compute.clock,
            "vector_rate": hw.compute.vector_rate,
            "pes": (hw.compute.pe_rows or 0) * (hw.compute.pe_cols or 0),
            **{f"hardware.energy.{k}": getattr(hw.energy, k) for k in _ENERGY},
        }
        out.append(GroupArrays(
            macs=np.array([c.macs for c in costs], dtype=float),
            cycles=np.array([c.compute_cycles for c in costs], dtype=float),
            dram_bytes=np.array([c.dram_bytes for c in costs], dtype=float),
            transfers=np.array([c.transfers for c in costs], dtype=float),
            totals={
                "macs": total.macs, "sram_read_bytes": total.sram_read_bytes,
                "sram_write_bytes": total.sram_write_bytes,
                "dram_read_bytes": total.dram_read_bytes,
                "dram_write_bytes": total.dram_write_bytes,
                "peak_sram_bytes": schedule.peak_sram_bytes, "spills": schedule.spills,
            },
            is_pe=hw.compute.is_pe_array, defaults=defaults, timeline=timeline,
            vector_elements=np.array([net.layer(ls.name).vector_elements * sim.batch
                                      for ls in schedule.layers], dtype=float),
        ))
    return out


def energy_j(totals: Mapping[str, float], constants: Mapping[str, Any]) -> Any:
    """Energy as simulate() sums it: MACs x mac + SRAM bytes x J/B + DRAM bytes x J/B."""
    mac = totals["macs"] * constants["mac"]
    sram = (totals["sram_read_bytes"] * constants["sram_read_byte"]
            + totals["sram_write_bytes"] * constants["sram_write_byte"])
    dram = (totals["dram_read_bytes"] * constants["dram_read_byte"]
            + totals["dram_write_bytes"] * constants["dram_write_byte"])
    return mac + sram + dram


def evaluate(arrays: GroupArrays, ids: np.ndarray,
             columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Result columns for points `ids` of a group; `columns` holds their axis values."""
    n = len(ids)
    head: dict[str, np.ndarray] = {"point_id": np.asarray(ids, dtype=np.int64)}
    head.update({path: np.asarray(values) for path, values in columns.items()})
    out: dict[str, np.ndarray] = {
        "feasible": np.full(n, not arrays.infeasible),
        "infeasible_reason": np.full(n, arrays.infeasible, dtype=object),
    }
    if arrays.infeasible:
        for name in ("total_time_s", "compute_time_s", "data_movement_time_s", "energy_j"):
            out[name] = np.full(n, np.nan)
        for name in _INT_COLUMNS:
            out[name] = np.full(n, -1, dtype=np.int64)
        return {**head, **{name: out[name] for name in RESULT_COLUMNS}}
    totals = {name: np.empty(n) for name in RESULT_COLUMNS[:3]}
    for lo in range(0, n, BLOCK_POINTS):
        hi = min(lo + BLOCK_POINTS, n)

        def param(path: str, lo: int = lo, hi: int = hi) -> Any:
            if path in columns:
                return np.asarray(columns[path][lo:hi])[:, None]
            return arrays.defaults[path]

        if arrays.is_pe:
            clock = np.asarray(param("hardware.compute.clock"), dtype=float)
            compute = arrays.cycles[None, :] / clock
            peak = clock * arrays.defaults["pes"]
        else:
            peak = np.asarray(param("hardware.compute.mac_rate"), dtype=float)
            compute = arrays.macs[None, :] / peak
        vector_rate = arrays.defaults["vector_rate"] or peak * VECTOR_RATE_PER_MAC_RATE
        assert arrays.vector_elements is not None
        compute = np.maximum(compute, arrays.vector_elements[None, :] / vector_rate)
        movement, total = time_layers(
            compute, arrays.dram_bytes[None, :], arrays.transfers[None, :],
            param("hardware.dram.bandwidth"), param("hardware.dram.latency"), arrays.timeline)
        shape = (hi - lo, len(arrays.macs))
        for name, matrix in (("total_time_s", total), ("compute_time_s", compute),
                             ("data_movement_time_s", movement)):
            totals[name][lo:hi] = np.broadcast_to(matrix, shape).sum(axis=1)
    out.update(totals)
    for name in _INT_COLUMNS:
        out[name] = np.full(n, int(arrays.totals[name]), dtype=np.int64)
    constants = {}
    for key in _ENERGY:
        path = f"hardware.energy.{key}"
        constants[key] = (np.asarray(columns[path], dtype=float) if path in columns
                          else arrays.defaults[path])
    out["energy_j"] = np.broadcast_to(
        np.asarray(energy_j(arrays.totals, constants), dtype=float), (n,)).copy()
    return {**head, **{name: out[name] for name in RESULT_COLUMNS}}
