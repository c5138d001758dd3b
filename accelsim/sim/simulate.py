"""simulate(): schedule a network on a hardware config and cost every layer.

The result keeps the schedule (for reports and replay), one LayerCost per layer and
their sum; `SimResult.table()` and `SimResult.summary()` give the DataFrame and the
summary dict that reports and the Python API expose.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.collector import collector_paused
from accelsim.config.models import HardwareConfig, SimulationConfig
from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer
from accelsim.mapping import (
    LayerSchedule,
    Schedule,
    Sizes,
    build_schedule,
)
from accelsim.mapping.memory import memory_spec
from accelsim.mapping.tiling import hwc, input_channels, input_region_cols, input_region_rows
from accelsim.sim.buffers import array_traffic
from accelsim.sim.compute import ComputeModel, Work, compute_model
from accelsim.sim.cost import LayerCost, layer_times
from accelsim.sim.energy import level_energy
from accelsim.sim.levels import (
    check_per_pe,
    level_columns,
    level_energy_j,
    level_traffic,
    link_times,
    store_of,
)
from accelsim.sim.overlap import Ladder, choose_rung
from accelsim.sim.pe_array import PEArray

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LAYER_COLUMNS", "SimResult", "cost_schedule", "layer_compute", "on_chip_traffic",
           "recompute_factor", "ScheduleTraffic", "schedule_traffic", "serial_links",
           "simulate", "sizes_for"]

#: Columns of layers.csv / SimResult.table(), in order; units in every name.
LAYER_COLUMNS: tuple[str, ...] = (
    "layer", "name", "op", "input_shape", "output_shape", "macs", "compute_cycles",
    "pe_utilization", "input_fmap_bits", "output_fmap_bits", "weight_bits", "sram_used_bits",
    "data_movement_bits", "dram_read_bytes", "dram_write_bytes", "compulsory_dram_bytes",
    "sram_read_bytes", "sram_write_bytes", "transfers", "arithmetic_intensity_mac_per_byte",
    "compute_time_s", "data_movement_time_s", "stall_time_s", "total_time_s", "bound",
    "bound_detail",
    "energy_mac_j", "energy_sram_j", "energy_dram_j", "energy_j", "tiling", "spills",
    "spill_reason", "fusion_group",
)


def sizes_for(hardware: HardwareConfig, batch: int) -> Sizes:
    """Element sizes of a hardware config's precision at a batch size."""
    p = hardware.precision
    return Sizes(p.activation_bits, p.weight_bits, p.accumulator_bits, batch)


