"""Vectorised evaluation: one schedule per group, every point of the group at once.

A schedule depends on the model, SRAM capacity, precision, policy, batch and overlap
(double buffering changes it); compute cycles of a PE array depend on the array too.
Bandwidth, MAC rate, clock, DRAM latency and energy constants only enter the final
arithmetic, so `prepare` builds a group's per-layer arrays once (from the schedule the
simulator builds, with the simulator's own traffic and compute functions) and `evaluate`
turns them into totals for many points. Serially a layer's time is its compute plus its
data movement, so the sums split: compute time summed over layers once per distinct MAC
rate (or clock), DRAM bytes / bandwidth + latency x transfers per point, O(1) per point.
With overlap, points go through the overlap ladder's `choose_rung` (event timeline),
points x layers at a time. `solve` does both for groups too small to be worth shipping
their arrays: a worker returns their rows only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from accelsim.collector import collector_paused
from accelsim.config.models import VECTOR_RATE_PER_MAC_RATE, HardwareConfig, RunConfig
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
    layer_compute,
    recompute_factor,
    schedule_traffic,
    serial_links,
    sizes_for,
)
from accelsim.sweep.space import Points
from accelsim.sweep.store import Column, Strings, concat_columns

__all__ = [
    "RESULT_COLUMNS",
    "GroupArrays",
    "Variant",
    "energy_j",
    "evaluate",
    "prepare",
    "schedule_key",
    "solve",
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
_NETWORKS: dict[str, tuple[Network, Mapping[str, tuple[int, int]]]] = {}


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


def _network(config: RunConfig) -> tuple[Network, Mapping[str, tuple[int, int]]]:
    """The config's network and each layer's (MACs, vector elements) per sample, built
    once per model per process (every schedule of the model reads them)."""
    key = config.model.model_dump_json()
    if key not in _NETWORKS:
        if len(_NETWORKS) > 32:
            _NETWORKS.clear()
        net = build_network(config.model)
        _NETWORKS[key] = (net, {layer.name: (layer.macs, layer.vector_elements)
                                for layer in net.layers()})
    return _NETWORKS[key]


def _variant(net: Network, config: RunConfig, schedule: Schedule, macs: np.ndarray
             ) -> Variant:
    """A schedule's per-layer traffic and totals (they do not depend on fast fields): the
    sums of what cost_schedule charges each layer. `macs`: per layer, the MACs it performs
    (recomputed halo rows included), for their energy."""
    hw = config.hardware
    bytes_ = schedule_traffic(net, hw, schedule)
    traffic = bytes_.dram
    sram_read, sram_write = (int(v) for v in bytes_.store.sum(axis=0))
    return Variant(
        dram_bytes=traffic[:, 0] + traffic[:, 1],
        transfers=traffic[:, 2],
        totals={
            "macs": int(macs.sum()), "sram_read_bytes": sram_read, "sram_write_bytes": sram_write,
            "dram_read_bytes": int(traffic[:, 0].sum()),
            "dram_write_bytes": int(traffic[:, 1].sum()),
            "peak_sram_bytes": schedule.peak_sram_bytes, "spills": schedule.spills,
            **({"energy_sram_j": float(bytes_.level_j.sum())}
               if hw.memory is not None else {}),
        })


def prepare(configs: Sequence[RunConfig]) -> list[GroupArrays]:
    """Per-layer arrays for configs that share one schedule (built once, here)."""
    first = configs[0]
    net, work = _network(first)
    sizes = sizes_for(first.hardware, first.simulation.batch)
    capacity, policy = memory_spec(first.hardware), first.simulation.policy
    ladder = None
    try:
        check_per_pe(net, first.hardware)  # levels, precision and dataflow: the group's own
        with collector_paused():
            if first.simulation.overlap:
                ladder = Ladder(net, sizes, capacity, policy)
                schedules: tuple[Schedule, ...] = tuple(ladder.rung(i)[0]
                                                        for i in range(len(ladder)))
            else:
                schedules = (build_schedule(net, sizes, capacity, policy),)
    except ScheduleError as exc:
        empty = np.zeros(0)
        return [GroupArrays(empty, empty, (), False, {}, None, str(exc)) for _ in configs]

    def performed(schedule: Schedule) -> np.ndarray:
        """MACs each pass performs: halo rows a fused group recomputes included."""
        return np.array([work[ls.name][0] * ls.sample_count(sizes.batch) + ls.recomputed_macs
                         for ls in schedule.layers], dtype=np.int64)

    variants = tuple(_variant(net, first, s, performed(s)) for s in schedules)
    last = schedules[-1]
    # Vector work per pass, scaled like its MACs where a fused group recomputes halo rows
    # (as layer_compute scales the whole compute time).
    vector = np.array([work[ls.name][1] * ls.sample_count(sizes.batch)
                       * recompute_factor(net, ls, sizes.batch) for ls in last.layers],
                      dtype=float)
    macs = performed(last).astype(float)
    out = []
    for config in configs:
        hw = config.hardware
        # cycles matter to a PE array only (an ideal unit's time is MACs / rate)
        works = layer_compute(net, last, compute_model(hw.compute)) \
            if hw.compute.is_pe_array else []
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
            macs=macs, cycles=np.array([w.cycles for w in works] or np.zeros(len(macs)),
                                       dtype=float),
            variants=variants, is_pe=hw.compute.is_pe_array, defaults=defaults,
            ladder=ladder, vector_elements=vector,
            links=serial_links(net, hw, ladder.serial if ladder else schedules[0])
            if _limited(hw) else None,
        ))
    return out


def _limited(hw: HardwareConfig) -> bool:
    """True when some on-chip link has a bandwidth (else every link time is 0)."""
    return any(lv.read_bandwidth is not None or lv.write_bandwidth is not None
               for lv in hw.levels)


def energy_j(totals: Mapping[str, float], constants: Mapping[str, Any]) -> Any:
    """Energy as simulate() sums it: MACs x mac + SRAM bytes x J/B + DRAM bytes x J/B."""
    mac = totals["macs"] * constants["mac"]
    sram = totals["energy_sram_j"] if "energy_sram_j" in totals else (  # memory levels
        totals["sram_read_bytes"] * constants["sram_read_byte"]
        + totals["sram_write_bytes"] * constants["sram_write_byte"])
    dram = (totals["dram_read_bytes"] * constants["dram_read_byte"]
            + totals["dram_write_bytes"] * constants["dram_write_byte"])
    return mac + sram + dram


def _param(arrays: GroupArrays, points: Points, path: str, lo: int, hi: int) -> Any:
    """A fast field at points [lo, hi) as a column, or the group's value when not swept."""
    if path in points.axes:
        table, codes = points.axes[path]
        return np.asarray(table[codes[lo:hi]], dtype=float)[:, None]
    return arrays.defaults[path]


