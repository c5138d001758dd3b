"""Pooling: avg_pool, max_pool (windowed; ceil_mode is resolved into bottom/right padding
by the builder), global_avg_pool. A global max pool is a max_pool whose window is the map.

Vector work: one add or compare per window element of every output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accelsim.ir.ops.traits import OpTraits, window_padding, window_span

if TYPE_CHECKING:
    from accelsim.ir.layers import Layer

__all__ = ["POOL_OPS"]


def _window_work(layer: Layer) -> int:
    return layer.output_elements * layer.kernel[0] * layer.kernel[1]


POOL_OPS: tuple[OpTraits, ...] = (
    OpTraits("avg_pool", "average pooling (divides by the real inputs of each window)",
             vector_elements=_window_work, spatial=True, input_span=window_span,
             tile_padding=window_padding, onnx_ops=("AveragePool",)),
    OpTraits("max_pool", "max pooling (also global max pooling)", vector_elements=_window_work,
             spatial=True, input_span=window_span, tile_padding=window_padding,
             onnx_ops=("MaxPool", "GlobalMaxPool")),
    OpTraits("global_avg_pool", "mean over rows and columns", vector_elements=lambda layer:
             layer.input_elements, spatial=True, input_span=window_span,
             tile_padding=window_padding, onnx_ops=("GlobalAveragePool", "ReduceMean")),
)