@dataclass
class SimResult:
    """A simulated run: network, config, schedule, per-layer costs and their total."""

    network: Network
    hardware: HardwareConfig
    simulation: SimulationConfig
    schedule: Schedule
    costs: list[LayerCost]
    rows: list[dict[str, Any]]

    @property
    def total(self) -> LayerCost:
        """Network totals: the sum of the per-layer costs."""
        return reduce(LayerCost.__add__, self.costs, LayerCost())

    def _repr_html_(self) -> str:
        """The report's tables as HTML: how Jupyter shows a result."""
        from accelsim.report.html import html_fragment

        return html_fragment(self, self.summary())

    def table(self) -> pd.DataFrame:
        """One row per layer with LAYER_COLUMNS."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(self.columns))

    @property
    def columns(self) -> tuple[str, ...]:
        """LAYER_COLUMNS, then a read/write byte pair per on-chip level (memory levels)."""
        return LAYER_COLUMNS + level_columns(self.hardware)

    def summary(self) -> dict[str, Any]:
        """Totals and headline facts, JSON-serialisable (the content of summary.json)."""
        total, batch = self.total, self.simulation.batch
        compulsory = sum(int(r["compulsory_dram_bytes"]) for r in self.rows)
        memory_time = sum(c.total_time_s for c, r in zip(self.costs, self.rows, strict=True)
                          if r["bound"] == "memory")
        stall = total.total_time_s - total.compute_time_s
        return {
            "model": self.network.name,
            "policy": self.simulation.policy,
            "overlap": self.simulation.overlap,
            "batch": batch,
            "sub_batch": self.schedule.sub_batch,
            "layers": len(self.rows),
            "macs": total.macs,
            "total_time_s": total.total_time_s,
            "compute_time_s": total.compute_time_s,
            "data_movement_time_s": total.data_movement_time_s,
            "stall_time_s": stall,
            "time_per_inference_s": total.total_time_s / batch,
            "inferences_per_s": batch / total.total_time_s if total.total_time_s else math.inf,
            "dram_read_bytes": total.dram_read_bytes,
            "dram_write_bytes": total.dram_write_bytes,
            "dram_bytes_per_inference": total.dram_bytes / batch,
            "compulsory_dram_bytes": compulsory,
            "peak_sram_bytes": self.schedule.peak_sram_bytes,
            "sram_capacity_bytes": self.schedule.capacity_bytes,
            "spills": self.schedule.spills,
            "tiled_layers": len({ls.name for ls in self.schedule.layers if ls.tiling != "none"}),
            "memory_bound_time_fraction": memory_time / total.total_time_s
            if total.total_time_s else 0.0,
            "energy_j": total.energy_j,
            "energy_mac_j": total.energy_mac_j,
            "energy_sram_j": total.energy_sram_j,
            "energy_dram_j": total.energy_dram_j,
            "energy_per_inference_j": total.energy_j / batch,
            **({"levels": self.level_summary()} if self.hardware.memory is not None else {}),
        }

    def level_summary(self) -> list[dict[str, Any]]:
        """Per on-chip level: capacity, bytes read and written, and their energy."""
        out = []
        for level in self.hardware.levels:
            read = sum(int(r[f"{level.name}_read_bytes"]) for r in self.rows)
            write = sum(int(r[f"{level.name}_write_bytes"]) for r in self.rows)
            read_j, write_j = level_energy(level)
            out.append({"name": level.name, "capacity_bytes": level.capacity,
                        "read_bytes": read, "write_bytes": write,
                        "energy_j": read * read_j + write * write_j})
        return out


def _covered(spans: list[tuple[int, int]]) -> int:
    """How many indices the union of half-open spans covers."""
    count, end = 0, None
    for lo, hi in sorted(spans):
        start = lo if end is None else max(lo, end)
        count += max(hi - start, 0)
        end = hi if end is None else max(end, hi)
    return count


@functools.lru_cache(maxsize=4096)
def _read_elements(layer: Layer, index: int) -> int:
    """Elements of one sample of input `index` that some output of `layer` reads: the rows,
    columns and channels read (cached: it walks every output row and column)."""
    ho, wo, co = hwc(layer.output_shape)
    rows = _covered([input_region_rows(layer, (r, r + 1), index) for r in range(ho)])
    cols = _covered([input_region_cols(layer, (c, c + 1), index) for c in range(wo)])
    lo, hi = input_channels(layer, (0, co), index)
    return rows * cols * (hi - lo)


def _compulsory(net: Network, layer: Layer, sizes: Sizes) -> int:
    """Bytes the layer must move even with unlimited SRAM: its filters, network I/O.

    Of a network input only the rows, columns and channels some output reads count (a
    strided convolution may skip rows, a channel slice reads a few channels).
    """
    inputs = net.inputs
    total = sizes.weight_bytes(layer)
    for index, src in enumerate(layer.inputs):
        if src in inputs and src not in layer.inputs[:index]:
            total += sizes.elements_bytes(sizes.batch * _read_elements(layer, index))
    if net.graph.out_degree(layer.name) == 0:
        total += sizes.fmap_bytes(layer.output_shape)
    return total


def layer_compute(net: Network, schedule: Schedule, model: ComputeModel) -> list[Work]:
    """The compute model's Work (cycles, seconds, utilisation) of every scheduled layer.

    Halo rows a fused group computes again take compute time like any other MAC.
    """
    return [model(net.layer(ls.name), ls.sample_count(schedule.batch),
                  recompute_factor(net, ls, schedule.batch)) for ls in schedule.layers]


def recompute_factor(net: Network, ls: LayerSchedule, batch: int) -> float:
    """How much more work a pass of a layer does than its own MACs: 1 + the halo rows a
    fused group computes again over the layer's MACs (1 when nothing is recomputed)."""
    if not ls.recomputed_macs:
        return 1.0
    return 1 + ls.recomputed_macs / (net.layer(ls.name).macs * ls.sample_count(batch))


def simulate(net: Network, hardware: HardwareConfig,
             simulation: SimulationConfig | None = None) -> SimResult:
    """Schedule `net` under the simulation's policy and cost every layer.

    With overlap, the schedule is the overlap ladder's rung chosen for this hardware
    (accelsim.sim.overlap): its layers are each no slower than serially.
    """
    simulation = simulation or SimulationConfig()
    check_per_pe(net, hardware)
    sizes = sizes_for(hardware, simulation.batch)
    capacity, policy = memory_spec(hardware), simulation.policy
    model = compute_model(hardware.compute)
    with collector_paused():
        if not simulation.overlap:
            schedule = build_schedule(net, sizes, capacity, policy)
            return cost_schedule(net, hardware, simulation, schedule, model)
        ladder = Ladder(net, sizes, capacity, policy)
        links = serial_links(net, hardware, ladder.serial)
        compute_s = np.maximum([w.time_s for w in layer_compute(net, ladder.serial, model)],
                               links)
        rung, times = choose_rung(ladder, compute_s, hardware.dram.bandwidth,
                                  hardware.dram.latency)
        return cost_schedule(net, hardware, simulation, ladder.rung(int(rung[0]))[0], model,
                             times[0], ladder.serial, links=links)


