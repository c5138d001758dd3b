"""Small networks with concats and channel slices, shared by the placement and replay tests."""

from __future__ import annotations

import random

from accelsim.ir import NetworkBuilder
from accelsim.ir.graph import Network


def two_branch(output_concat: bool = False) -> Network:
    """in 8x8x4 -> two 1x1 convs to 8 channels -> concat (16) -> 1x1 conv to 8 channels
    (or, with `output_concat`, the concat is the network output)."""
    b = NetworkBuilder("two_branch")
    x = b.input("in", (8, 8, 4))
    k = b.concat("k", [b.conv2d("a", x, 8, 1), b.conv2d("b", x, 8, 1)])
    if not output_concat:
        b.conv2d("c", k, 8, 1)
    return b.build()


def dense_block(nested: bool = False, layers: int = 3) -> Network:
    """A DenseNet block on 8x8 maps: stem 3x3 conv to 8 channels, then per layer a 1x1
    bottleneck to 8 and a 3x3 conv adding 4 channels, each layer reading the concat of
    everything before it (torchvision re-concatenates [x0..xk]; `nested` concatenates the
    previous concat with the new features, as Keras does); a 1x1 transition to 8."""
    b = NetworkBuilder("dense_nested" if nested else "dense")
    feats = [b.conv2d("x0", b.input("in", (8, 8, 8)), 8, 3, batch_norm=True,
                      activation="relu")]
    joined = b.concat("cat0", feats[:1])
    for k in range(1, layers + 1):
        y = b.conv2d(f"b{k}", joined, 8, 1, batch_norm=True, activation="relu")
        feats.append(b.conv2d(f"x{k}", y, 4, 3, batch_norm=True, activation="relu"))
        joined = b.concat(f"cat{k}", [joined, feats[-1]] if nested else feats)
    b.conv2d("trans", joined, 8, 1, batch_norm=True, activation="relu")
    return b.build()


def crossed_concats() -> Network:
    """Two concats of the same maps in opposite orders: one buffer cannot hold both."""
    b = NetworkBuilder("crossed")
    x = b.input("in", (8, 8, 4))
    a, c = b.conv2d("a", x, 8, 1), b.conv2d("c", x, 8, 1)
    k1, k2 = b.concat("k1", [a, c]), b.concat("k2", [c, a])
    b.add("sum", [b.conv2d("y1", k1, 8, 1), b.conv2d("y2", k2, 8, 1)])
    return b.build()


def input_concat() -> Network:
    """The network input concatenated with a conv of it."""
    b = NetworkBuilder("input_concat")
    x = b.input("in", (8, 8, 4))
    b.conv2d("out", b.concat("k", [x, b.conv2d("a", x, 4, 3)]), 8, 1)
    return b.build()


def concat_residual() -> Network:
    """A two-branch concat added to a 16-channel map (a residual add reads the view)."""
    b = NetworkBuilder("concat_residual")
    x = b.input("in", (8, 8, 4))
    skip = b.conv2d("skip", x, 16, 1, activation="relu")
    k = b.concat("k", [b.conv2d("a", skip, 8, 3), b.conv2d("c", skip, 8, 1)])
    b.conv2d("head", b.add("sum", [k, skip]), 4, 1)
    return b.build()


def one_input_concat() -> Network:
    """A concat of a single map (ONNX exporters emit these)."""
    b = NetworkBuilder("one_input")
    x = b.input("in", (8, 8, 4))
    b.conv2d("out", b.concat("k", [b.conv2d("a", x, 8, 3)]), 4, 1)
    return b.build()


def sliced() -> Network:
    """A 16-channel map read through a channel slice of channels 4-12."""
    b = NetworkBuilder("sliced")
    x = b.conv2d("x", b.input("in", (8, 8, 4)), 16, 1)
    b.conv2d("y", b.channel_slice("s", x, 4, 12), 8, 1)
    return b.build()


def shuffle_block() -> Network:
    """ShuffleNetV2's split, branch, concat and shuffle: the concat copies (one input is a
    slice, already a view of another buffer)."""
    b = NetworkBuilder("shuffle")
    x = b.conv2d("x", b.input("in", (8, 8, 4)), 16, 1)
    left, right = b.channel_slice("l", x, 0, 8), b.channel_slice("r", x, 8, 16)
    branch = b.conv2d("branch", right, 8, 3, activation="relu")
    b.channel_shuffle("shuffle", b.concat("cat", [left, branch]), 2)
    return b.build()


def evicted_block() -> Network:
    """x0 (8 channels) waits in the concat's buffer while a 16-channel branch computes the
    concat's other input x1 (4 channels): in a small SRAM the buffer is evicted between."""
    b = NetworkBuilder("evicted_block")
    x = b.input("in", (8, 8, 4))
    x0 = b.conv2d("x0", x, 8, 1)
    x1 = b.conv2d("x1", b.conv2d("y1", x, 16, 1), 4, 1)
    b.conv2d("out", b.concat("k", [x0, x1]), 4, 1)
    return b.build()


VIEW_NETWORKS = (two_branch, dense_block, crossed_concats, input_concat, concat_residual,
                 one_input_concat, sliced, shuffle_block, evicted_block)


def random_network(seed: int, layers: int = 8) -> Network:
    """A random 8x8 graph of 1x1 and 3x3 convs, concats of random maps (repeats and the
    network input allowed), channel slices and residual adds, for invariant tests (maps
    nothing reads are network outputs)."""
    rng = random.Random(seed)
    b = NetworkBuilder(f"random_{seed}")
    maps = [b.input("in", (8, 8, 4))]
    for i in range(layers):
        kind = rng.choice(("conv", "conv", "concat", "concat", "slice", "add"))
        src = rng.choice(maps)
        channels = b.shape(src)[-1]
        if kind == "concat":
            picked = [rng.choice(maps) for _ in range(rng.randint(1, 3))]
            if sum(b.shape(m)[-1] for m in picked) <= 32:
                maps.append(b.concat(f"cat{i}", picked))
                continue
        if kind == "slice" and channels > 1:
            start = rng.randrange(channels - 1)
            maps.append(b.channel_slice(f"s{i}", src, start, rng.randint(start + 1, channels)))
            continue
        if kind == "add":
            same = [m for m in maps if b.shape(m) == b.shape(src) and m != src]
            if same:
                maps.append(b.add(f"add{i}", [src, rng.choice(same)]))
                continue
        maps.append(b.conv2d(f"conv{i}", src, rng.choice((4, 8)), rng.choice((1, 3))))
    return b.build()
