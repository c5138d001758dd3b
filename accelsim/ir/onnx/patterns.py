"""Exporter patterns folded into one layer: per-channel affine constants, batch-norms and
activation chains after a Conv, Gemm or MatMul (or an Add), and zero Pads merged into
convolutions. Fusions happen only when the producer's output has a single consumer and is
not a graph output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from accelsim.errors import ImportErrorOnnx
from accelsim.ir.onnx.state import CLAMP_OPS, ImportState

__all__ = ["SPECIAL_ACTIVATIONS", "Patterns"]

#: ONNX activations besides clamps, by IR activation kind.
SPECIAL_ACTIVATIONS: dict[str, str] = {"Sigmoid": "sigmoid", "HardSigmoid": "hard_sigmoid",
                                       "HardSwish": "hard_swish", "LeakyRelu": "leaky_relu"}


class Patterns(ImportState):
    """Recognise fusable node chains."""

    def _clamp(self, node: Any) -> tuple[float, float] | None:
        """The [low, high] a Relu, Clip or Min/Max-by-a-constant node clamps to, else None."""
        if node.op_type == "Relu":
            return (0.0, np.inf)
        if node.op_type == "Clip":
            attrs = self._attrs(node)
            low, high = float(attrs.get("min", -np.inf)), float(attrs.get("max", np.inf))
            inputs = list(node.input) + ["", ""]
            if inputs[1]:
                low = self._scalar(inputs[1], node, "Clip min")
            if inputs[2]:
                high = self._scalar(inputs[2], node, "Clip max")
            return (low, high)
        if node.op_type in ("Min", "Max") and len(node.input) == 2:
            bounds = [self.consts[self._resolve(t)] for t in node.input
                      if self._resolve(t) in self.consts]
            if len(bounds) != 1 or bounds[0].size != 1:
                return None
            value = float(bounds[0].reshape(-1)[0])
            return (-np.inf, value) if node.op_type == "Min" else (value, np.inf)
        return None

    def _clamp_chain(self, index: int | None) -> tuple[str, list[int]]:
        """The activation made by the longest clamp chain from node `index` and its nodes."""
        low, high = -np.inf, np.inf
        chain: list[int] = []
        best: tuple[str, list[int]] = ("none", [])
        while index is not None:
            node = self.graph.node[index]
            bounds = self._clamp(node) if node.op_type in CLAMP_OPS else None
            if bounds is None:
                break
            low, high = min(max(low, bounds[0]), bounds[1]), max(min(high, bounds[1]), bounds[0])
            chain.append(index)
            kind = {(0.0, np.inf): "relu", (0.0, 6.0): "relu6"}.get((low, high))
            if kind is not None:
                best = (kind, list(chain))
            index = self._sole_consumer(node.output[0])
        return best

    # ---- fusion --------------------------------------------------------------------------
    def _channel_const(self, node: Any, x: str, channels: int, rank: int) -> np.ndarray | None:
        """The per-channel vector a Mul/Add node applies to tensor x, else None."""
        if len(node.input) != 2 or node.op_type not in ("Mul", "Add"):
            return None
        other = [t for t in node.input if self._resolve(t) != self._resolve(x)]
        if len(other) != 1 or self._resolve(other[0]) not in self.consts:
            return None
        value = self.consts[self._resolve(other[0])].astype(np.float64)
        if value.size == 1:
            return np.full(channels, float(value.reshape(-1)[0]))
        if value.ndim > rank or value.size != channels:
            return None
        shape = (1,) * (rank - value.ndim) + value.shape
        return value.reshape(-1) if shape[1] == channels else None

    def _tail(self, tensor: str, channels: int, rank: int, affine: bool = True,
              bn: bool = True) -> dict[str, Any]:
        """Absorb following per-channel Mul/Add, BatchNormalization and activation nodes."""
        found: dict[str, Any] = {"out": tensor, "scale": None, "shift": None, "bn": None,
                                 "act": "none", "act_params": ()}
        index = self._sole_consumer(tensor)

        def absorb(i: int) -> int | None:
            self.done.add(i)
            found["out"] = self.graph.node[i].output[0]
            return self._sole_consumer(found["out"])

        while affine and index is not None:
            node = self.graph.node[index]
            vector = self._channel_const(node, found["out"], channels, rank)
            if vector is None:
                break
            scale = np.ones(channels) if found["scale"] is None else found["scale"]
            shift = np.zeros(channels) if found["shift"] is None else found["shift"]
            if node.op_type == "Mul":
                found["scale"], found["shift"] = scale * vector, shift * vector
            else:
                found["scale"], found["shift"] = scale, shift + vector
            index = absorb(index)
        if bn and index is not None and self.graph.node[index].op_type == "BatchNormalization":
            found["bn"] = self.graph.node[index]
            index = absorb(index)
        found["act"], chain = self._clamp_chain(index)
        for i in chain:
            absorb(i)
        if found["act"] == "none":
            special = self._special_activation(found["out"])
            if special is not None:
                found["act"], found["act_params"], nodes = special
                for i in nodes:
                    absorb(i)
        return found

    def _activation_params(self, node: Any) -> tuple[float, ...]:
        """The parameters of a HardSigmoid (alpha, beta) or LeakyRelu (alpha) node."""
        attrs = self._attrs(node)
        if node.op_type == "HardSigmoid":
            return (float(attrs.get("alpha", 0.2)), float(attrs.get("beta", 0.5)))
        if node.op_type == "LeakyRelu":
            return (float(attrs.get("alpha", 0.01)),)
        return ()

    def _special_activation(self, tensor: str) -> tuple[str, tuple[float, ...], list[int]
                                                        ] | None:
        """A sigmoid-like activation reading `tensor` alone, or x * gate(x) (SiLU,
        hard-swish): (kind, parameters, node indices), else None."""
        readers = self.consumers.get(tensor, [])
        if tensor in self.graph_outputs:
            return None
        if len(readers) == 1:
            node = self.graph.node[readers[0]]
            kind = SPECIAL_ACTIVATIONS.get(node.op_type)
            if kind is not None:
                return kind, self._activation_params(node), readers
        gated = self._self_gated(tensor)
        return (gated[0], (), gated[1]) if gated else None

    def _self_gated(self, tensor: str) -> tuple[str, list[int]] | None:
        """x * gate(x): `tensor` read exactly by a gate node and a Mul of it with the gate's
        output. Sigmoid makes SiLU; HardSigmoid(1/6, 0.5) hard-swish (how PyTorch writes
        Hardswish before opset 14). Returns (kind, [gate, Mul] node indices), else None."""
        readers = self.consumers.get(tensor, [])
        ops = {self.graph.node[i].op_type: i for i in readers}
        if len(readers) != 2 or "Mul" not in ops:
            return None
        gate_op = next((op for op in ("Sigmoid", "HardSigmoid") if op in ops), None)
        if gate_op is None:
            return None
        gate, mul = ops[gate_op], ops["Mul"]
        if gate_op == "HardSigmoid" and not np.allclose(
                self._activation_params(self.graph.node[gate]), (1 / 6, 0.5)):
            return None
        g_out = self.graph.node[gate].output[0]
        if (set(self.graph.node[mul].input) != {tensor, g_out} or g_out in self.graph_outputs
                or self.consumers.get(g_out) != [mul]):
            return None
        return ("silu" if gate_op == "Sigmoid" else "hard_swish"), [gate, mul]

    @staticmethod
    def _fold_affine(tail: dict[str, Any], weight: np.ndarray, bias: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
        """Weight (..., cout) and bias after the tail's per-channel scale and shift."""
        if tail["scale"] is None:
            return weight, bias
        scale, shift = tail["scale"], tail["shift"]
        base = np.zeros(len(scale)) if bias is None else bias.astype(np.float64)
        weight = (weight.astype(np.float64) * scale).astype(np.float32)
        return weight, (base * scale + shift).astype(np.float32)

    def _bn_vectors(self, node: Any, layer: str) -> dict[str, np.ndarray]:
        attrs = self._attrs(node)
        if attrs.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
            raise ImportErrorOnnx(f"{self._where(node)}: training-mode batch-norm "
                                  "(training_mode=1 or running-statistics outputs) is not "
                                  "supported; export the model in eval mode")
        self.bn_eps[layer] = float(attrs.get("epsilon", 1e-5))
        keys = ("bn_scale", "bn_shift", "bn_mean", "bn_var")
        return {
            key: self._const(t, node, key).astype(np.float32).reshape(-1)
            for key, t in zip(keys, node.input[1:5], strict=True)
        }


    def _pad(self, node: Any, name: str) -> None:
        """A zero Pad of H and W read only by Conv nodes: merged into their padding."""
        attrs = self._attrs(node)
        mode = attrs.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        inputs = list(node.input) + ["", "", ""]
        if self.opset < 11:
            pads, value = np.array(attrs.get("pads", [])), float(attrs.get("value", 0.0))
        else:
            pads = self._const(inputs[1], node, "pads").astype(np.int64).reshape(-1)
            value = self._scalar(inputs[2], node, "constant_value") if inputs[2] else 0.0
        self._layer(node.input[0], node)
        if inputs[3]:
            axes = [int(a) % 4 for a in self._const(inputs[3], node, "axes").reshape(-1)]
            full = np.zeros(8, np.int64)
            for i, a in enumerate(axes):
                full[a], full[a + 4] = pads[i], pads[i + len(axes)]
            pads = full
        readers = self._readers(node.output[0])
        if (mode != "constant" or value != 0 or len(pads) != 8 or pads[[0, 1, 4, 5]].any()
                or (pads < 0).any() or not readers or set(readers) != {"Conv"}):
            raise ImportErrorOnnx(
                f"{self._where(node)}: only a zero Pad of the spatial axes read by Conv nodes "
                f"is supported (merged into their padding); got mode {mode}, value {value}, "
                f"pads {pads.tolist()}, read by {sorted(set(readers))}"
            )
        top, left, bottom, right = (int(v) for v in pads[[2, 3, 6, 7]])
        self.pads[node.output[0]] = (self._resolve(node.input[0]), (top, bottom, left, right))