def _compute(arrays: GroupArrays, rate: Any) -> np.ndarray:
    """Per-layer compute seconds at MAC rates (or PE-array clocks) `rate` (a column)."""
    if arrays.is_pe:
        compute = arrays.cycles[None, :] / rate
        peak = rate * arrays.defaults["pes"]
    else:
        peak = rate
        compute = arrays.macs[None, :] / peak
    vector_rate = arrays.defaults["vector_rate"] or peak * VECTOR_RATE_PER_MAC_RATE
    assert arrays.vector_elements is not None
    compute = np.maximum(compute, arrays.vector_elements[None, :] / vector_rate)
    if arrays.links is not None:
        compute = np.maximum(compute, arrays.links[None, :])
    return np.asarray(compute)


def _serial_times(arrays: GroupArrays, points: Points) -> dict[str, np.ndarray]:
    """Total, compute and data-movement seconds of serial points, O(1) per point: compute
    summed once per distinct rate, then bytes / bandwidth + latency x transfers."""
    n = len(points)
    rate_path = "hardware.compute.clock" if arrays.is_pe else "hardware.compute.mac_rate"
    if rate_path in points.axes:
        table, codes = points.axes[rate_path]
        if len(table) <= n:  # every table entry once (a grid's few values)
            used, inverse = np.arange(len(table)), codes
        else:
            used, inverse = np.unique(codes, return_inverse=True)
        rates = np.asarray(table[used], dtype=float)[:, None]
    else:
        rates, inverse = np.array([[arrays.defaults[rate_path]]], dtype=float), np.zeros(n, int)
    compute = _compute(arrays, rates).sum(axis=1)[inverse.reshape(-1)]
    variant = arrays.variants[0]
    bandwidth = _param(arrays, points, "hardware.dram.bandwidth", 0, n)
    latency = _param(arrays, points, "hardware.dram.latency", 0, n)
    movement, _ = layer_times(0.0, variant.dram_bytes.sum(), variant.transfers.sum(),
                              bandwidth, latency)
    movement = np.broadcast_to(np.asarray(movement, dtype=float).reshape(-1), (n,))
    return {"total_time_s": compute + movement, "compute_time_s": compute,
            "data_movement_time_s": movement.copy()}


