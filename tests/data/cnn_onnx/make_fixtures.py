"""Regenerate the common-CNN ONNX fixtures of tests/test_onnx_cnns.py.

Not run by the tests (CI has no torch). Run it from a virtual environment with torch:

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 onnx onnxruntime onnxscript numpy
    /tmp/torchenv/bin/python tests/data/cnn_onnx/make_fixtures.py

It builds reduced-width versions of MobileNetV3-Small and -Large, EfficientNet-B0,
SqueezeNet 1.1, ShuffleNetV2, DenseNet-121, GoogLeNet and a U-Net (transposed-conv,
bilinear and nearest upsampling) in plain torch.nn, as torchvision (or the U-Net paper)
defines them, with every width divided as listed in WIDTHS; depth and every other
hyper-parameter are the published ones except where a docstring says otherwise. Every
model is exported in eval mode with a dynamic batch by the TorchScript exporter
(``dynamo=False``, opset 17) and the dynamo exporter (``dynamo=True``, opset 18); the
MobileNetV3s also at opset 13, where PyTorch writes Hardswish as x * HardSigmoid(x).

To keep the files small, the data of every Conv/ConvTranspose/Gemm/MatMul weight and of
every BatchNormalization vector the exporter kept (DenseNet's pre-activation batch-norms)
is removed (name, type and dims kept, ``doc_string = "stripped"``); the tests refill them
with seeded values (He-normal weights, trained-looking batch-norms). Biases (where
batch-norms were folded) keep the exported values; the per-node metadata of dynamo
exports (source paths, module names) and the intermediate shape annotations
(value_info) are dropped. ``counts.json`` records, per model, the multiply-accumulates
of one sample counted by forward hooks on the torch modules (Conv2d: output elements x
Cin/groups x kh x kw; ConvTranspose2d: input elements x Cout/groups x kh x kw; Linear:
in x out features), independently of accelsim, and the input shape.

``make_fixtures.py --full-size OUT_DIR`` (in the project's environment with torch added)
exports the networks at their published widths into OUT_DIR instead, with both exporters,
and runs ``accelsim summary``, ``run`` and ``verify --against onnxruntime`` on each export.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
RES = 64  # input resolution of the classifiers


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's _make_divisible."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def cna(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
        act: Any = nn.ReLU, padding: int | None = None) -> nn.Sequential:
    """torchvision's Conv2dNormActivation: conv (no bias), BatchNorm2d, activation."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2 if padding is None
                                         else padding, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# ---- MobileNetV3 ------------------------------------------------------------------------
V3_SMALL = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2),
            (24, 3, 88, 24, False, "RE", 1), (24, 5, 96, 40, True, "HS", 2),
            (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
            (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1),
            (48, 5, 288, 96, True, "HS", 2), (96, 5, 576, 96, True, "HS", 1),
            (96, 5, 576, 96, True, "HS", 1)]
