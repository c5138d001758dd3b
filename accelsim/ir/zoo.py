"""Built-in networks: MobileNet v1 (and its Table 4/5 variants), the CIFAR MobileNet, V2, V3.

Each builder takes (alpha, resolution, classes) and returns a Network whose convs carry
a fused batch-norm and activation, as the papers' counting convention assumes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from accelsim.errors import GraphError
from accelsim.ir.builder import NetworkBuilder
from accelsim.ir.graph import Network

__all__ = ["MODELS", "ModelSpec", "build_model", "make_divisible"]

# (output channels, depthwise stride) of MobileNet v1's 13 separable blocks: paper
# Table 1, with the last depthwise stride 1 as the reference implementation has it.
V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)
# The CIFAR network of the 004 document's Table 1 (28x28x3 input).
CIFAR_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (64, 2), (128, 1), (256, 1), (256, 1), (256, 1),
    (256, 1), (256, 1), (256, 1), (256, 1), (256, 1), (256, 1), (256, 2),
)
# MobileNetV2 bottleneck table: expansion t, channels c, repeats n, first stride s.
V2_BOTTLENECKS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)

# MobileNetV3 bottlenecks (torchvision's table): input channels, kernel, expanded channels,
# output channels, squeeze-excite, activation (RE relu, HS hard-swish), stride.
V3Row = tuple[int, int, int, int, bool, str, int]
V3_SMALL: tuple[V3Row, ...] = (
    (16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2),
    (24, 3, 88, 24, False, "RE", 1), (24, 5, 96, 40, True, "HS", 2),
    (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1),
    (48, 5, 288, 96, True, "HS", 2), (96, 5, 576, 96, True, "HS", 1),
    (96, 5, 576, 96, True, "HS", 1),
)
V3_LARGE: tuple[V3Row, ...] = (
    (16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2),
    (24, 3, 72, 24, False, "RE", 1), (24, 5, 72, 40, True, "RE", 2),
    (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to the nearest multiple of `divisor`, never 10% below it.

    This is the rounding of the MobileNetV2 reference implementation.
    """
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def _check_alpha(alpha: float) -> None:
    if not (alpha > 0 and math.isfinite(alpha)):
        raise GraphError(f"alpha (width multiplier) must be a finite number > 0, got {alpha}")


def _v1_family(
    name: str, blocks: tuple[tuple[int, int], ...], alpha: float, resolution: int, classes: int,
    first_stride: int, separable: bool = True,
) -> Network:
    """MobileNet v1 body: a 3x3 conv to 32 channels, then separable (or full) 3x3 blocks."""
    _check_alpha(alpha)
    if int(32 * alpha) < 1:  # the narrowest layer; every other one has more channels
        raise GraphError(f"alpha {alpha} is too small for {name}: conv1 would get "
                         f"int(32 x {alpha}) = 0 channels (alpha must be >= 1/32)")
    b = NetworkBuilder(name)
    x = b.input("input", (resolution, resolution, 3))
    x = b.conv2d("conv1", x, int(32 * alpha), 3, first_stride, batch_norm=True,
                 activation="relu")
    for i, (channels, stride) in enumerate(blocks, start=1):
        out = int(channels * alpha)
        if separable:
            x = b.depthwise_conv2d(f"conv_dw_{i}", x, 3, stride, batch_norm=True,
                                   activation="relu")
            x = b.conv2d(f"conv_pw_{i}", x, out, 1, batch_norm=True, activation="relu")
        else:
            x = b.conv2d(f"conv_{i}", x, out, 3, stride, batch_norm=True, activation="relu")
    h, w, _ = b.shape(x)
    x = b.pool("avg_pool", x, "avg_pool", (h, w))
    x = b.dense("fc", x, classes)
    b.softmax("softmax", x)
    return b.build()


