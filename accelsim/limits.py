"""Finite bounds on what a model can ask for, checked before any work proportional to it.

A model file or ONNX graph can describe a network no machine can hold (an input of
100000 x 100000 pixels, a dense layer of 1e12 units, a repeat of 1e9 layers). The
scheduler allocates arrays proportional to a layer's rows and columns and the reference
executor allocates every tensor, so these limits are checked first and a network over
them is refused with one line naming the layer, the size and the limit (docs/config.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from accelsim.errors import ModelFileError

__all__ = [
    "MAX_AXIS_VALUES",
    "MAX_CHANNELS",
    "MAX_COUNTER",
    "MAX_DIM",
    "MAX_EXECUTED_ELEMENTS",
    "MAX_EXECUTED_MACS",
    "MAX_GRID_POINTS",
    "MAX_LAYERS",
    "MAX_LAYER_PARAMS",
    "MAX_NETWORK_MACS",
    "MAX_PADDING",
    "MAX_REPEAT",
    "MAX_SAMPLES",
    "MAX_TENSOR_ELEMENTS",
    "MAX_WINDOW",
    "check_executable",
    "check_model_options",
    "check_network_size",
]

#: Elements of one feature map (height x width x channels): 2**25 = 33,554,432.
MAX_TENSOR_ELEMENTS = 2**25
#: Weights and biases of one layer: 2**27 = 134,217,728.
MAX_LAYER_PARAMS = 2**27
#: Multiply-accumulates of the whole network per input: 1e13.
MAX_NETWORK_MACS = 10**13
#: Layers of a network after repeat blocks are expanded.
MAX_LAYERS = 10_000
#: Height or width of an input, in elements.
MAX_DIM = 16_384
#: Filters, units, groups, channels or classes of one layer.
MAX_CHANNELS = 65_536
#: Kernel or stride along one axis.
MAX_WINDOW = 1_024
#: Zero padding on one side.
MAX_PADDING = 1_024
#: Repetitions of one repeat block.
MAX_REPEAT = 1_000
#: Largest magnitude of a repeat block's first counter value.
MAX_COUNTER = 10**9
#: Elements of one tensor the reference executor (`accelsim verify`) holds: batch x feature map.
MAX_EXECUTED_ELEMENTS = 2**27
#: Multiply-accumulates the reference executor runs for one check: batch x network MACs.
MAX_EXECUTED_MACS = 10**11
#: Values of one sweep axis (each is validated as a whole run file).
MAX_AXIS_VALUES = 10_000
#: Points of a grid sweep (a resume keeps one flag per point in memory).
MAX_GRID_POINTS = 10**9
#: Samples of a random or Latin-hypercube sweep (each keeps a code per axis in memory).
MAX_SAMPLES = 10**7


class _SizedLayer(Protocol):
    """What the size check reads from a layer (accelsim.ir.layers.Layer has it)."""

    @property
    def name(self) -> str: ...
    @property
    def output_shape(self) -> Sequence[int]: ...
    @property
    def params(self) -> int: ...
    @property
    def macs(self) -> int: ...


def check_network_size(layers: Iterable[_SizedLayer], source: str) -> None:
    """Raise ModelFileError naming `source` and the layer when any limit above is exceeded."""
    total_macs = 0
    count = 0
    for layer in layers:
        count += 1
        elements = 1
        for dim in layer.output_shape:
            elements *= int(dim)
        shape = "x".join(str(d) for d in layer.output_shape)
        if elements > MAX_TENSOR_ELEMENTS:
            raise ModelFileError(
                f"{source}: layer {layer.name}: output {shape} has {elements:,} elements, over "
                f"the limit of {MAX_TENSOR_ELEMENTS:,} per feature map; use a smaller input "
                "or fewer channels")
        if layer.params > MAX_LAYER_PARAMS:
            raise ModelFileError(
                f"{source}: layer {layer.name}: {layer.params:,} weights, over the limit of "
                f"{MAX_LAYER_PARAMS:,} per layer")
        total_macs += layer.macs
    if count > MAX_LAYERS:
        raise ModelFileError(f"{source}: {count:,} layers, over the limit of {MAX_LAYERS:,}")
    if total_macs > MAX_NETWORK_MACS:
        raise ModelFileError(f"{source}: {total_macs:,} multiply-accumulates per input, over "
                             f"the limit of {MAX_NETWORK_MACS:,}")


def check_model_options(alpha: float, resolution: int | None, classes: int | None) -> None:
    """Upper bounds on the multipliers of a built-in model, as run files have them.

    Lower bounds (alpha > 0, resolution and classes >= 1) are the model builders' own checks.
    """
    if alpha > 4:  # infinity too
        raise ModelFileError(f"alpha: must be a number above 0 and at most 4, got {alpha!r}")
    if resolution is not None and resolution > MAX_DIM // 2:
        raise ModelFileError(f"resolution: must be an integer from 1 to {MAX_DIM // 2:,}, "
                             f"got {resolution!r}")
    if classes is not None and classes > MAX_CHANNELS:
        raise ModelFileError(f"classes: must be an integer from 1 to {MAX_CHANNELS:,}, "
                             f"got {classes!r}")


def check_executable(layers: Iterable[_SizedLayer], batch: int, source: str) -> None:
    """Refuse a reference execution whose tensors or MACs (x batch) are over the limits."""
    macs = 0
    for layer in layers:
        elements = batch
        for dim in layer.output_shape:
            elements *= int(dim)
        if elements > MAX_EXECUTED_ELEMENTS:
            raise ModelFileError(
                f"{source}: layer {layer.name}: batch {batch} x its output is {elements:,} "
                f"elements, over the {MAX_EXECUTED_ELEMENTS:,} the reference executor holds; "
                "verify with a smaller batch or input")
        macs += layer.macs * batch
    if macs > MAX_EXECUTED_MACS:
        raise ModelFileError(
            f"{source}: batch {batch} x the network is {macs:,} multiply-accumulates, over the "
            f"{MAX_EXECUTED_MACS:,} the reference executor runs; verify with a smaller batch "
            "or input")
