"""Vectorised evaluation: one schedule per group, every point of the group at once.

A schedule depends on the model, SRAM capacity, precision, policy, batch and overlap
(double buffering changes it); compute cycles of a PE array depend on the array too.
Bandwidth, MAC rate, clock, DRAM latency and energy constants only enter the final
arithmetic, so `prepare` builds a group's per-layer arrays once (through the simulator's
own `cost_schedule`) and `evaluate` turns them into totals for many points with NumPy
broadcasting through the functions `simulate` uses (`layer_times` serially, the overlap
ladder's `choose_rung` with overlap), so both always agree.
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
from accelsim.mapping import Schedule, build_schedule
from accelsim.mapping.memory import memory_spec
from accelsim.pipeline import build_network
from accelsim.sim.compute import compute_model
from accelsim.sim.cost import layer_times
from accelsim.sim.levels import check_per_pe
from accelsim.sim.overlap import Ladder, choose_rung
from accelsim.sim.simulate import (
    cost_schedule,
    layer_compute,
    recompute_factor,
    serial_links,
    sizes_for,
)

__all__ = [
    "RESULT_COLUMNS",
    "GroupArrays",
    "Variant",
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
    """What a schedule and its on-chip costs depend on: model, on-chip levels (and the PE
    array reading them), precision, policy, batch, overlap."""
    hw, sim = config.hardware, config.simulation
    # Memory levels' bandwidths and energies are not fast fields: their points group apart.
    levels = ([lv.model_dump(mode="json") for lv in hw.memory] if hw.memory is not None else
              [[lv.name, lv.capacity, lv.holds] for lv in memory_spec(hw).levels])
    # With levels, a PE array's dataflow and shape decide its buffer reads (sim.buffers).
    array = ([hw.compute.pe_rows, hw.compute.pe_cols, hw.compute.dataflow,
              hw.compute.depthwise] if hw.memory is not None else [])
    return json.dumps([config.model.model_dump(mode="json"), levels, array,
                       hw.precision.model_dump(mode="json"), sim.policy, sim.batch,
                       sim.overlap])


@dataclass(frozen=True)
class Variant:
    """One schedule of a group: per-layer DRAM bytes and transfers, and its totals."""

    dram_bytes: np.ndarray
    transfers: np.ndarray
    totals: Mapping[str, float]


@dataclass(frozen=True)
class GroupArrays:
    """One group's per-layer work, its schedules, and the defaults of its fast fields.

    Serial groups have one variant; overlap groups one per rung of the overlap ladder
    (accelsim.sim.overlap), and each point takes the rung simulate() would take.
    """

    macs: np.ndarray
    cycles: np.ndarray
    variants: tuple[Variant, ...]
    is_pe: bool
    defaults: Mapping[str, Any]
    ladder: Ladder | None = None
    infeasible: str = ""  # why no schedule exists (empty when one does)
    vector_elements: np.ndarray | None = None  # per layer, whole batch
    #: Per layer, the slowest on-chip link's seconds (the floor of compute time).
    links: np.ndarray | None = None


def _network(config: RunConfig) -> Network:
    """The config's network, built once per model per process."""
    key = config.model.model_dump_json()
    if key not in _NETWORKS:
        if len(_NETWORKS) > 32:
            _NETWORKS.clear()
        _NETWORKS[key] = build_network(config.model)
    return _NETWORKS[key]


def _variant(net: Network, config: RunConfig, schedule: Schedule) -> Variant:
    """A schedule's per-layer traffic and totals (they do not depend on fast fields)."""
    total = cost_schedule(net, config.hardware, config.simulation, schedule).total
    traffic = np.array(schedule.traffic(), dtype=float).reshape(-1, 3)
    return Variant(
        dram_bytes=traffic[:, 0] + traffic[:, 1],
        transfers=traffic[:, 2],
        totals={
            # MACs performed (recomputed halo rows included), for their energy
            "macs": total.macs + sum(ls.recomputed_macs for ls in schedule.layers),
            "sram_read_bytes": total.sram_read_bytes,
            "sram_write_bytes": total.sram_write_bytes,
            "dram_read_bytes": total.dram_read_bytes,
            "dram_write_bytes": total.dram_write_bytes,
            "peak_sram_bytes": schedule.peak_sram_bytes, "spills": schedule.spills,
            **({"energy_sram_j": total.energy_sram_j} if config.hardware.memory is not None
               else {}),
        })


