"""A run's hardware in the peers' formats: Timeloop architecture, ZigZag accelerator.

accelsim has one SRAM, one DRAM bus and a PE array (or an ideal MAC rate); each peer gets
that hierarchy, nothing more. Peers count in cycles and words, so the DRAM bandwidth
becomes words per cycle at the array's clock. An ideal `mac_rate` has no array: it is
written as the export's rows x cols array clocked at mac_rate / (rows x cols), the same
peak. Energies are accelsim's per-byte figures scaled to each access's width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml

from accelsim.config.models import HardwareConfig
from accelsim.sim.pe_array import PEArray

__all__ = ["ExportHardware", "export_hardware", "timeloop_arch", "zigzag_accelerator"]


@dataclass(frozen=True)
class ExportHardware:
    """A run's hardware reduced to what every peer needs, in base units."""

    array: PEArray
    clock_hz: float
    sram_bytes: int
    dram_bytes_per_s: float
    word_bits: int
    hardware: HardwareConfig

    @property
    def dram_words_per_cycle(self) -> float:
        """DRAM bandwidth in words (activation_bits wide) per array clock cycle."""
        return self.dram_bytes_per_s * 8 / self.word_bits / self.clock_hz

    @property
    def sram_words_per_cycle(self) -> int:
        """SRAM port width: one word per array row and column per cycle (accelsim does not
        model SRAM bandwidth, so the array never waits on it)."""
        return self.array.rows + self.array.cols


def export_hardware(hardware: HardwareConfig, array: PEArray) -> ExportHardware:
    """The hardware of a run; `array` stands in for an ideal mac_rate (same peak MAC/s)."""
    compute = hardware.compute
    if compute.is_pe_array:
        assert compute.pe_rows and compute.pe_cols and compute.clock
        array = PEArray(compute.pe_rows, compute.pe_cols, compute.dataflow)
        clock = compute.clock
    else:
        clock = compute.peak_mac_rate / (array.rows * array.cols)
    return ExportHardware(array, clock, hardware.sram_capacity, hardware.dram.bandwidth,
                          hardware.precision.activation_bits, hardware)


def _header(target: ExportHardware, tool: str) -> str:
    """Comment lines saying where the figures come from."""
    hw = target.hardware
    return (f"# {tool} hardware written by accelsim from the run's hardware "
            f"({hw.name or 'unnamed'}):\n"
            f"# SRAM {hw.sram_capacity:,} B, DRAM {target.dram_bytes_per_s:.6g} B/s = "
            f"{target.dram_words_per_cycle:.6g} words/cycle at {target.clock_hz:.6g} Hz, "
            f"{target.array.rows}x{target.array.cols} PEs ({target.array.dataflow}).\n")


def timeloop_arch(target: ExportHardware) -> str:
    """arch.yaml in Timeloop's v0.3 tree format: DRAM, a global buffer, the PE array."""
    bits = target.word_bits
    block = 8  # words per SRAM row: a 64-bit-wide buffer for 8-bit words
    pes = target.array.rows * target.array.cols
    dram_bw = max(1, math.ceil(target.dram_words_per_cycle))
    arch = {"architecture": {"version": 0.3, "subtree": [{
        "name": "system",
        "local": [{"name": "DRAM", "class": "DRAM", "attributes": {
            "type": "LPDDR4", "width": 64, "word-bits": bits, "block-size": 64 // bits or 1,
            "read_bandwidth": dram_bw, "write_bandwidth": dram_bw}}],
        "subtree": [{
            "name": "chip",
            "attributes": {"technology": "45nm"},
            "local": [{"name": "GlobalBuffer", "class": "SRAM", "attributes": {
                "depth": max(1, target.sram_bytes * 8 // (bits * block)),
                "width": bits * block, "word-bits": bits, "block-size": block,
                "read_bandwidth": target.sram_words_per_cycle,
                "write_bandwidth": target.sram_words_per_cycle}}],
            "subtree": [{
                "name": f"PE[0..{pes - 1}]",
                "local": [{"name": "MACC", "class": "intmac", "attributes": {
                    "datawidth": bits, "meshX": target.array.cols}}],
            }],
        }],
    }]}}
    return _header(target, "Timeloop") + yaml.safe_dump(arch, sort_keys=False)


def _memory(size_bits: int, bw_bits: int, read_pj: float, write_pj: float, operands: list[str],
            ports: dict[str, str]) -> dict[str, Any]:
    """One ZigZag memory level serving `operands` over the whole array."""
    single = {"fh": ports["w"], "tl": ports["r"]}
    both = {**single, "fl": ports["w"], "th": ports["r"]}
    return {
        "size": size_bits, "r_bw": bw_bits, "w_bw": bw_bits,
        "r_cost": round(read_pj, 6), "w_cost": round(write_pj, 6), "area": 0,
        "r_port": 1 if ports["r"] == "r_port_1" else 0,
        "w_port": 1 if ports["w"] == "w_port_1" else 0,
        "rw_port": 1 if ports["r"] == "rw_port_1" else 0,
        "latency": 1, "operands": list(operands),  # fresh lists and dicts: no YAML aliases
        "ports": [dict(both if op == "O" else single) for op in operands],
        "served_dimensions": ["D1", "D2"],
    }


def zigzag_accelerator(target: ExportHardware) -> str:
    """A ZigZag 3.x accelerator YAML: SRAM and DRAM serving I1, I2, O; the PE array.

    Sizes and bandwidths are in bits (per cycle), costs in pJ per access of that width.
    """
    energy, bits = target.hardware.energy, target.word_bits
    sram_bw = target.sram_words_per_cycle * bits
    dram_bw = max(1, math.ceil(target.dram_words_per_cycle * bits))
    operands = ["I1", "I2", "O"]
    pj = 1e12 / 8  # J/byte -> pJ/bit
    accelerator = {
        "name": target.hardware.name or "accelsim_hardware",
        "memories": {
            "sram": _memory(target.sram_bytes * 8, sram_bw, energy.sram_read_byte * pj * sram_bw,
                            energy.sram_write_byte * pj * sram_bw, operands,
                            {"r": "r_port_1", "w": "w_port_1"}),
            "dram": _memory(10**10, dram_bw, energy.dram_read_byte * pj * dram_bw,
                            energy.dram_write_byte * pj * dram_bw, operands,
                            {"r": "rw_port_1", "w": "rw_port_1"}),
        },
        "operational_array": {
            "multiplier_energy": round(energy.mac * 1e12, 6), "multiplier_area": 1,
            "dimensions": ["D1", "D2"], "sizes": [target.array.rows, target.array.cols],
        },
    }
    return _header(target, "ZigZag") + yaml.safe_dump(accelerator, sort_keys=False)