def _overlap_times(arrays: GroupArrays, points: Points
                   ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Times of overlap points on the rung simulate() takes for each, and that rung."""
    assert arrays.ladder is not None
    n, layers = len(points), len(arrays.macs)
    totals = {name: np.empty(n) for name in RESULT_COLUMNS[:3]}
    rung = np.zeros(n, dtype=np.int64)
    for lo in range(0, n, BLOCK_POINTS):
        hi = min(lo + BLOCK_POINTS, n)
        rate_path = "hardware.compute.clock" if arrays.is_pe else "hardware.compute.mac_rate"
        compute = np.broadcast_to(_compute(arrays, _param(arrays, points, rate_path, lo, hi)),
                                  (hi - lo, layers))
        bandwidth = _param(arrays, points, "hardware.dram.bandwidth", lo, hi)
        latency = _param(arrays, points, "hardware.dram.latency", lo, hi)
        chosen, total = choose_rung(arrays.ladder, compute, np.broadcast_to(
            bandwidth, (hi - lo, 1))[:, 0], np.broadcast_to(latency, (hi - lo, 1))[:, 0])
        rung[lo:hi] = chosen
        dram = np.stack([v.dram_bytes for v in arrays.variants])[chosen]
        transfers = np.stack([v.transfers for v in arrays.variants])[chosen]
        movement, _ = layer_times(compute, dram, transfers, bandwidth, latency)
        for name, matrix in (("total_time_s", total), ("compute_time_s", compute),
                             ("data_movement_time_s", movement)):
            totals[name][lo:hi] = np.broadcast_to(matrix, (hi - lo, layers)).sum(axis=1)
    return totals, rung


def evaluate(arrays: GroupArrays, points: Points) -> dict[str, Column]:
    """Result columns (point_id, the axis values, RESULT_COLUMNS) for points of a group."""
    n = len(points)
    head: dict[str, Column] = {"point_id": np.asarray(points.ids, dtype=np.int64)}
    head.update({path: points.values(path) for path in points.axes})
    out: dict[str, Column] = {
        "feasible": np.full(n, not arrays.infeasible),
        "infeasible_reason": Strings((arrays.infeasible,), np.zeros(n, dtype=np.uint8)),
    }
    if arrays.infeasible:
        for name in ("total_time_s", "compute_time_s", "data_movement_time_s", "energy_j"):
            out[name] = np.full(n, np.nan)
        for name in _INT_COLUMNS:
            out[name] = np.full(n, -1, dtype=np.int64)
        return {**head, **{name: out[name] for name in RESULT_COLUMNS}}
    if arrays.ladder is None:
        out.update(_serial_times(arrays, points))
        rung = np.zeros(n, dtype=np.int64)
    else:
        totals, rung = _overlap_times(arrays, points)
        out.update(totals)
    for name in _INT_COLUMNS:
        values = np.array([int(v.totals[name]) for v in arrays.variants], dtype=np.int64)
        out[name] = values[rung] if len(values) > 1 else np.full(n, values[0])
    constants = {}
    for key in _ENERGY:
        path = f"hardware.energy.{key}"
        constants[key] = (np.asarray(points.values(path), dtype=float) if path in points.axes
                          else arrays.defaults[path])
    energies = [np.broadcast_to(np.asarray(energy_j(v.totals, constants), dtype=float), (n,))
                for v in arrays.variants]
    out["energy_j"] = np.choose(rung, energies) if len(energies) > 1 else energies[0].copy()
    return {**head, **{name: out[name] for name in RESULT_COLUMNS}}


def solve(work: Sequence[tuple[Sequence[RunConfig], Sequence[Points]]]) -> dict[str, Column]:
    """The rows of whole groups: for each schedule, its groups' configs and points, built
    and evaluated here (a worker returns rows, never per-layer arrays)."""
    return concat_columns([evaluate(arrays, points)
                           for configs, groups in work
                           for arrays, points in zip(prepare(configs), groups, strict=True)])
