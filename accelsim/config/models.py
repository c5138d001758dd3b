"""Pydantic models of run files and hardware configs: one declaration per field.

Every model is frozen and forbids unknown keys. Quantities accept unit strings
(see accelsim.units) and are stored in base units: bytes, bytes/s, MAC/s, Hz, s, J.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from accelsim.config.memory import (
    MemoryLevel,
    check_levels,
    per_cycle_bandwidths,
    store_levels,
)
from accelsim.units import Kind, parse_quantity

__all__ = [
    "ComputeConfig",
    "DramConfig",
    "EnergyConfig",
    "HardwareConfig",
    "MemoryLevel",
    "ModelRef",
    "POLICIES",
    "PrecisionConfig",
    "RunConfig",
    "SimulationConfig",
    "SramConfig",
]

#: Placement policies; accelsim.mapping.POLICIES implements exactly these names.
POLICIES: tuple[str, ...] = ("liveness", "accumulate")
DATAFLOWS: tuple[str, ...] = ("os", "ws", "is")


def _parsed(kind: Kind) -> BeforeValidator:
    """A validator reading unit strings of `kind` into base units."""
    return BeforeValidator(lambda v: parse_quantity(v, kind))


def _positive(kind: Kind) -> Any:
    """Field constraint > 0, tagged with its unit kind for the JSON schema and sweeps."""
    return Field(gt=0, json_schema_extra={"unit_kind": kind})


def _whole_bytes(v: float) -> int:
    """Sizes are whole bytes: '1.5 KiB' is fine, '0.3 B' is not."""
    if v != int(v):
        raise ValueError("must be a whole number of bytes")
    return int(v)


Size = Annotated[int, BeforeValidator(lambda v: _whole_bytes(parse_quantity(v, "size"))),
                 _positive("size")]
Bandwidth = Annotated[float, _parsed("bandwidth"), _positive("bandwidth")]
MacRate = Annotated[float, _parsed("mac_rate"), _positive("mac_rate")]
Frequency = Annotated[float, _parsed("frequency"), _positive("frequency")]
Energy = Annotated[float, _parsed("energy"), Field(ge=0, json_schema_extra={"unit_kind": "energy"})]
Latency = Annotated[float, _parsed("time"), Field(ge=0, json_schema_extra={"unit_kind": "time"})]
Bits = Annotated[int, Field(ge=1, le=64)]


class Strict(BaseModel):
    """Base: frozen, unknown keys rejected, no silent type coercion of strings to numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class SramConfig(Strict):
    """On-chip buffer. capacity: bytes ('1 MB' = 1,000,000 B; '1 MiB' = 1,048,576 B)."""

    capacity: Size


class DramConfig(Strict):
    """External memory bus. bandwidth in bytes/s; latency added once per DRAM transfer."""

    bandwidth: Bandwidth
    latency: Latency = 0.0


class ComputeConfig(Strict):
    """Either an ideal `mac_rate` (MAC/s) or a PE array (pe_rows x pe_cols at `clock`)."""

    mac_rate: MacRate | None = None
    pe_rows: Annotated[int, Field(ge=1)] | None = None
    pe_cols: Annotated[int, Field(ge=1)] | None = None
    clock: Frequency | None = None
    dataflow: Literal["os", "ws", "is"] = "os"

    @model_validator(mode="after")
    def _one_model(self) -> ComputeConfig:
        array = (self.pe_rows, self.pe_cols, self.clock)
        if self.mac_rate is not None and any(v is not None for v in array):
            raise ValueError("give either mac_rate or pe_rows/pe_cols/clock, not both")
        if self.mac_rate is None and any(v is None for v in array):
            raise ValueError("give mac_rate, or all of pe_rows, pe_cols and clock")
        return self

    @property
    def is_pe_array(self) -> bool:
        """True when compute cycles come from the PE-array mapping model."""
        return self.mac_rate is None

    @property
    def peak_mac_rate(self) -> float:
        """Peak MAC/s: mac_rate, or rows x cols x clock for a PE array."""
        if self.mac_rate is not None:
            return self.mac_rate
        assert self.pe_rows and self.pe_cols and self.clock
        return self.pe_rows * self.pe_cols * self.clock


