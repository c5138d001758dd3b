"""The zoo's MACs and parameters against an independent count and the papers' figures.

The expected numbers are computed here from the papers' block tables with the
depthwise-separable formulas (Howard et al. 2017, section 3.1):
depthwise D_K^2 * M * D_F^2, pointwise M * N * D_F^2, full conv D_K^2 * M * N * D_F^2,
where D_F is the output size: ceil(input / stride) for TensorFlow `same` padding.
"""

from __future__ import annotations

import math

import pytest

from accelsim.ir.zoo import build_model

# Paper Table 1: (output channels, depthwise stride) of the 13 separable blocks.
V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
      (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]
# Table 5's shallow net drops the five 14x14x512 blocks (blocks 7-11).
V1_SHALLOW = V1[:6] + V1[11:]
# 004 report, Table 1 (CIFAR-10, 28x28x3 input, stride-1 first conv).
CIFAR = [(64, 1), (64, 2), (128, 1), (256, 1), (256, 1), (256, 1),
         (256, 1), (256, 1), (256, 1), (256, 1), (256, 1), (256, 1), (256, 2)]


def v1_counts(
    blocks: list[tuple[int, int]], alpha: float, res: int, classes: int, first_stride: int = 2,
    separable: bool = True,
) -> tuple[int, int, int]:
    """(conv + FC MACs, conv + FC params incl. FC bias, batch-norm params) by formula."""
    c = int(32 * alpha)
    f = math.ceil(res / first_stride)
    macs = 3 * 3 * 3 * c * f * f  # first conv: D_K^2 * 3 * c * D_F^2
    params = 3 * 3 * 3 * c
    bn = 4 * c
    for channels, stride in blocks:
        n = int(channels * alpha)
        f = math.ceil(f / stride)
        if separable:
            macs += 3 * 3 * c * f * f + c * n * f * f
            params += 3 * 3 * c + c * n
            bn += 4 * c + 4 * n
        else:
            macs += 3 * 3 * c * n * f * f
            params += 3 * 3 * c * n
            bn += 4 * n
        c = n
    fc_macs = c * classes
    return macs + fc_macs, params + c * classes + classes, bn


# (model, alpha, resolution, separable blocks, paper mult-adds M, paper params M)
PAPER_ROWS = [
    ("mobilenet_v1", 1.0, 224, V1, 569, "4.2"),
    ("mobilenet_v1", 0.75, 224, V1, 325, "2.6"),
    ("mobilenet_v1", 0.5, 224, V1, 149, "1.3"),
    ("mobilenet_v1", 0.25, 224, V1, 41, "0.5"),
    ("mobilenet_v1", 1.0, 192, V1, 418, "4.2"),
    ("mobilenet_v1", 1.0, 160, V1, 290, "4.2"),
    ("mobilenet_v1", 1.0, 128, V1, 186, "4.2"),
    ("mobilenet_v1", 0.5, 160, V1, 76, "1.32"),
    ("mobilenet_v1_shallow", 1.0, 224, V1_SHALLOW, 307, "2.9"),
]


@pytest.mark.parametrize(("model", "alpha", "res", "blocks", "paper_macs", "paper_params"),
                         PAPER_ROWS)
def test_v1_rows_match_formula_and_paper(
    model: str, alpha: float, res: int, blocks: list[tuple[int, int]], paper_macs: int,
    paper_params: str,
) -> None:
    net = build_model(model, alpha, res)
    macs, params, bn = v1_counts(blocks, alpha, res, 1000)
    assert (net.total_macs, net.total_params, net.bn_params) == (macs, params, bn)
    # The paper rounds mult-adds to whole millions, sometimes down (290.68 -> 290,
    # 76.52 -> 76) and sometimes to nearest (568.74 -> 569): accept either.
    assert math.floor(macs / 1e6) <= paper_macs <= math.ceil(macs / 1e6)
    # Parameters are rounded to nearest at the paper's precision (0.1 M, or 0.01 M).
    decimals = len(paper_params.split(".")[1])
    assert round(params / 1e6, decimals) == float(paper_params)


def test_conv_mobilenet_row() -> None:
    net = build_model("mobilenet_v1_conv")
    macs, params, bn = v1_counts(V1, 1.0, 224, 1000, separable=False)
    assert (net.total_macs, net.total_params, net.bn_params) == (macs, params, bn)
    assert round(params / 1e6, 1) == 29.3
    # Counted: 4867.3 M. The paper prints 4866, which is the count without the FC layer's
    # 1024 * 1000 = 1.024 M multiply-adds; so the figure agrees to within 0.05 %.
    assert abs(macs / 1e6 - 4866) / 4866 < 0.0005
    assert round((macs - 1024 * 1000) / 1e6) == 4866


def test_v1_224_params_with_batch_norm_and_last_shape() -> None:
    net = build_model("mobilenet_v1")
    # conv + FC weights + FC bias, plus 4 batch-norm vectors per conv output channel
    assert net.total_params + net.bn_params == 4_253_864
    assert net.layer("conv_pw_13").output_shape == (7, 7, 1024)


def test_mobilenet_v2_224() -> None:
    # Body table of the MobileNetV2 paper: expansion t, channels c, repeats n, stride s.
    table = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    c, f = 32, 112  # first conv: 3x3 stride 2 to 32 channels, 224 -> 112
    macs, weights, bn_channels = 3 * 3 * 3 * c * f * f, 3 * 3 * 3 * c, c
    for t, out, n, s in table:
        for i in range(n):
            hidden = c * t
            if t != 1:  # 1x1 expansion
                macs += c * hidden * f * f
                weights += c * hidden
                bn_channels += hidden
            f = math.ceil(f / (s if i == 0 else 1))
            macs += 3 * 3 * hidden * f * f + hidden * out * f * f  # depthwise + projection
            weights += 3 * 3 * hidden + hidden * out
            bn_channels += hidden + out
            c = out
    macs += c * 1280 * f * f + 1280 * 1000  # last 1x1 conv to 1280 at 7x7, then FC
    weights += c * 1280 + 1280 * 1000
    bn_channels += 1280
    assert (macs, weights) == (300_774_272, 3_469_760)
    net = build_model("mobilenet_v2")
    assert net.total_macs == macs
    assert net.total_params == weights + 1000  # FC bias
    assert net.bn_params == 4 * bn_channels
    # the framework figure counts batch-norm's scale and shift only (2 of the 4 vectors)
    assert net.total_params + net.bn_params // 2 == 3_504_872
    assert net.layer("conv_last").output_shape == (7, 7, 1280)


def test_cifar_mobilenet() -> None:
    net = build_model("mobilenet_v1_cifar")
    convs = [layer for layer in net.layers() if layer.op in ("conv2d", "depthwise_conv2d")]
    conv_macs = sum(layer.macs for layer in convs)
    macs, params, bn = v1_counts(CIFAR, 1.0, 28, 10, first_stride=1)
    fc_macs = 256 * 10
    assert len(convs) == 27  # 1 + 13 * 2
    assert conv_macs == macs - fc_macs == 121_488_640
    assert (net.total_macs, net.total_params, net.bn_params) == (macs, params, bn)
    assert net.layer("conv_pw_13").output_shape == (7, 7, 256)
    assert net.layer("conv_dw_2").output_shape == (14, 14, 64)
