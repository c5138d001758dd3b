"""Peak SRAM and DRAM traffic of concat networks: SqueezeNet 1.1, DenseNet-121, a U-Net.

Liveness policy, 8-bit data, batch 1, SRAM 1 MB and 256 KiB. The DenseNet is
DenseNet-121's layout at 224x224 (stem 7x7/2 conv to 64 and 3x3/2 max pool; dense blocks
of 6, 12, 24 and 16 layers, growth 32, each layer a 1x1 bottleneck to 128 channels and a
3x3 conv to 32 reading the concat of everything before it in its block, re-concatenated
for every layer as torchvision does; transitions of a 1x1 conv halving the channels and
a 2x2 average pool; global pool and a 1000-way dense head), with each batch-norm folded
into the conv after it. The U-Net is `models/unet_small.yaml`. Prints, per network and
SRAM, the peak occupancy, the DRAM bytes read and written, their ratio to compulsory
traffic (filters, input and output once) and the number of concats that copy.

    python benchmarks/bench_concat_views.py
"""

from __future__ import annotations

from pathlib import Path

from accelsim.ir import NetworkBuilder
from accelsim.ir.graph import Network
from accelsim.ir.modelfile import load_model_file
from accelsim.mapping import Sizes, build_schedule

MODELS = Path(__file__).resolve().parents[1] / "models"


def densenet121_layout() -> Network:
    """DenseNet-121's layers (see the module docstring), batch-norms folded."""
    b = NetworkBuilder("densenet121_layout")
    x = b.conv2d("stem", b.input("input", (224, 224, 3)), 64, 7, 2, batch_norm=True,
                 activation="relu")
    x = b.pool("pool0", x, "max_pool", 3, 2, "same")
    for block, depth in enumerate((6, 12, 24, 16), start=1):
        feats = [x]
        for i in range(1, depth + 1):
            joined = b.concat(f"b{block}_cat{i}", feats)
            y = b.conv2d(f"b{block}_l{i}_1x1", joined, 128, 1, batch_norm=True,
                         activation="relu")
            feats.append(b.conv2d(f"b{block}_l{i}_3x3", y, 32, 3, batch_norm=True,
                                  activation="relu"))
        x = b.concat(f"b{block}_out", feats)
        if block < 4:
            x = b.conv2d(f"t{block}", x, b.shape(x)[-1] // 2, 1, batch_norm=True,
                         activation="relu")
            x = b.pool(f"t{block}_pool", x, "avg_pool", 2, 2)
    x = b.flatten("flatten", b.global_avg_pool("gap", x))
    b.softmax("softmax", b.dense("fc", x, 1000, use_bias=True))
    return b.build()


def compulsory(net: Network, sizes: Sizes) -> int:
    """Filters once, the network input once and its outputs once."""
    return (sum(sizes.weight_bytes(layer) for layer in net.layers())
            + sum(sizes.fmap_bytes(net.layer(n).output_shape)
                  for n in (*net.inputs, *net.outputs)))


def main() -> None:
    sizes = Sizes(8, 8, 32)
    networks = [load_model_file(MODELS / "squeezenet1_1.yaml"), densenet121_layout(),
                load_model_file(MODELS / "unet_small.yaml")]
    print(f"{'network':<20} {'SRAM':>8} {'peak B':>10} {'read B':>12} {'written B':>12} "
          f"{'x compulsory':>12} {'copies':>6}")
    for net in networks:
        copies = sum(1 for layer in net.layers() if getattr(layer, "concat_copies", False))
        for label, capacity in (("1 MB", 1_000_000), ("256 KiB", 256 * 1024)):
            s = build_schedule(net, sizes, capacity, "liveness")
            read = sum(ls.dram_read_bytes for ls in s.layers)
            written = sum(ls.dram_write_bytes for ls in s.layers)
            ratio = (read + written) / compulsory(net, sizes)
            print(f"{net.name:<20} {label:>8} {s.peak_sram_bytes:>10,} {read:>12,} "
                  f"{written:>12,} {ratio:>12.3f} {copies:>6}")


if __name__ == "__main__":
    main()
