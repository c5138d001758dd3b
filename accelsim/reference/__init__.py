"""The NumPy reference executor: float32 and integer execution of a Network, layer by layer."""

from __future__ import annotations

from accelsim.reference.executor import ExecResult, LayerOutput, run, run_layer
from accelsim.reference.quant import Precision, QuantLayer
from accelsim.reference.weights import params_for, random_params

__all__ = ["ExecResult", "LayerOutput", "Precision", "QuantLayer", "params_for",
           "random_params", "run", "run_layer"]
