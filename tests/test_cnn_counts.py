"""MobileNetV3 (zoo) and the bundled EfficientNet-B0, SqueezeNet 1.1 and U-Net model files:
parameters against torchvision's published counts, MACs against an independent count.

accelsim counts conv and dense weights plus biases as `total_params` and batch-norms
separately (`bn_params`: scale, shift, mean, variance per channel). torchvision's figures
count every learnable tensor: weights, biases and each batch-norm's scale and shift (its
running mean and variance are buffers), i.e. total_params + bn_params / 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.ir.modelfile import load_model_file
from accelsim.ir.zoo import V3_LARGE, V3_SMALL, build_model, make_divisible

MODELS = Path(__file__).parent.parent / "models"


def torchvision_params(net) -> int:
    return net.total_params + net.bn_params // 2


def conv(h: int, k: int, stride: int) -> int:
    """Output size of a PyTorch-padded ((k - 1) // 2) convolution."""
    return (h + 2 * ((k - 1) // 2) - k) // stride + 1


def v3_macs(table, last: int, resolution: int = 224, classes: int = 1000) -> int:
    """MobileNetV3 MACs from the bottleneck table, one formula per conv (torchvision)."""
    h = conv(resolution, 3, 2)
    macs = h * h * 16 * 27
    for cin, k, exp, cout, se, _, stride in table:
        if exp != cin:
            macs += h * h * cin * exp
        h = conv(h, k, stride)
        macs += h * h * exp * k * k
        if se:
            macs += 2 * exp * make_divisible(exp // 4)
        macs += h * h * exp * cout
    c = 6 * table[-1][3]
    return macs + h * h * table[-1][3] * c + c * last + last * classes


@pytest.mark.parametrize(("name", "table", "last", "published"), [
    ("mobilenet_v3_small", V3_SMALL, 1024, 2_542_856),
    ("mobilenet_v3_large", V3_LARGE, 1280, 5_483_032),
])
def test_mobilenet_v3_counts(name, table, last, published):
    net = build_model(name)
    assert torchvision_params(net) == published
    assert net.total_macs == v3_macs(table, last)
    # torchvision documents 0.06 and 0.22 GFLOPS (multiply-adds) for the two
    assert round(net.total_macs / 1e9, 2) == (0.06 if "small" in name else 0.22)


def test_mobilenet_v3_alpha_resolution_classes():
    net = build_model("mobilenet_v3_large", 0.5, 160, 10)
    assert net.layer(net.inputs[0]).output_shape == (160, 160, 3)
    assert net.layer("fc2").output_shape == (10,)
    assert net.layer("conv_stem").out_channels == make_divisible(16 * 0.5)


B0 = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
      (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]


def efficientnet_b0_macs() -> int:
    """MBConv by MBConv: expand, depthwise, squeeze-excite (two 1x1 convs), project."""
    h = conv(224, 3, 2)
    macs = h * h * 32 * 27
    for t, k, s, cin, cout, n in B0:
        for i in range(n):
            c_in, stride = (cin, s) if i == 0 else (cout, 1)
            exp = c_in * t
            macs += h * h * c_in * exp if t != 1 else 0
            h = conv(h, k, stride)
            macs += h * h * exp * k * k + 2 * exp * (c_in // 4) + h * h * exp * cout
    return macs + h * h * 320 * 1280 + 1280 * 1000


def squeezenet_macs() -> int:
    """conv1 3x3/2 (no padding), ceil-mode 3x3/2 pools, Fire modules, 1x1 classifier."""
    def pool(h: int) -> int:
        return -(-(h - 3) // 2) + 1
    h = (224 - 3) // 2 + 1
    macs, c = h * h * 64 * 27, 64
    h = pool(h)
    for item in [(16, 64), (16, 64), "pool", (32, 128), (32, 128), "pool", (48, 192),
                 (48, 192), (64, 256), (64, 256)]:
        if item == "pool":
            h = pool(h)
            continue
        squeeze, expand = item
        macs += h * h * (c * squeeze + squeeze * expand * (1 + 9))
        c = 2 * expand
    return macs + h * h * c * 1000


def test_model_files_match_published_counts():
    b0 = load_model_file(MODELS / "efficientnet_b0.yaml")
    assert torchvision_params(b0) == 5_288_548 and b0.total_macs == efficientnet_b0_macs()
    squeeze = load_model_file(MODELS / "squeezenet1_1.yaml")
    assert squeeze.total_params == 1_235_496 and squeeze.bn_params == 0
    assert squeeze.total_macs == squeezenet_macs()
    unet = load_model_file(MODELS / "unet_small.yaml")
    assert unet.layer(unet.outputs[0]).output_shape == (128, 128, 2)
    # transposed convs: every input pixel x out channels x 2 x 2 taps
    assert unet.layer("up1").macs == 32 * 64 * 64 * 16 * 4
