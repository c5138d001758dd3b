"""Export a network's workload to other accelerator tools: SCALE-Sim, Timeloop, ZigZag.

`export_network(net, fmt)` returns {file name: text}; writing them is the CLI's job.
Only conv, transposed-conv and dense layers are exported: pools, adds and the rest run on
a vector unit and cost 0 PE cycles (see docs/pe_array.md).
"""

from __future__ import annotations

from collections.abc import Callable

from accelsim.errors import ConfigError
from accelsim.export.scalesim import scalesim_config, scalesim_files
from accelsim.export.timeloop import timeloop_files
from accelsim.export.zigzag import zigzag_files
from accelsim.ir.graph import Network
from accelsim.sim.pe_array import PEArray

__all__ = ["DEFAULT_ARRAY", "FORMATS", "export_network", "scalesim_config"]

#: The array written to SCALE-Sim's scale.cfg when none is given.
DEFAULT_ARRAY = PEArray(32, 32, "os")

#: Format name -> exporter. Timeloop and ZigZag describe the workload only, so they
#: ignore the array.
FORMATS: dict[str, Callable[[Network, PEArray], dict[str, str]]] = {
    "scalesim": scalesim_files,
    "timeloop": lambda net, array: timeloop_files(net),
    "zigzag": lambda net, array: zigzag_files(net),
}


def export_network(net: Network, fmt: str, array: PEArray = DEFAULT_ARRAY) -> dict[str, str]:
    """The files (name -> text) describing `net` in format `fmt`."""
    try:
        exporter = FORMATS[fmt]
    except KeyError:
        raise ConfigError(
            f"unknown export format {fmt!r}; known formats: {', '.join(sorted(FORMATS))}"
        ) from None
    return exporter(net, array)