class PrecisionConfig(Strict):
    """Element widths in bits: feature maps, weights, and the accumulator (partial sums)."""

    activation_bits: Bits = 8
    weight_bits: Bits = 8
    accumulator_bits: Bits = 32


class EnergyConfig(Strict):
    """Energy per event in joules ('0.3 pJ'). Defaults: 45 nm figures of Horowitz (ISSCC 2014).

    mac: 8-bit multiply (0.2 pJ) + 32-bit add (0.1 pJ). SRAM: a 64-bit access to a
    1 MB-class array costs 100 pJ, i.e. 12.5 pJ/byte. DRAM: 1.3 nJ per 64-bit access,
    i.e. 162.5 pJ/byte (the low end of Horowitz's 1.3-2.6 nJ).
    """

    mac: Energy = 0.3e-12
    sram_read_byte: Energy = 12.5e-12
    sram_write_byte: Energy = 12.5e-12
    dram_read_byte: Energy = 162.5e-12
    dram_write_byte: Energy = 162.5e-12


class HardwareConfig(Strict):
    """The accelerator: on-chip memory (`sram` shorthand or `memory` levels), DRAM, compute,
    precision and energy per event."""

    name: str | None = None
    sram: SramConfig | None = None
    memory: tuple[MemoryLevel, ...] | None = None
    dram: DramConfig
    compute: ComputeConfig
    precision: PrecisionConfig = PrecisionConfig()
    energy: EnergyConfig = EnergyConfig()

    @model_validator(mode="before")
    @classmethod
    def _cycles_to_seconds(cls, data: Any) -> Any:
        if isinstance(data, dict) and "memory" in data:
            compute = data.get("compute")
            clock = compute.get("clock") if isinstance(compute, dict) else None
            data = {**data, "memory": per_cycle_bandwidths(data["memory"], clock)}
        return data

    @model_validator(mode="after")
    def _sram_or_memory(self) -> HardwareConfig:
        if (self.sram is None) == (self.memory is None):
            raise ValueError("give exactly one of sram (one shared buffer) or memory (a list "
                             "of levels)")
        if self.memory is not None:
            check_levels(self.memory)
            flat = [f for f in ("sram_read_byte", "sram_write_byte")
                    if getattr(self.energy, f) != EnergyConfig.model_fields[f].default]
            if flat:
                raise ValueError(f"energy.{flat[0]} applies to the sram shorthand; with "
                                 "memory levels give read_energy/write_energy per level")
        return self

    @property
    def levels(self) -> tuple[MemoryLevel, ...]:
        """The on-chip levels; `sram` is one shared level at energy.sram_*_byte per byte."""
        if self.memory is not None:
            return self.memory
        assert self.sram is not None
        return (MemoryLevel(name="sram", capacity=self.sram.capacity,
                            read_energy=self.energy.sram_read_byte,
                            write_energy=self.energy.sram_write_byte),)

    @property
    def sram_capacity(self) -> int:
        """Bytes of the on-chip store (the outermost levels, shared by the array)."""
        return sum(lv.capacity for lv in store_levels(self.levels))


class ModelRef(Strict):
    """Which network: a registry `name` with multipliers, or a `path` to a model/ONNX file."""

    name: str | None = None
    path: str | None = None
    alpha: Annotated[float, Field(gt=0)] = 1.0
    resolution: Annotated[int, Field(ge=1)] | None = None
    classes: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _name_or_path(self) -> ModelRef:
        if (self.name is None) == (self.path is None):
            raise ValueError("give exactly one of name (a built-in model) or path (a file)")
        return self


def _check_policy(value: str) -> str:
    if value not in POLICIES:
        raise ValueError(f"must be one of {', '.join(POLICIES)}, got {value!r}")
    return value


class SimulationConfig(Strict):
    """How to simulate: placement policy, compute/transfer overlap, batch size."""

    policy: Annotated[str, AfterValidator(_check_policy)] = "liveness"
    overlap: bool = False
    batch: Annotated[int, Field(ge=1)] = 1


class RunConfig(Strict):
    """A run file: what to simulate (model) on what (hardware) and how (simulation)."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")]
    model: ModelRef
    hardware: HardwareConfig
    simulation: SimulationConfig = SimulationConfig()