def mobilenet_v1(alpha: float = 1.0, resolution: int = 224, classes: int = 1000) -> Network:
    """MobileNet v1 (Howard et al. 2017, Table 1), width alpha, input resolution^2 x 3."""
    return _v1_family("mobilenet_v1", V1_BLOCKS, alpha, resolution, classes, first_stride=2)


def mobilenet_v1_conv(alpha: float = 1.0, resolution: int = 224, classes: int = 1000) -> Network:
    """MobileNet v1 with every separable block replaced by a full 3x3 conv (Table 4)."""
    return _v1_family("mobilenet_v1_conv", V1_BLOCKS, alpha, resolution, classes,
                      first_stride=2, separable=False)


def mobilenet_v1_shallow(
    alpha: float = 1.0, resolution: int = 224, classes: int = 1000
) -> Network:
    """MobileNet v1 without the five 14x14x512 separable blocks (Table 5)."""
    blocks = V1_BLOCKS[:6] + V1_BLOCKS[11:]
    return _v1_family("mobilenet_v1_shallow", blocks, alpha, resolution, classes,
                      first_stride=2)


def mobilenet_v1_cifar(alpha: float = 1.0, resolution: int = 28, classes: int = 10) -> Network:
    """The CIFAR-10 MobileNet of the 004 document: stride-1 first conv, 28x28x3 input."""
    return _v1_family("mobilenet_v1_cifar", CIFAR_BLOCKS, alpha, resolution, classes,
                      first_stride=1)


def mobilenet_v2(alpha: float = 1.0, resolution: int = 224, classes: int = 1000) -> Network:
    """MobileNetV2 (Sandler et al. 2018): inverted residual bottlenecks, ReLU6, linear outputs."""
    _check_alpha(alpha)
    b = NetworkBuilder("mobilenet_v2")
    x = b.input("input", (resolution, resolution, 3))
    channels = make_divisible(32 * alpha)
    x = b.conv2d("conv1", x, channels, 3, 2, batch_norm=True, activation="relu6")
    block = 0
    for t, c, n, s in V2_BOTTLENECKS:
        out = make_divisible(c * alpha)
        for i in range(n):
            block += 1
            stride = s if i == 0 else 1
            y = x
            if t != 1:
                y = b.conv2d(f"block{block}_expand", y, channels * t, 1, batch_norm=True,
                             activation="relu6")
            y = b.depthwise_conv2d(f"block{block}_dw", y, 3, stride, batch_norm=True,
                                   activation="relu6")
            y = b.conv2d(f"block{block}_project", y, out, 1, batch_norm=True)
            if stride == 1 and channels == out:
                y = b.add(f"block{block}_add", [x, y])
            x, channels = y, out
    last = make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    x = b.conv2d("conv_last", x, last, 1, batch_norm=True, activation="relu6")
    x = b.global_avg_pool("avg_pool", x)
    x = b.dense("fc", x, classes)
    b.softmax("softmax", x)
    return b.build()


