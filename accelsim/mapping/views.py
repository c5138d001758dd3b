"""Feature maps in root coordinates: which buffer holds each tensor, and who writes it.

`accelsim.ir.ops.channels.plan_views` puts every tensor in a root buffer at a channel
offset (a concat's inputs in its buffer, a channel slice in its input's). Here a policy
learns, per tensor, its root and channel span there; per root, its *writers* (the layers
that put data in it: every layer but the views) and its members; and the regions of a
root that a tensor's box or a writer's slice are, so loads, stores and allocations name
the root and the replay can check that a producer's slice lands where a reader reads it.
"""

from __future__ import annotations

from accelsim.ir.graph import Network
from accelsim.mapping.schedule import Region
from accelsim.mapping.tiling import hwc

__all__ = ["Homes"]

Span = tuple[int, int]


class Homes:
    """Roots, spans, writers and members of one network's feature maps."""

    def __init__(self, net: Network) -> None:
        views = net.views
        self._views = views.views  # not the network: facts kept weakly per network
        self.roots: dict[str, str] = {}  # tensor -> the root holding it
        self.spans: dict[str, Span] = {}  # tensor -> its channels in the root
        self.writers: dict[str, list[str]] = {}  # root -> layers writing into it, in order
        self.members: dict[str, list[str]] = {}  # root -> tensors it holds, in order
        for layer in net.layers():
            at = views.offset(layer.name)
            root = self.roots[layer.name] = views.root(layer.name)
            self.spans[layer.name] = (at, at + hwc(layer.output_shape)[2])
            self.members.setdefault(root, []).append(layer.name)
            if layer.name not in views.views:
                self.writers.setdefault(root, []).append(layer.name)
        self._writers_in: dict[str, tuple[str, ...]] = {}  # filled as policies ask

    def is_view(self, tensor: str) -> bool:
        """True for a layer that writes nothing (a view concat or a channel slice)."""
        return tensor in self._views

    def whole(self, tensor: str) -> bool:
        """True when `tensor` spans all of its root's channels."""
        root = self.roots[tensor]
        return self.spans[tensor] == self.spans[root]

    def writers_in(self, tensor: str) -> tuple[str, ...]:
        """The writers whose slices make up `tensor` (the layer itself if it writes);
        found once per tensor (placement asks for them at every step)."""
        found = self._writers_in.get(tensor)
        if found is None:
            lo, hi = self.spans[tensor]
            found = self._writers_in[tensor] = tuple(
                w for w in self.writers.get(self.roots[tensor], [])
                if self.spans[w][0] < hi and lo < self.spans[w][1])
        return found

    def slice_region(self, tensor: str) -> Region:
        """The region of its root `tensor` is: WHOLE when it spans the root."""
        return Region() if self.whole(tensor) else Region(channels=self.spans[tensor])

    def region(self, tensor: str, region: Region) -> Region:
        """A region of `tensor` in its root's coordinates (channels shifted)."""
        lo, hi = self.spans[tensor]
        channels = region.channels or (0, hi - lo)
        if self.whole(tensor) and region.channels is None:
            return region
        return Region(region.samples, region.rows, (lo + channels[0], lo + channels[1]),
                      region.reduce, region.cols)
