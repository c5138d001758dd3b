"""Entry point of the ONNX importer (accelsim.ir.onnx holds it, split by job)."""

from __future__ import annotations

from accelsim.ir.onnx import check_onnx, load_onnx, require_onnx, unsupported_nodes

__all__ = ["check_onnx", "load_onnx", "require_onnx", "unsupported_nodes"]
