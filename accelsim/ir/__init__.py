"""The intermediate representation: layer records, the network graph, builders, the zoo."""

from __future__ import annotations

from accelsim.ir.builder import NetworkBuilder
from accelsim.ir.graph import Network, Tensor
from accelsim.ir.layers import OP_NAMES, Layer, Shape
from accelsim.ir.zoo import MODELS, build_model

__all__ = ["Layer", "MODELS", "Network", "NetworkBuilder", "OP_NAMES", "Shape", "Tensor",
           "build_model"]