def prepare(configs: Sequence[RunConfig]) -> list[GroupArrays]:
    """Per-layer arrays for configs that share one schedule (built once, here)."""
    first = configs[0]
    net = _network(first)
    sizes = sizes_for(first.hardware, first.simulation.batch)
    capacity, policy = memory_spec(first.hardware), first.simulation.policy
    ladder = None
    try:
        check_per_pe(net, first.hardware)  # levels, precision and dataflow: the group's own
        if first.simulation.overlap:
            ladder = Ladder(net, sizes, capacity, policy)
            schedules: tuple[Schedule, ...] = tuple(ladder.rung(i)[0]
                                                    for i in range(len(ladder)))
        else:
            schedules = (build_schedule(net, sizes, capacity, policy),)
    except ScheduleError as exc:
        empty = np.zeros(0)
        return [GroupArrays(empty, empty, (), False, {}, None, str(exc)) for _ in configs]
    variants = tuple(_variant(net, first, s) for s in schedules)
    last = schedules[-1]
    # Vector work per pass, scaled like its MACs where a fused group recomputes halo rows
    # (as layer_compute scales the whole compute time).
    vector = np.array([net.layer(ls.name).vector_elements * ls.sample_count(sizes.batch)
                       * recompute_factor(net, ls, sizes.batch) for ls in last.layers],
                      dtype=float)
    out = []
    for config in configs:
        hw = config.hardware
        works = layer_compute(net, last, compute_model(hw.compute))
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
            # MACs the compute unit performs: halo rows a fused group recomputes included
            macs=np.array([net.layer(ls.name).macs * ls.sample_count(sizes.batch)
                           + ls.recomputed_macs for ls in last.layers], dtype=float),
            cycles=np.array([w.cycles for w in works], dtype=float),
            variants=variants, is_pe=hw.compute.is_pe_array, defaults=defaults,
            ladder=ladder, vector_elements=vector,
            links=serial_links(net, hw, ladder.serial if ladder else schedules[0]),
        ))
    return out


def energy_j(totals: Mapping[str, float], constants: Mapping[str, Any]) -> Any:
    """Energy as simulate() sums it: MACs x mac + SRAM bytes x J/B + DRAM bytes x J/B."""
    mac = totals["macs"] * constants["mac"]
    sram = totals["energy_sram_j"] if "energy_sram_j" in totals else (  # memory levels
        totals["sram_read_bytes"] * constants["sram_read_byte"]
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
    rung = np.zeros(n, dtype=np.int64)
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
        shape = (hi - lo, len(arrays.macs))
        if arrays.links is not None:
            compute = np.maximum(compute, arrays.links[None, :])
        compute = np.broadcast_to(compute, shape)
        bandwidth, latency = param("hardware.dram.bandwidth"), param("hardware.dram.latency")
        if arrays.ladder is not None:
            chosen, total = choose_rung(arrays.ladder, compute, np.broadcast_to(
                bandwidth, (hi - lo, 1))[:, 0], np.broadcast_to(latency, (hi - lo, 1))[:, 0])
            rung[lo:hi] = chosen
        else:
            chosen = np.zeros(hi - lo, dtype=np.int64)
        dram = np.stack([v.dram_bytes for v in arrays.variants])[chosen]
        transfers = np.stack([v.transfers for v in arrays.variants])[chosen]
        movement, serial = layer_times(compute, dram, transfers, bandwidth, latency)
        if arrays.ladder is None:
            total = serial
        for name, matrix in (("total_time_s", total), ("compute_time_s", compute),
                             ("data_movement_time_s", movement)):
            totals[name][lo:hi] = np.broadcast_to(matrix, shape).sum(axis=1)
    out.update(totals)
    for name in _INT_COLUMNS:
        values = np.array([int(v.totals[name]) for v in arrays.variants], dtype=np.int64)
        out[name] = values[rung]
    constants = {}
    for key in _ENERGY:
        path = f"hardware.energy.{key}"
        constants[key] = (np.asarray(columns[path], dtype=float) if path in columns
                          else arrays.defaults[path])
    energies = [np.broadcast_to(np.asarray(energy_j(v.totals, constants), dtype=float), (n,))
                for v in arrays.variants]
    out["energy_j"] = np.choose(rung, energies) if len(energies) > 1 else energies[0].copy()
    return {**head, **{name: out[name] for name in RESULT_COLUMNS}}
