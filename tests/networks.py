"""Small networks shared by tests, each described where it is built."""

from __future__ import annotations

from accelsim.ir import NetworkBuilder
from accelsim.ir.graph import Network


def two_convs() -> Network:
    """input 8x8x4 -> 3x3 conv to 8 channels -> 1x1 conv to 8 channels (no batch-norm)."""
    b = NetworkBuilder("two")
    x = b.input("in", (8, 8, 4))
    x = b.conv2d("c1", x, 8, 3)
    b.conv2d("c2", x, 8, 1)
    return b.build()