def _mobilenet_v3(name: str, table: tuple[V3Row, ...], last: int, alpha: float,
                  resolution: int, classes: int) -> Network:
    """MobileNetV3 (Howard et al. 2019) as torchvision builds it: channels rounded with
    make_divisible(c * alpha), PyTorch padding (k - 1) // 2, squeeze-excite of
    make_divisible(expanded / 4) channels with a hard-sigmoid gate, hard-swish head."""
    _check_alpha(alpha)
    b = NetworkBuilder(name)
    x = b.input("input", (resolution, resolution, 3))
    x = b.conv2d("conv_stem", x, make_divisible(16 * alpha), 3, 2, 1, batch_norm=True,
                 activation="hard_swish")
    for i, (cin, k, exp, cout, se, act, stride) in enumerate(table, start=1):
        cin, exp, cout = (make_divisible(c * alpha) for c in (cin, exp, cout))
        kind = "hard_swish" if act == "HS" else "relu"
        y = x
        if exp != cin:
            y = b.conv2d(f"block{i}_expand", y, exp, 1, batch_norm=True, activation=kind)
        y = b.depthwise_conv2d(f"block{i}_dw", y, k, stride, (k - 1) // 2, batch_norm=True,
                               activation=kind)
        if se:
            squeeze = make_divisible(exp // 4)
            s = b.global_avg_pool(f"block{i}_se_pool", y)
            s = b.conv2d(f"block{i}_se_fc1", s, squeeze, 1, use_bias=True, activation="relu")
            s = b.conv2d(f"block{i}_se_fc2", s, exp, 1, use_bias=True,
                         activation="hard_sigmoid")
            y = b.mul(f"block{i}_se_scale", [s, y])  # torchvision: scale * input
        y = b.conv2d(f"block{i}_project", y, cout, 1, batch_norm=True)
        if stride == 1 and cin == cout:
            y = b.add(f"block{i}_add", [x, y])
        x = y
    channels = 6 * make_divisible(table[-1][3] * alpha)
    x = b.conv2d("conv_last", x, channels, 1, batch_norm=True, activation="hard_swish")
    x = b.global_avg_pool("avg_pool", x)
    x = b.dense("fc1", x, make_divisible(last * alpha), activation="hard_swish")
    x = b.dense("fc2", x, classes)
    b.softmax("softmax", x)
    return b.build(bn_epsilon=1e-3)


def mobilenet_v3_small(alpha: float = 1.0, resolution: int = 224, classes: int = 1000
                       ) -> Network:
    """MobileNetV3-Small (torchvision's mobilenet_v3_small, width alpha)."""
    return _mobilenet_v3("mobilenet_v3_small", V3_SMALL, 1024, alpha, resolution, classes)


def mobilenet_v3_large(alpha: float = 1.0, resolution: int = 224, classes: int = 1000
                       ) -> Network:
    """MobileNetV3-Large (torchvision's mobilenet_v3_large, width alpha)."""
    return _mobilenet_v3("mobilenet_v3_large", V3_LARGE, 1280, alpha, resolution, classes)


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: the builder and its default resolution and classes."""

    builder: Callable[[float, int, int], Network]
    resolution: int
    classes: int
    description: str


MODELS: dict[str, ModelSpec] = {
    "mobilenet_v1": ModelSpec(mobilenet_v1, 224, 1000, "MobileNet v1 (paper Table 1)"),
    "mobilenet_v1_conv": ModelSpec(mobilenet_v1_conv, 224, 1000,
                                   "MobileNet v1 with full 3x3 convolutions (Table 4)"),
    "mobilenet_v1_shallow": ModelSpec(mobilenet_v1_shallow, 224, 1000,
                                      "MobileNet v1 without the 5 14x14x512 blocks (Table 5)"),
    "mobilenet_v1_cifar": ModelSpec(mobilenet_v1_cifar, 28, 10,
                                    "CIFAR-10 MobileNet of the 004 report (28x28x3)"),
    "mobilenet_v2": ModelSpec(mobilenet_v2, 224, 1000, "MobileNetV2 (inverted residuals)"),
    "mobilenet_v3_small": ModelSpec(mobilenet_v3_small, 224, 1000,
                                    "MobileNetV3-Small (squeeze-excite, hard-swish)"),
    "mobilenet_v3_large": ModelSpec(mobilenet_v3_large, 224, 1000,
                                    "MobileNetV3-Large (squeeze-excite, hard-swish)"),
}


def build_model(
    name: str, alpha: float = 1.0, resolution: int | None = None, classes: int | None = None
) -> Network:
    """Build a registered model; unknown names raise GraphError listing the known ones."""
    try:
        spec = MODELS[name]
    except KeyError:
        raise GraphError(
            f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}"
        ) from None
    if resolution is not None and resolution < 1:
        raise GraphError(f"resolution must be >= 1, got {resolution}")
    if classes is not None and classes < 1:
        raise GraphError(f"classes must be >= 1, got {classes}")
    return spec.builder(
        alpha, resolution if resolution is not None else spec.resolution,
        classes if classes is not None else spec.classes,
    )
