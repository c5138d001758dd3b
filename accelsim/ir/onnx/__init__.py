"""Import an ONNX CNN as a Network with its weights, in modules by job.

ONNX tensors are NCHW with a batch dimension; the IR is per-sample NHWC, so an input
(N, C, H, W) becomes (H, W, C) and the batch size is ignored (it may be dynamic). An
input (N, H, W, C) read only through Transpose(perm 0, 3, 1, 2), as tf2onnx writes Keras
models, becomes (H, W, C) too. Weights are transposed to the layout of
`accelsim.reference.weights` and stored in `Network.params`.

- `state`: the tensor -> layer map and lookups; initializers without data (weights
  stripped, shapes kept) import as zeros and are listed in `Network.missing_weights`.
- `views`: layout-only ops (Transpose, Reshape, Flatten, ...) and the channel shuffle.
- `patterns`: fusions of exporter patterns (bias/batch-norm/activation tails, Pad).
- `handlers`: the operators that become layers.
- `constants`: constant folding with onnx.reference.
- `importer`: the node loop, `load_onnx` and `unsupported_nodes`.
"""

from __future__ import annotations

from accelsim.ir.onnx.importer import check_onnx, load_onnx, unsupported_nodes
from accelsim.ir.onnx.state import require_onnx

__all__ = ["check_onnx", "load_onnx", "require_onnx", "unsupported_nodes"]