def serial_links(net: Network, hardware: HardwareConfig, serial: Schedule) -> np.ndarray:
    """Per layer, the slowest on-chip link's time for the serial schedule's traffic: the
    floor of each layer's compute time in every schedule of the overlap ladder."""
    return link_times(on_chip_traffic(net, hardware, serial), hardware.levels, _pes(hardware))


def _pes(hardware: HardwareConfig) -> int:
    """Processing elements of the array (1 for an ideal MAC rate)."""
    c = hardware.compute
    return c.pe_rows * c.pe_cols if c.pe_rows and c.pe_cols else 1


def on_chip_traffic(net: Network, hardware: HardwareConfig, schedule: Schedule) -> np.ndarray:
    """Bytes read from / written into every on-chip level per layer (accelsim.sim.levels):
    with memory levels and a PE array, the array's dataflow counts."""
    c, p = hardware.compute, hardware.precision
    array = None
    if hardware.memory is not None and c.is_pe_array:
        assert c.pe_rows and c.pe_cols
        pe = PEArray(c.pe_rows, c.pe_cols, c.dataflow, c.depthwise)
        sizes = sizes_for(hardware, schedule.batch)
        array = [array_traffic(net.layer(ls.name), ls.sample_count(schedule.batch), pe, sizes)
                 for ls in schedule.layers]
    return level_traffic(schedule, hardware.levels, array,
                         (p.activation_bits, p.weight_bits, p.accumulator_bits))


@dataclass(frozen=True)
class ScheduleTraffic:
    """A schedule's bytes per layer, as costing charges them.

    dram: (layers, 3) bytes read, bytes written, transfers; on_chip: (layers, levels, 2)
    bytes read from / written into each on-chip level; store: (layers, 2) the same summed
    over the on-chip store (the levels next to DRAM); level_j: (layers, levels) joules.
    """

    dram: np.ndarray
    on_chip: np.ndarray
    store: np.ndarray
    level_j: np.ndarray


def schedule_traffic(net: Network, hardware: HardwareConfig, schedule: Schedule
                     ) -> ScheduleTraffic:
    """The DRAM and on-chip bytes and on-chip energy of every scheduled layer."""
    on_chip = on_chip_traffic(net, hardware, schedule)
    return ScheduleTraffic(np.array(schedule.traffic(), dtype=float).reshape(-1, 3), on_chip,
                           on_chip[:, :len(store_of(hardware))].sum(axis=1),
                           level_energy_j(on_chip, hardware.levels))


def cost_schedule(net: Network, hardware: HardwareConfig, simulation: SimulationConfig,
                  schedule: Schedule, model: ComputeModel | None = None,
                  times: np.ndarray | None = None,
                  reference: Schedule | None = None, *,
                  links: np.ndarray | None = None) -> SimResult:
    """Cost every layer of an already built schedule on `hardware` (time, traffic, energy).

    `times`: per-layer times from the event timeline (overlap); None costs the layers
    serially (compute, then data movement). A layer's compute time is the longer of the
    array's time and its slowest on-chip link's (the links of `reference`, the overlap
    ladder's serial schedule, when given: the floor `times` were computed with); `links`:
    those link times when already computed (`serial_links` of `reference`).
    """
    sizes = sizes_for(hardware, simulation.batch)
    model = model or compute_model(hardware.compute)
    energy, batch = hardware.energy, simulation.batch
    works = layer_compute(net, schedule, model)
    bytes_ = schedule_traffic(net, hardware, schedule)
    traffic, on_chip, levels = bytes_.dram, bytes_.on_chip, hardware.levels
    if links is None:
        links = (serial_links(net, hardware, reference)
                 if reference is not None and reference is not schedule
                 else link_times(on_chip, levels, _pes(hardware)))
    compute_s = np.maximum([w.time_s for w in works], links)
    movement, serial = layer_times(compute_s, traffic[:, 0] + traffic[:, 1], traffic[:, 2],
                                   hardware.dram.bandwidth, hardware.dram.latency)
    totals = np.asarray(serial if times is None else times).reshape(-1).tolist()
    # Per layer as plain numbers, converted once: bytes are exact in floats below 2**53.
    sram_bytes = bytes_.store.tolist()
    dram, sram_j = traffic.tolist(), bytes_.level_j.sum(axis=1).tolist()
    compute_list, movement_list = compute_s.tolist(), movement.tolist()
    passes = []
    for i, ls in enumerate(schedule.layers):
        layer, work = net.layer(ls.name), works[i]
        sram_read, sram_write = sram_bytes[i]
        read, write, transfers = (int(v) for v in dram[i])
        macs = layer.macs * ls.sample_count(batch)
        passes.append(LayerCost(
            macs=macs, compute_cycles=work.cycles, dram_read_bytes=read,
            dram_write_bytes=write, sram_read_bytes=sram_read,
            sram_write_bytes=sram_write, transfers=transfers, compute_time_s=compute_list[i],
            data_movement_time_s=movement_list[i], total_time_s=totals[i],
            energy_mac_j=(macs + ls.recomputed_macs) * energy.mac,
            energy_sram_j=sram_j[i],
            energy_dram_j=read * energy.dram_read_byte + write * energy.dram_write_byte,
        ))
    costs, rows = [], []
    for index, ids in enumerate(schedule.passes().values(), start=1):
        cost = reduce(LayerCost.__add__, (passes[i] for i in ids))
        first = schedule.layers[ids[0]]
        view = first if len(ids) == 1 and first.index == index else dataclasses.replace(
            first, index=index, spills=sum(schedule.layers[i].spills for i in ids),
            spill_reason="; ".join(dict.fromkeys(
                schedule.layers[i].spill_reason for i in ids if schedule.layers[i].spill_reason)),
            peak_sram_bytes=max(schedule.layers[i].peak_sram_bytes for i in ids))
        cycles = sum(works[i].cycles for i in ids)
        utilization = (sum(works[i].utilization * works[i].cycles for i in ids) / cycles
                       if cycles else works[ids[0]].utilization)
        costs.append(cost)
        row = _row(net, net.layer(first.name), view, cost, sizes, utilization, len(ids))
        if hardware.memory is not None:  # the shorthand's one level is sram_*_bytes
            row.update(zip(level_columns(hardware),
                           (int(v) for v in on_chip[ids].sum(axis=0).reshape(-1)), strict=True))
        rows.append(row)
    return SimResult(net, hardware, simulation, schedule, costs, rows)


