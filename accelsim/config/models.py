"""Pydantic models of run files and hardware configs: one declaration per field.

Every model is frozen and forbids unknown keys. Quantities accept unit strings
(see accelsim.units) and are stored in base units: bytes, bytes/s, MAC/s, Hz, s, J.
Every number has finite bounds, stated in the error message and in docs/config.md; types
are strict: `batch: "4"`, `overlap: "yes"` and `overlap: 1` are errors, not coerced. The
docstring under each field is its description in the JSON Schema and docs/config.md.
"""

from __future__ import annotations

import functools
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
POLICIES: tuple[str, ...] = ("liveness", "accumulate", "fused")
DATAFLOWS: tuple[str, ...] = ("os", "ws", "is")


def _parsed(kind: Kind) -> BeforeValidator:
    """A validator reading unit strings of `kind` into base units."""
    return BeforeValidator(lambda v: parse_quantity(v, kind))


def _bounds(low: float, high: float, shown: str, kind: Kind | None = None,
            open_low: bool = False) -> tuple[AfterValidator, Any]:
    """Check low <= value <= high (low < value when `open_low`); `shown` states the range.

    Returns the validator and a Field carrying the bounds (and the unit kind) for the JSON
    schema, docs/config.md and sweeps.
    """
    def check(value: float) -> float:
        if not (low < value if open_low else low <= value) or value > high:
            raise ValueError(f"must be {shown}")
        return value

    extra: dict[str, Any] = {"exclusiveMinimum" if open_low else "minimum": low, "maximum": high,
                             "bounds": shown}
    if kind is not None:
        extra["unit_kind"] = kind
    return AfterValidator(check), Field(json_schema_extra=extra)


def _int_bounds(low: int, high: int) -> tuple[Any, AfterValidator, Any]:
    """A strict integer (no strings, floats or booleans) from `low` to `high`."""
    return Field(strict=True), *_bounds(low, high, f"an integer from {low:,} to {high:,}")


def _whole_bytes(v: float) -> int:
    """Sizes are whole bytes: '1.5 KiB' is fine, '0.3 B' is not."""
    if v != int(v):
        raise ValueError("must be a whole number of bytes")
    return int(v)


Size = Annotated[int, BeforeValidator(lambda v: _whole_bytes(parse_quantity(v, "size"))),
                 *_bounds(1, 2**40, "from 1 B to 1 TiB (1,099,511,627,776 bytes)", "size")]
Bandwidth = Annotated[float, _parsed("bandwidth"),
                      *_bounds(1e3, 1e15, "from 1 kB/s to 1 PB/s (1e3 to 1e15 bytes/s)",
                               "bandwidth")]
MacRate = Annotated[float, _parsed("mac_rate"),
                    *_bounds(1e3, 1e18, "from 1 kMAC/s to 1000 PMAC/s (1e3 to 1e18 MAC/s)",
                             "mac_rate")]
VectorRate = Annotated[float, _parsed("vector_rate"),
                       *_bounds(1e3, 1e18, "from 1 kelem/s to 1e18 elem/s", "vector_rate")]
#: Default vector unit: one element per cycle for every 16 MAC units of peak rate.
VECTOR_RATE_PER_MAC_RATE = 1 / 16
Frequency = Annotated[float, _parsed("frequency"),
                      *_bounds(1e3, 1e11, "from 1 kHz to 100 GHz", "frequency")]
Energy = Annotated[float, _parsed("energy"),
                   *_bounds(0.0, 1e-6, "from 0 to 1 uJ (1e-6 J) per event", "energy")]
Latency = Annotated[float, _parsed("time"), *_bounds(0.0, 1.0, "from 0 to 1 s", "time")]
Bits = Annotated[int, *_int_bounds(1, 64)]
PeCount = Annotated[int, *_int_bounds(1, 4096)]
Flag = Annotated[bool, Field(strict=True)]


