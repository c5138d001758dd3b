"""The network graph: a networkx DiGraph of Layer nodes, plus tensor lifetimes.

Each layer produces exactly one tensor, named after the layer; an edge u -> v means
v reads u's tensor. `Network.order` is the execution order used by every later stage.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from accelsim.errors import GraphError
from accelsim.ir.layers import Layer, Shape
from accelsim.ir.ops.channels import ChannelViews, mark_copies, plan_views

__all__ = ["Network", "Tensor"]


@dataclass(frozen=True)
class Tensor:
    """A feature map: its producer, every consumer (in execution order) and its size."""

    name: str
    shape: Shape
    producer: str
    consumers: tuple[str, ...]
    dtype: str = "float32"

    @property
    def elements(self) -> int:
        """Number of elements of one sample."""
        return math.prod(self.shape)

    def size_bits(self, bits_per_element: int) -> int:
        """Size in bits at the given element width."""
        return self.elements * bits_per_element


@dataclass(eq=False)
class Network:
    """A validated layer graph with a fixed execution order (equal only to itself, and
    hashable so later stages can keep facts per network).

    `params` optionally holds real weights per layer name (from ONNX or a weights file):
    {"weight": ..., "bias": ..., "bn_scale": ..., "bn_shift": ..., "bn_mean": ..., "bn_var": ...}.
    Shapes only are needed for simulation; the reference executor uses `params`.
    `missing_weights` names the weights a shapes-only ONNX file left out (then `params` is
    empty and executing the network needs its weights).
    """

    name: str
    graph: nx.DiGraph
    order: tuple[str, ...]
    params: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    bn_epsilon: float = 1e-3
    missing_weights: tuple[str, ...] = ()

    @classmethod
    def from_layers(
        cls,
        name: str,
        layers: list[Layer],
        params: Mapping[str, dict[str, np.ndarray]] | None = None,
        bn_epsilon: float = 1e-3,
    ) -> Network:
        """Build and check a network from layers listed in a valid execution order."""
        graph: nx.DiGraph = nx.DiGraph(name=name)
        for layer in layers:
            if layer.name in graph:
                raise GraphError(f"{name}: layer name {layer.name!r} is used twice")
            graph.add_node(layer.name, layer=layer)
        for layer in layers:
            for src in layer.inputs:
                if src not in graph:
                    raise GraphError(
                        f"{name}: layer {layer.name!r} reads unknown input {src!r}"
                    )
                graph.add_edge(src, layer.name)
        if not nx.is_directed_acyclic_graph(graph):
            cycle = nx.find_cycle(graph)
            path = " -> ".join(u for u, _ in cycle)
            raise GraphError(f"{name}: the graph has a cycle: {path} -> {cycle[0][0]}")
        position = {layer.name: i for i, layer in enumerate(layers)}
        order = tuple(nx.lexicographical_topological_sort(graph, key=position.__getitem__))
        for layer in mark_copies([graph.nodes[n]["layer"] for n in order]):
            graph.nodes[layer.name]["layer"] = layer
        net = cls(name, graph, order, dict(params or {}), bn_epsilon)
        net.check()
        return net

    # ---- access --------------------------------------------------------------------
    def layer(self, name: str) -> Layer:
        """The Layer record of node `name`."""
        return self._layers[name]

    @functools.cached_property
    def _layers(self) -> dict[str, Layer]:
        """Node name -> Layer record, read from the graph once (it is fixed when built)."""
        return {n: self.graph.nodes[n]["layer"] for n in self.order}

    def layers(self) -> Iterator[Layer]:
        """Layers in execution order."""
        return (self.layer(n) for n in self.order)

    def __len__(self) -> int:
        return len(self.order)

    @functools.cached_property
    def views(self) -> ChannelViews:
        """Which buffer every feature map lives in (concats and channel slices as views)."""
        return plan_views(list(self.layers()))

    @functools.cached_property
    def inputs(self) -> tuple[str, ...]:
        """Names of the network's input nodes (found once: the graph is fixed when built)."""
        return tuple(n for n in self.order if self.layer(n).op == "input")

    @functools.cached_property
    def outputs(self) -> tuple[str, ...]:
        """Names of nodes whose tensor no layer reads: the network's outputs."""
        return tuple(n for n in self.order if self.graph.out_degree(n) == 0)

    def tensors(self) -> dict[str, Tensor]:
        """Every tensor with its producer and its consumers in execution order."""
        return dict(self._tensors)

    @functools.cached_property
    def _tensors(self) -> dict[str, Tensor]:
        position = {n: i for i, n in enumerate(self.order)}
        result = {}
        for n in self.order:
            consumers = tuple(sorted(self.graph.successors(n), key=position.__getitem__))
            result[n] = Tensor(n, self.layer(n).output_shape, n, consumers)
        return result

    # ---- totals --------------------------------------------------------------------
    @property
    def total_macs(self) -> int:
        """Multiply-accumulates of conv and dense layers, one sample."""
        return sum(layer.macs for layer in self.layers())

    @property
    def total_params(self) -> int:
        """Conv and dense weights plus biases (batch-norm excluded)."""
        return sum(layer.params for layer in self.layers())

    @property
    def bn_params(self) -> int:
        """Batch-norm parameters (4 per channel: scale, shift, mean, variance)."""
        return sum(layer.bn_params for layer in self.layers())

    # ---- checks --------------------------------------------------------------------
    def check(self) -> None:
        """Raise GraphError naming the nodes if any layer's inputs disagree with its record."""
        if not self.inputs:
            raise GraphError(f"{self.name}: the network has no input layer")
        for layer in self.layers():
            actual = tuple(self.layer(src).output_shape for src in layer.inputs)
            if actual != layer.input_shapes:
                raise GraphError(
                    f"{self.name}: layer {layer.name!r} expects inputs {layer.input_shapes} "
                    f"but {list(layer.inputs)} produce {actual}"
                )
            for dim in layer.output_shape:
                if dim <= 0:
                    raise GraphError(
                        f"{self.name}: layer {layer.name!r} has an empty output "
                        f"{layer.output_shape}; the input resolution is too small"
                    )

    def structure(self) -> list[dict[str, Any]]:
        """Every layer's record as plain data, in order: used to compare two graphs."""
        from dataclasses import asdict

        return [asdict(layer) for layer in self.layers()]
