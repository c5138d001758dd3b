"""Pydantic models of run files and hardware configs: one declaration per field.

Every model is frozen and forbids unknown keys. Quantities accept unit strings
(see accelsim.units) and are stored in base units: bytes, bytes/s, MAC/s, Hz, s, J.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from accelsim.units import Kind, parse_quantity

__all__ = [
    "ComputeConfig",
    "DramConfig",
    "EnergyConfig",
    "HardwareConfig",
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
VectorRate = Annotated[float, _parsed("vector_rate"), _positive("vector_rate")]
#: Default vector unit: one element per cycle for every 16 MAC units of peak rate.
VECTOR_RATE_PER_MAC_RATE = 1 / 16
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
    #: elements/s of the vector unit (pools, element-wise ops, costly activations);
    #: default peak_mac_rate / 16.
    vector_rate: VectorRate | None = None

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

    @property
    def effective_vector_rate(self) -> float:
        """Elements/s of non-MAC work: vector_rate, else peak_mac_rate / 16."""
        if self.vector_rate is not None:
            return self.vector_rate
        return self.peak_mac_rate * VECTOR_RATE_PER_MAC_RATE


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
    """The accelerator: SRAM, DRAM, compute, precision and energy per event."""

    name: str | None = None
    sram: SramConfig
    dram: DramConfig
    compute: ComputeConfig
    precision: PrecisionConfig = PrecisionConfig()
    energy: EnergyConfig = EnergyConfig()


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