def _row(net: Network, layer: Layer, ls: LayerSchedule, cost: LayerCost, sizes: Sizes,
         utilization: float, passes: int) -> dict[str, Any]:
    compulsory = _compulsory(net, layer, sizes)
    stall = max(cost.total_time_s - cost.compute_time_s, 0.0)
    memory = stall > cost.compute_time_s
    bound = "memory" if memory else "compute"
    if not memory:
        detail = (f"compute {cost.compute_time_s:.3g} s >= waiting for data "
                  f"{stall:.3g} s")
    elif cost.dram_bytes > compulsory:
        extra = cost.dram_bytes - compulsory
        causes = [("tiling", ls.tiling != "none"), ("spills", ls.spills > 0),
                  (f"{passes} sub-batch passes", passes > 1)]
        why = " and ".join(name for name, present in causes if present) or "spills"
        detail = (f"SRAM capacity: {why} add {extra:,} B over the compulsory "
                  f"{compulsory:,} B of DRAM traffic")
    else:
        detail = (f"DRAM bandwidth: waiting {stall:.3g} s for {cost.dram_bytes:,} compulsory "
                  f"bytes vs {cost.compute_time_s:.3g} s compute")
    in_elements = sum(math.prod(net.layer(s).output_shape) for s in dict.fromkeys(layer.inputs))
    return {
        "layer": ls.index, "name": layer.name, "op": layer.op,
        "input_shape": "x".join(map(str, layer.input_shape)),
        "output_shape": "x".join(map(str, layer.output_shape)),
        "macs": cost.macs, "compute_cycles": cost.compute_cycles,
        "pe_utilization": utilization,
        "input_fmap_bits": in_elements * sizes.batch * sizes.activation_bits,
        "output_fmap_bits": layer.output_elements * sizes.batch * sizes.activation_bits,
        "weight_bits": sizes.weight_bytes(layer) * 8,
        "sram_used_bits": ls.peak_sram_bytes * 8,
        "data_movement_bits": cost.dram_bytes * 8,
        "dram_read_bytes": cost.dram_read_bytes, "dram_write_bytes": cost.dram_write_bytes,
        "compulsory_dram_bytes": compulsory,
        "sram_read_bytes": cost.sram_read_bytes, "sram_write_bytes": cost.sram_write_bytes,
        "transfers": cost.transfers,
        "arithmetic_intensity_mac_per_byte": cost.macs / cost.dram_bytes if cost.dram_bytes
        else np.inf,
        "compute_time_s": cost.compute_time_s,
        "data_movement_time_s": cost.data_movement_time_s, "stall_time_s": stall,
        "total_time_s": cost.total_time_s, "bound": bound, "bound_detail": detail,
        "energy_mac_j": cost.energy_mac_j, "energy_sram_j": cost.energy_sram_j,
        "energy_dram_j": cost.energy_dram_j, "energy_j": cost.energy_j,
        "tiling": ls.tiling, "spills": ls.spills, "spill_reason": ls.spill_reason,
        "fusion_group": ls.group,
    }
