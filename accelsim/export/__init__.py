"""Export a network's workload to other accelerator tools: SCALE-Sim, Timeloop, ZigZag.

`export_network(net, fmt)` returns {file name: text}; writing them is the CLI's job.
Only conv, transposed-conv and dense layers are exported: pools, adds and the rest run on
a vector unit and cost 0 PE cycles (see docs/pe_array.md). Given a run's hardware, each
format also gets it: SCALE-Sim's scale.cfg, Timeloop's arch.yaml, ZigZag's accelerator YAML.
"""

from __future__ import annotations

from collections.abc import Callable

from accelsim.config.models import HardwareConfig
from accelsim.errors import ConfigError
from accelsim.export.hardware import ExportHardware, export_hardware, timeloop_arch
from accelsim.export.scalesim import scalesim_config, scalesim_files
from accelsim.export.timeloop import timeloop_files
from accelsim.export.zigzag import zigzag_files
from accelsim.ir.graph import Network
from accelsim.sim.pe_array import PEArray

__all__ = ["DEFAULT_ARRAY", "FORMATS", "export_network", "scalesim_config"]

#: The array written to SCALE-Sim's scale.cfg when none is given.
DEFAULT_ARRAY = PEArray(32, 32, "os")



def _timeloop(net: Network, array: PEArray, target: ExportHardware | None) -> dict[str, str]:
    """Problem files, and arch.yaml when the run's hardware is known."""
    files = timeloop_files(net)
    return files if target is None else {**files, "arch.yaml": timeloop_arch(target)}


#: Format name -> exporter of (network, array, the run's hardware or None).
FORMATS: dict[str, Callable[[Network, PEArray, ExportHardware | None], dict[str, str]]] = {
    "scalesim": scalesim_files,
    "timeloop": _timeloop,
    "zigzag": lambda net, array, target: zigzag_files(net, target),
}


def export_network(net: Network, fmt: str, array: PEArray = DEFAULT_ARRAY,
                   hardware: HardwareConfig | None = None) -> dict[str, str]:
    """The files (name -> text) describing `net` in format `fmt`, with `hardware` if given.

    `array` is the PE array of SCALE-Sim's scale.cfg without hardware, and the array an
    ideal mac_rate is written as with it.
    """
    try:
        exporter = FORMATS[fmt]
    except KeyError:
        raise ConfigError(
            f"unknown export format {fmt!r}; known formats: {', '.join(sorted(FORMATS))}"
        ) from None
    return exporter(net, array, None if hardware is None else export_hardware(hardware, array))
