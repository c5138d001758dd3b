"""Typed layer records: one frozen dataclass per node, with its shapes and counts.

Shapes are per-sample and channels-last: (H, W, C) for feature maps, (N,) for vectors.
Every count (MACs, weights, elements) is a plain property derived from the record, so
there is one formula per quantity and nothing to keep in sync.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from typing import Literal

from accelsim.ir.ops import OPS, traits
from accelsim.ir.ops.activation import FREE_ACTIVATIONS

__all__ = [
    "Activation",
    "Layer",
    "OP_NAMES",
    "Shape",
    "WEIGHTED_OPS",
    "POOL_OPS",
]

Shape = tuple[int, ...]
Activation = Literal["none", "relu", "relu6", "sigmoid", "hard_sigmoid", "hard_swish", "silu",
                     "leaky_relu"]

#: Every op name the IR knows (accelsim.ir.ops holds their traits). `depthwise_conv2d` is
#: a conv2d whose groups equal its input and output channels; it is its own op so reports
#: can tell the two apart.
OP_NAMES: tuple[str, ...] = tuple(OPS)
#: Ops that carry filters (weights) and do multiply-adds.
WEIGHTED_OPS: frozenset[str] = frozenset(name for name, t in OPS.items() if t.weighted)
#: Ops with a spatial window but no weights.
POOL_OPS: frozenset[str] = frozenset({"avg_pool", "max_pool", "global_avg_pool"})


@dataclass(frozen=True)
class Layer:
    """One node of the network graph: an operation, its inputs and its resolved shapes.

    `padding` is resolved to explicit (top, bottom, left, right) at construction, so
    later stages never re-derive TensorFlow `same` arithmetic (for conv_transpose it is
    the crop of the scattered output). `batch_norm` and `activation` record a batch-norm
    and a non-linearity fused into this layer, `act_params` the activation's parameters.
    `mode` is a resize's interpolation, `channel_range` a channel_slice's channels.
    `concat_copies` marks a concat that copies its inputs because they cannot all be views
    of its buffer (set by `Network.from_layers`; see accelsim.ir.ops.channels).
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: int = 1
    use_bias: bool = False
    batch_norm: bool = False
    activation: Activation = "none"
    act_params: tuple[float, ...] = ()
    mode: str = ""
    channel_range: tuple[int, int] = (0, 0)
    concat_copies: bool = False

    def __hash__(self) -> int:
        """The fields' hash, computed once: schedules key many caches on layers."""
        return self._hash

    @functools.cached_property
    def _hash(self) -> int:
        return hash(tuple(getattr(self, f.name) for f in fields(self)))

    def __getstate__(self) -> dict[str, object]:
        """The fields only: cached values stay behind (a string's hash differs between
        processes, so a cached hash must never travel)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    # ---- shapes -----------------------------------------------------------------
    @property
    def input_shape(self) -> Shape:
        """Shape of the first (for most ops, the only) input; () for the network input."""
        return self.input_shapes[0] if self.input_shapes else ()

    @property
    def in_channels(self) -> int:
        """Channels (last dimension) of the first input; for the input node, its output's."""
        shape = self.input_shape or self.output_shape
        return shape[-1]

    @property
    def out_channels(self) -> int:
        """Channels (last dimension) of the output."""
        return self.output_shape[-1]

    # ---- element counts -----------------------------------------------------------
    @property
    def input_elements(self) -> int:
        """Elements read from all inputs (one sample)."""
        return sum(math.prod(s) for s in self.input_shapes)

    @property
    def output_elements(self) -> int:
        """Elements of the output tensor (one sample)."""
        return math.prod(self.output_shape)

    # ---- weights --------------------------------------------------------------------
    @functools.cached_property
    def weight_count(self) -> int:
        """Filter or matrix coefficients (biases and batch-norm excluded; PReLU slopes)."""
        return traits(self.op).weight_count(self)

    @property
    def bias_count(self) -> int:
        """Bias terms (one per output channel when the layer has a bias)."""
        return self.out_channels if self.use_bias and self.op in WEIGHTED_OPS else 0

    @property
    def stores_bias(self) -> bool:
        """True when an accelerator keeps a per-channel bias for this layer: its own, or the
        one folding its batch-norm into the filters creates."""
        return self.op in WEIGHTED_OPS and (self.use_bias or self.batch_norm)

    @property
    def params(self) -> int:
        """Weights plus biases: the paper's parameter count for this layer."""
        return self.weight_count + self.bias_count

    @property
    def bn_params(self) -> int:
        """Batch-norm parameters: scale, shift, moving mean and variance per channel."""
        if self.op == "batch_norm" or self.batch_norm:
            return 4 * self.out_channels
        return 0

    # ---- work -----------------------------------------------------------------------
    @functools.cached_property
    def macs(self) -> int:
        """Multiply-accumulates of one sample (convs and dense only; pools and adds are 0)."""
        return traits(self.op).macs(self)

    @property
    def vector_elements(self) -> int:
        """Non-MAC element operations of one sample: the op's own plus a costly fused
        activation (relu and relu6 are free)."""
        own = traits(self.op).vector_elements(self)
        fused = self.activation not in FREE_ACTIVATIONS and self.op != "activation"
        return own + (self.output_elements if fused else 0)

    @property
    def is_weighted(self) -> bool:
        """True for layers with filters (convs, transposed convs, dense)."""
        return traits(self.op).weighted

    @property
    def is_spatial(self) -> bool:
        """True for ops whose tiles see a position-dependent padding (convs, pools, resize)."""
        return traits(self.op).spatial