class Strict(BaseModel):
    """Base: frozen, unknown keys rejected, no silent type coercion of strings to numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True,
                              use_attribute_docstrings=True)


class SramConfig(Strict):
    """On-chip buffer. capacity: bytes ('1 MB' = 1,000,000 B; '1 MiB' = 1,048,576 B)."""

    capacity: Size
    """On-chip buffer size in bytes; holds feature maps, filters and partial sums."""


class DramConfig(Strict):
    """External memory bus. bandwidth in bytes/s; latency added once per DRAM transfer."""

    bandwidth: Bandwidth
    """Sustained DRAM bandwidth in bytes/s (`1 GB/s` = 1e9 bytes/s, `8 Gb/s` the same)."""
    latency: Latency = 0.0
    """Fixed time added once per DRAM transfer, in seconds (`100 ns`)."""


class ComputeConfig(Strict):
    """Either an ideal `mac_rate` (MAC/s) or a PE array (pe_rows x pe_cols at `clock`)."""

    mac_rate: MacRate | None = None
    """Ideal compute rate in MAC/s (`500 GMAC/s`; `1 TOPS` = 0.5 TMAC/s); excludes a PE array."""
    pe_rows: PeCount | None = None
    """Rows of the processing-element array (with pe_cols and clock, instead of mac_rate)."""
    pe_cols: PeCount | None = None
    """Columns of the processing-element array."""
    clock: Frequency | None = None
    """PE-array clock in Hz (`500 MHz`); one MAC per PE per cycle."""
    dataflow: Literal["os", "ws", "is"] = "os"
    """PE-array dataflow: output (os), weight (ws) or input (is) stationary."""
    depthwise: Literal["channel", "spatial"] = "channel"
    """How a PE array runs depthwise convs: `channel`, one channel after another (SCALE-Sim);
    `spatial`, channels side by side across the columns (ZigZag's G unrolling)."""
    vector_rate: VectorRate | None = None
    """Elements/s of the vector unit (pools, element-wise ops, costly activations;
    `16 Gelem/s`); default peak MAC rate / 16."""

    @model_validator(mode="after")
    def _one_model(self) -> ComputeConfig:
        array = (self.pe_rows, self.pe_cols, self.clock)
        if self.mac_rate is not None and any(v is not None for v in array):
            raise ValueError("give either mac_rate or pe_rows/pe_cols/clock, not both")
        if self.mac_rate is None and any(v is None for v in array):
            raise ValueError("give mac_rate, or all of pe_rows, pe_cols and clock")
        if self.mac_rate is not None and self.depthwise != "channel":
            raise ValueError(f"depthwise: {self.depthwise} maps onto a PE array: give "
                             "pe_rows, pe_cols and clock instead of mac_rate")
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

    @property
    def effective_vector_rate(self) -> float:
        """Elements/s of non-MAC work: vector_rate, else peak_mac_rate / 16."""
        if self.vector_rate is not None:
            return self.vector_rate
        return self.peak_mac_rate * VECTOR_RATE_PER_MAC_RATE


class PrecisionConfig(Strict):
    """Element widths in bits: feature maps, weights, and the accumulator (partial sums)."""

    activation_bits: Bits = 8
    """Bits per feature-map element (input and output activations)."""
    weight_bits: Bits = 8
    """Bits per filter weight."""
    accumulator_bits: Bits = 32
    """Bits per partial sum held between accumulation steps."""


class EnergyConfig(Strict):
    """Energy per event in joules ('0.3 pJ'). Defaults: 45 nm figures of Horowitz (ISSCC 2014).

    mac: 8-bit multiply (0.2 pJ) + 32-bit add (0.1 pJ). SRAM: a 64-bit access to a
    1 MB-class array costs 100 pJ, i.e. 12.5 pJ/byte. DRAM: 1.3 nJ per 64-bit access,
    i.e. 162.5 pJ/byte (the low end of Horowitz's 1.3-2.6 nJ).
    """

    mac: Energy = 0.3e-12
    """Energy of one multiply-accumulate, in joules."""
    sram_read_byte: Energy = 12.5e-12
    """Energy of reading one byte from SRAM, in joules."""
    sram_write_byte: Energy = 12.5e-12
    """Energy of writing one byte to SRAM, in joules."""
    dram_read_byte: Energy = 162.5e-12
    """Energy of reading one byte from DRAM, in joules."""
    dram_write_byte: Energy = 162.5e-12
    """Energy of writing one byte to DRAM, in joules."""


class HardwareConfig(Strict):
    """The accelerator: on-chip memory (`sram` shorthand or `memory` levels), DRAM, compute,
    precision and energy per event."""

    name: str | None = None
    """A label for the hardware, shown in reports."""
    sram: SramConfig | None = None
    """The on-chip SRAM as one shared level (shorthand; or give `memory`)."""
    memory: tuple[MemoryLevel, ...] | None = None
    """On-chip levels, outermost (next to DRAM) first (or give the `sram` shorthand)."""
    dram: DramConfig
    """The external DRAM bus."""
    compute: ComputeConfig
    """The compute unit: an ideal MAC rate or a PE array."""
    precision: PrecisionConfig = PrecisionConfig()
    """Element widths in bits."""
    energy: EnergyConfig = EnergyConfig()
    """Energy per event (45 nm defaults)."""

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
            per_pe = [lv.name for lv in self.memory if lv.per_pe]
            if per_pe and not self.compute.is_pe_array:
                raise ValueError(f"memory: {per_pe[0]} is per_pe: storage in every PE needs a "
                                 "PE array (compute pe_rows, pe_cols, clock), not mac_rate")
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
        return _shared_sram(self.sram.capacity, self.energy.sram_read_byte,
                            self.energy.sram_write_byte)

    @property
    def sram_capacity(self) -> int:
        """Bytes of the on-chip store (the outermost levels, shared by the array)."""
        return sum(lv.capacity for lv in store_levels(self.levels))


@functools.lru_cache(maxsize=256)
def _shared_sram(capacity: int, read_energy: float, write_energy: float
                 ) -> tuple[MemoryLevel, ...]:
    """The `sram` shorthand's one level (a frozen record, made once per value: costing asks
    for the levels several times per simulation)."""
    return (MemoryLevel(name="sram", capacity=capacity, read_energy=read_energy,
                        write_energy=write_energy),)


class ModelRef(Strict):
    """Which network: a registry `name` with multipliers, or a `path` to a model/ONNX file."""

    name: str | None = None
    """A built-in model (see `accelsim models`); excludes path."""
    path: str | None = None
    """A model file (.yaml/.yml) or an ONNX file, relative to the run file; excludes name."""
    alpha: Annotated[float, Field(strict=True),
                     *_bounds(0.0, 4.0, "a number above 0 and at most 4", open_low=True)] = 1.0
    """Width multiplier of a built-in model (channels scaled by alpha)."""
    resolution: Annotated[int, *_int_bounds(1, 8192)] | None = None
    """Input height and width in pixels (default: the model's own)."""
    classes: Annotated[int, *_int_bounds(1, 65536)] | None = None
    """Output classes of a built-in model (default: the model's own)."""

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

    policy: Annotated[str, Field(strict=True, json_schema_extra={"enum": list(POLICIES)}),
                      AfterValidator(_check_policy)] = "liveness"
    """SRAM placement policy."""
    overlap: Flag = False
    """Overlap compute with DRAM transfers (double buffering), or add their times."""
    batch: Annotated[int, *_int_bounds(1, 4096)] = 1
    """Inputs processed together (filters are fetched once per batch)."""


class RunConfig(Strict):
    """A run file: what to simulate (model) on what (hardware) and how (simulation)."""

    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")]
    """Run name: letters, digits, `_`, `.` and `-`; the default report folder is reports/<name>/."""
    model: ModelRef
    """The network to simulate."""
    hardware: HardwareConfig
    """The accelerator, inline or the name of a hardware file (`hardware: edge_1mb.yaml`)."""
    simulation: SimulationConfig = SimulationConfig()
    """How to simulate: policy, overlap, batch."""