V3_LARGE = [(16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2),
            (24, 3, 72, 24, False, "RE", 1), (24, 5, 72, 40, True, "RE", 2),
            (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
            (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1),
            (80, 3, 184, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
            (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
            (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1),
            (160, 5, 960, 160, True, "HS", 1)]


class SqueezeExcite(nn.Module):
    """torchvision's SqueezeExcitation: pool, 1x1 conv, act, 1x1 conv, gate, scale."""

    def __init__(self, c: int, squeeze: int, act: Any = nn.ReLU, gate: Any = nn.Hardsigmoid):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)
        self.act, self.gate = act(), gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.fc2(self.act(self.fc1(self.pool(x))))) * x


class V3Block(nn.Module):
    def __init__(self, cin: int, k: int, exp: int, cout: int, se: bool, act: str, stride: int):
        super().__init__()
        a = nn.Hardswish if act == "HS" else nn.ReLU
        layers: list[nn.Module] = []
        if exp != cin:
            layers.append(cna(cin, exp, 1, act=a))
        layers.append(cna(exp, exp, k, stride, exp, act=a))
        if se:
            layers.append(SqueezeExcite(exp, make_divisible(exp // 4)))
        layers.append(cna(exp, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.res = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.res else self.block(x)


class MobileNetV3(nn.Module):
    """torchvision.models.mobilenet_v3_{small,large}(width_mult) in plain torch.nn."""

    def __init__(self, table: list, last: int, width: float, classes: int) -> None:
        super().__init__()
        d = [lambda c: make_divisible(c * width)][0]
        layers: list[nn.Module] = [cna(3, d(16), 3, 2, act=nn.Hardswish)]
        for cin, k, exp, cout, se, act, stride in table:
            layers.append(V3Block(d(cin), k, d(exp), d(cout), se, act, stride))
        c = d(table[-1][3])
        layers.append(cna(c, 6 * c, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(6 * c, d(last)), nn.Hardswish(),
                                        nn.Dropout(0.2), nn.Linear(d(last), classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


# ---- EfficientNet-B0 --------------------------------------------------------------------
B0 = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
      (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]


class MBConv(nn.Module):
    def __init__(self, expand: int, k: int, stride: int, cin: int, cout: int) -> None:
        super().__init__()
        exp = make_divisible(cin * expand)
        layers: list[nn.Module] = []
        if exp != cin:
            layers.append(cna(cin, exp, 1, act=nn.SiLU))
        layers += [cna(exp, exp, k, stride, exp, act=nn.SiLU),
                   SqueezeExcite(exp, max(1, cin // 4), nn.SiLU, nn.Sigmoid),
                   cna(exp, cout, 1, act=None)]
        self.block = nn.Sequential(*layers)
        self.res = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.res else self.block(x)


class EfficientNetB0(nn.Module):
    """torchvision.models.efficientnet_b0 with widths x `width` (depth as published)."""

    def __init__(self, width: float, classes: int) -> None:
        super().__init__()
        d = [lambda c: make_divisible(c * width)][0]
        layers: list[nn.Module] = [cna(3, d(32), 3, 2, act=nn.SiLU)]
        for expand, k, stride, cin, cout, n in B0:
            for i in range(n):
                layers.append(MBConv(expand, k, stride if i == 0 else 1,
                                     d(cin) if i == 0 else d(cout), d(cout)))
        layers.append(cna(d(320), 4 * d(320), 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * d(320), classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


# ---- SqueezeNet 1.1 ---------------------------------------------------------------------
class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, e1: int, e3: int) -> None:
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.ReLU())
        self.e1 = nn.Sequential(nn.Conv2d(squeeze, e1, 1), nn.ReLU())
        self.e3 = nn.Sequential(nn.Conv2d(squeeze, e3, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        return torch.cat([self.e1(x), self.e3(x)], 1)


class SqueezeNet11(nn.Module):
    """torchvision.models.squeezenet1_1 with every width divided by `div`."""

    def __init__(self, div: int, classes: int) -> None:
        super().__init__()
        f = [lambda c: c // div][0]
        pool = [lambda: nn.MaxPool2d(3, 2, ceil_mode=True)][0]
        self.features = nn.Sequential(
            nn.Conv2d(3, f(64), 3, 2), nn.ReLU(), pool(),
            Fire(f(64), f(16), f(64), f(64)), Fire(f(128), f(16), f(64), f(64)), pool(),
            Fire(f(128), f(32), f(128), f(128)), Fire(f(256), f(32), f(128), f(128)), pool(),
            Fire(f(256), f(48), f(192), f(192)), Fire(f(384), f(48), f(192), f(192)),
            Fire(f(384), f(64), f(256), f(256)), Fire(f(512), f(64), f(256), f(256)))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(f(512), classes, 1),
                                        nn.ReLU(), nn.AdaptiveAvgPool2d(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


# ---- ShuffleNetV2 -----------------------------------------------------------------------
def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.size()
    x = x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(b, -1, h, w)


class ShuffleBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        bf = cout // 2
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(cna(cin, cin, 3, stride, cin, act=None),
                                         cna(cin, bf, 1))
        self.branch2 = nn.Sequential(cna(cin if stride > 1 else bf, bf, 1),
                                     cna(bf, bf, 3, stride, bf, act=None), cna(bf, bf, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """torchvision.models.shufflenet_v2_x1_0 (repeats 4, 8, 4) with stage widths given."""

    def __init__(self, widths: list[int], classes: int) -> None:
        super().__init__()
        self.conv1 = cna(3, widths[0], 3, 2)
        self.pool = nn.MaxPool2d(3, 2, 1)
        stages: list[nn.Module] = []
        c = widths[0]
        for repeats, out in zip([4, 8, 4], widths[1:4], strict=True):
            stages += [ShuffleBlock(c, out, 2)] + [ShuffleBlock(out, out, 1)
                                                  for _ in range(repeats - 1)]
            c = out
        self.stages = nn.Sequential(*stages)
        self.conv5 = cna(c, widths[4], 1)
        self.fc = nn.Linear(widths[4], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv5(self.stages(self.pool(self.conv1(x))))
        return self.fc(x.mean([2, 3]))


# ---- DenseNet-121 -----------------------------------------------------------------------
class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bn_size: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, bn_size * growth, 1,
                                                                bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(features, 1)
        x = self.conv1(torch.relu(self.norm1(x)))
        return self.conv2(torch.relu(self.norm2(x)))


class DenseBlock(nn.Module):
    def __init__(self, n: int, cin: int, growth: int, bn_size: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(cin + i * growth, growth, bn_size)
                                    for i in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)


class DenseNet121(nn.Module):
    """torchvision.models.densenet121 (blocks 6, 12, 24, 16, bn_size 4) with growth and
    initial features given."""

    def __init__(self, growth: int, init: int, classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, init, 7, 2, 3, bias=False),
                                   nn.BatchNorm2d(init), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
        c = init
        for i, n in enumerate([6, 12, 24, 16]):
            layers.append(DenseBlock(n, c, growth, 4))
            c += n * growth
            if i < 3:
                layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False),
                           nn.AvgPool2d(2, 2)]
                c //= 2
        layers += [nn.BatchNorm2d(c), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.fc(torch.flatten(x, 1))


# ---- GoogLeNet --------------------------------------------------------------------------
INCEPTION = {"3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
             "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
             "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
             "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
             "5b": (832, 384, 192, 384, 48, 128, 128)}


def basic(cin: int, cout: int, k: int, stride: int = 1, padding: int = 0) -> nn.Sequential:
    """torchvision's BasicConv2d: conv (no bias), BatchNorm2d(eps 0.001), ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, padding, bias=False),
                         nn.BatchNorm2d(cout, eps=0.001), nn.ReLU())


class Inception(nn.Module):
    def __init__(self, cin: int, c1: int, r3: int, c3: int, r5: int, c5: int, pp: int):
        super().__init__()
        self.b1 = basic(cin, c1, 1)
        self.b2 = nn.Sequential(basic(cin, r3, 1), basic(r3, c3, 3, padding=1))
        self.b3 = nn.Sequential(basic(cin, r5, 1), basic(r5, c5, 3, padding=1))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), basic(cin, pp, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class GoogLeNet(nn.Module):
    """torchvision.models.googlenet (no auxiliary heads, transform_input off), widths / div."""

    def __init__(self, div: int, classes: int) -> None:
        super().__init__()
        f = [lambda c: c // div][0]
        pool = [lambda k: nn.MaxPool2d(k, 2, ceil_mode=True)][0]
        block = [lambda key: Inception(*(f(c) for c in INCEPTION[key]))][0]
        self.features = nn.Sequential(
            basic(3, f(64), 7, 2, 3), pool(3), basic(f(64), f(64), 1),
            basic(f(64), f(192), 3, padding=1), pool(3), block("3a"), block("3b"), pool(3),
            block("4a"), block("4b"), block("4c"), block("4d"), block("4e"), pool(2),
            block("5a"), block("5b"), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(f(1024), classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


# ---- ResNet -----------------------------------------------------------------------------
class ResBlock(nn.Module):
    """torchvision's BasicBlock (two 3x3) or Bottleneck (1x1, 3x3 with the stride, 1x1 x4),
    with a 1x1 projection on the skip when the shape changes."""

    def __init__(self, cin: int, width: int, stride: int, bottleneck: bool) -> None:
        super().__init__()
        cout = 4 * width if bottleneck else width
        if bottleneck:
            self.body = nn.Sequential(cna(cin, width, 1), cna(width, width, 3, stride),
                                      cna(width, cout, 1, act=None))
        else:
            self.body = nn.Sequential(cna(cin, width, 3, stride), cna(width, cout, 3, act=None))
        self.skip = (cna(cin, cout, 1, stride, act=None, padding=0)
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ResNet(nn.Module):
    """torchvision's ResNet: 7x7/2 stem, 3x3/2 max pool, four stages, average pool, fc."""

    def __init__(self, blocks: list[int], bottleneck: bool, classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [cna(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
        cin = 64
        for stage, count in enumerate(blocks):
            width = 64 * 2 ** stage
            for i in range(count):
                layers.append(ResBlock(cin, width, 2 if i == 0 and stage else 1, bottleneck))
                cin = 4 * width if bottleneck else width
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


# ---- U-Net ------------------------------------------------------------------------------
def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(cna(cin, cout, 3), cna(cout, cout, 3))


class UNet(nn.Module):
    """A 3-level U-Net (Ronneberger et al., with padded convs and batch-norm): upsampling by
    ConvTranspose2d(2, 2) ("transposed") or Upsample x2 + 1x1 conv ("bilinear", "nearest")."""

    def __init__(self, base: int, up: str, classes: int = 2) -> None:
        super().__init__()
        widths = [base, 2 * base, 4 * base, 8 * base]
        self.down = nn.ModuleList([double_conv(3, widths[0])] + [
            double_conv(widths[i], widths[i + 1]) for i in range(3)])
        self.pool = nn.MaxPool2d(2)
        self.ups, self.convs = nn.ModuleList(), nn.ModuleList()
        for i in (2, 1, 0):
            if up == "transposed":
                self.ups.append(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, 2))
            else:
                self.ups.append(nn.Sequential(
                    nn.Upsample(scale_factor=2, mode=up,
                                **({"align_corners": False} if up == "bilinear" else {})),
                    nn.Conv2d(widths[i + 1], widths[i], 1)))
            self.convs.append(double_conv(2 * widths[i], widths[i]))
        self.head = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, down in enumerate(self.down):
            x = down(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, conv, skip in zip(self.ups, self.convs, reversed(skips[:-1]), strict=True):
            x = conv(torch.cat([skip, up(x)], 1))
        return self.head(x)


# ---- export -----------------------------------------------------------------------------
def models() -> dict[str, tuple[nn.Module, int]]:
    """name -> (model, input resolution)."""
    return {
        "mobilenet_v3_small_w025": (MobileNetV3(V3_SMALL, 1024, 0.25, 10), RES),
        "mobilenet_v3_large_w025": (MobileNetV3(V3_LARGE, 1280, 0.25, 10), RES),
        "efficientnet_b0_w025": (EfficientNetB0(0.25, 10), RES),
        "squeezenet1_1_d4": (SqueezeNet11(4, 10), RES),
        "shufflenet_v2_w24_48_96_192_256": (ShuffleNetV2([24, 48, 96, 192, 256], 10), RES),
        "densenet121_g8": (DenseNet121(8, 16, 10), RES),
        "googlenet_d8": (GoogLeNet(8, 10), RES),
        "unet_transposed_b8": (UNet(8, "transposed"), 32),
        "unet_bilinear_b8": (UNet(8, "bilinear"), 32),
        "unet_nearest_b8": (UNet(8, "nearest"), 32),
    }


def trained_looking(model: nn.Module, seed: int) -> nn.Module:
    """He-normal weights, random batch-norm parameters and statistics, eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=g)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
    return model.eval()


def hook_macs(model: nn.Module, x: torch.Tensor) -> int:
    """MACs of one sample, counted by forward hooks on Conv2d, ConvTranspose2d and Linear."""
    total = [0]

    def conv(m: nn.Conv2d, inp: tuple, out: torch.Tensor) -> None:
        total[0] += out[0].numel() * m.in_channels // m.groups * math.prod(m.kernel_size)

    def transposed(m: nn.ConvTranspose2d, inp: tuple, out: torch.Tensor) -> None:
        total[0] += inp[0][0].numel() * m.out_channels // m.groups * math.prod(m.kernel_size)

    def linear(m: nn.Linear, inp: tuple, out: torch.Tensor) -> None:
        total[0] += m.in_features * m.out_features

    handles = []
    for m in model.modules():
        hook = {nn.Conv2d: conv, nn.ConvTranspose2d: transposed, nn.Linear: linear}.get(type(m))
        if hook is not None:
            handles.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model(x[:1])
    for h in handles:
        h.remove()
    return total[0]


def export(model: nn.Module, x: torch.Tensor, path: Path, dynamo: bool, opset: int) -> None:
    """torch.onnx.export in eval mode with a dynamic batch."""
    if dynamo:
        batch = torch.export.Dim("batch", min=1, max=1024)
        torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=opset,
                          external_data=False, input_names=["input"], output_names=["output"],
                          dynamic_shapes={"x": {0: batch}})
    else:
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})


def shrink(path: Path) -> None:
    """Strip weight data (see the module docstring), the dynamo exporter's per-node
    metadata (source locations, module names) and the intermediate shape annotations
    (value_info); the nodes and their attributes are untouched."""
    model = onnx.load(str(path))
    weights = {n.input[1] for n in model.graph.node
               if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul")}
    weights |= {t for n in model.graph.node if n.op_type == "BatchNormalization"
                for t in n.input[1:5]}
    for init in model.graph.initializer:
        if init.name in weights and (init.raw_data or init.float_data):
            init.ClearField("raw_data")
            init.ClearField("float_data")
            init.doc_string = "stripped"
    for node in model.graph.node:
        del node.metadata_props[:]
    del model.graph.value_info[:]
    onnx.save(model, str(path))


def full_size() -> dict[str, tuple[nn.Module, int]]:
    """The published architectures: name -> (model, input resolution); U-Nets at 128x128."""
    return {
        "mobilenet_v3_small": (MobileNetV3(V3_SMALL, 1024, 1.0, 1000), 224),
        "mobilenet_v3_large": (MobileNetV3(V3_LARGE, 1280, 1.0, 1000), 224),
        "efficientnet_b0": (EfficientNetB0(1.0, 1000), 224),
        "squeezenet1_1": (SqueezeNet11(1, 1000), 224),
        "shufflenet_v2_x1_0": (ShuffleNetV2([24, 116, 232, 464, 1024], 1000), 224),
        "densenet121": (DenseNet121(32, 64, 1000), 224),
        "googlenet": (GoogLeNet(1, 1000), 224),
        "unet_transposed_b64": (UNet(64, "transposed"), 128),
        "unet_bilinear_b64": (UNet(64, "bilinear"), 128),
        "resnet18": (ResNet([2, 2, 2, 2], False, 1000), 224),
        "resnet50": (ResNet([3, 4, 6, 3], True, 1000), 224),
    }


def check_full_size(out: Path, names: list[str]) -> None:
    """Export every full-size network with both exporters (TorchScript opset 17, dynamo
    opset 18) into `out` and run `accelsim summary`, `accelsim run` (edge_1mb.yaml: 1 MB
    SRAM, 1 GB/s) and `accelsim verify --against onnxruntime` on each export; print one
    markdown row per export. `names`: only these networks (default: all)."""
    import subprocess

    out.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "accelsim"]
    print("| network | exporter | torch params | hook MACs | accelsim MACs | run: time | verify |")
    for i, (name, (model, res)) in enumerate(full_size().items()):
        if names and name not in names:
            continue
        model = trained_looking(model, seed=i + 1)
        x = torch.randn(2, 3, res, res)
        params = sum(p.numel() for p in model.parameters())
        macs = hook_macs(model, x)
        for tag, dynamo, opset in (("torchscript_op17", False, 17), ("dynamo_op18", True, 18)):
            path, runfile = out / f"{name}_{tag}.onnx", out / f"{name}_{tag}.yaml"
            export(model, x, path, dynamo, opset)
            runfile.write_text(f"name: {name}\nmodel: {{path: {path}}}\n"
                               "hardware: edge_1mb.yaml\n")
            summary = json.loads(subprocess.run([*cli, "summary", str(path), "--json"],
                                                capture_output=True, text=True,
                                                check=True).stdout)
            run = json.loads(subprocess.run([*cli, "run", str(runfile), "--json", "--no-plots",
                                             "--out", str(out / f"{name}_{tag}")],
                                            capture_output=True, text=True, check=True).stdout)
            verify = subprocess.run([*cli, "verify", str(path), "--against", "onnxruntime",
                                     "--json"], capture_output=True, text=True)
            checks = json.loads(verify.stdout)["checks"] if verify.stdout else []
            ort_err = next((c["max_rel_err"] for c in checks if "onnxruntime" in c["check"]),
                           None)
            print(f"| {name} | {tag} | {params:,} | {macs:,} | {summary['total_macs']:,} | "
                  f"{run['total_time_s'] * 1e3:.2f} ms | "
                  f"{'PASS' if verify.returncode == 0 else 'FAIL'} ({ort_err}) |", flush=True)


def main(names: list[str]) -> None:
    counts_path = HERE / "counts.json"
    counts = json.loads(counts_path.read_text()) if counts_path.exists() else {}
    torch.manual_seed(0)
    for i, (name, (model, res)) in enumerate(models().items()):
        if names and name not in names:
            continue
        model = trained_looking(model, seed=i + 1)
        x = torch.randn(2, 3, res, res)
        counts[name] = {"macs": hook_macs(model, x), "input": [3, res, res]}
        exports = [("torchscript_op17", False, 17), ("dynamo_op18", True, 18)]
        if name.startswith("mobilenet_v3"):  # before opset 14 Hardswish is x * HardSigmoid(x)
            exports.append(("torchscript_op13", False, 13))
        for tag, dynamo, opset in exports:
            path = HERE / f"{name}_{tag}.onnx"
            try:
                export(model, x, path, dynamo, opset)
            except Exception as exc:  # report and go on: the other exporter may work
                print(f"{path.name}: export failed: {type(exc).__name__}: {exc}"[:300])
                continue
            shrink(path)
            print(path.name, path.stat().st_size)
    counts_path.write_text(json.dumps(counts, indent=1, sort_keys=True) + "\n")
    print("torch", torch.__version__, "onnx", onnx.__version__)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--shrink"]:  # re-strip existing files without exporting again
        for existing in sorted(HERE.glob("*.onnx")):
            shrink(existing)
    elif sys.argv[1:2] == ["--full-size"]:  # make_fixtures.py --full-size OUT_DIR [NAME ...]
        check_full_size(Path(sys.argv[2]), sys.argv[3:])
    else:
        main(sys.argv[1:])
