"""What every schedule build of a network reads and no placement decision changes, found once.

Per network: its tensors, where each lives (`Homes`), execution positions, the names of
the roots' whole buffers and each layer's layout note. Per network, element sizes and
on-chip store: every feature map's bytes, the layers that cannot run whole (with their
full-capacity tilings) and those that may have to tile. The builds of one network share
them (the overlap ladder's rungs, a sweep's points, repeated runs); they are kept weakly
per network, so a network its user drops takes its facts with it.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping

from accelsim.ir.graph import Network, Tensor
from accelsim.ir.layers import Layer
from accelsim.mapping.memory import MemorySpec
from accelsim.mapping.schedule import Region
from accelsim.mapping.sram import buffer_name
from accelsim.mapping.tiling import Sizes, TilePlan, search_tiles
from accelsim.mapping.views import Homes

__all__ = ["NetworkFacts", "StoreFacts", "facts_of", "store_facts_of"]

#: (sizes, store) entries kept per network (a sub-batched build asks for one per pass
#: size); a sweep over more recomputes the least recently used.
_STORES_PER_NETWORK = 256


class StoreFacts:
    """Feature-map and filter bytes and which layers must or may tile, at one sizes and
    store."""

    def __init__(self, net: Network, facts: NetworkFacts, sizes: Sizes, spec: MemorySpec
                 ) -> None:
        self.fmap_bytes: Mapping[str, int] = {
            name: sizes.fmap_bytes(t.shape) for name, t in facts.tensors.items()}
        #: layer -> bytes of its whole filters
        self.filter_bytes: Mapping[str, int] = {
            layer.name: sizes.weight_bytes(layer) for layer in net.layers()}
        plans: dict[str, TilePlan] = {}
        may_tile = set()
        for layer in net.layers():
            if layer.op == "input" or facts.homes.is_view(layer.name):
                continue
            fits, fits_at_worst = self._fits_whole(facts.homes, layer, sizes, spec)
            if not fits:
                plans[layer.name] = search_tiles(layer, sizes, spec.smallest)
            if not fits_at_worst:
                may_tile.add(layer.name)
        #: layer -> its full-capacity tiling, for the layers that cannot run whole
        self.plans: Mapping[str, TilePlan] = plans
        #: layers that may have to tile (they end the look-ahead for early filters)
        self.may_tile = frozenset(may_tile)

    def _fits_whole(self, homes: Homes, layer: Layer, sizes: Sizes, spec: MemorySpec
                    ) -> tuple[bool, bool]:
        """Whether the layer's filters, the buffers of its inputs' roots and its output's
        root each fit their level (summed where levels coincide), its inputs either loaded
        or left where their producer put them (in the output level); then the same at
        worst, where a root several layers write may also be held as slices reloaded
        beside a fresh whole buffer after an eviction: counted twice, a bound on any
        moment."""
        roots, writers = homes.roots, homes.writers
        own = roots[layer.name]
        others = [q for q in dict.fromkeys(roots[s] for s in layer.inputs) if q != own]
        weights = self.filter_bytes[layer.name]

        def fits(worst: bool) -> bool:
            def size(root: str) -> int:
                twice = worst and len(writers[root]) > 1
                return self.fmap_bytes[root] * (2 if twice else 1)
            inputs, output = sum(size(q) for q in others), size(own)
            return (spec.fits({"inputs": inputs, "weights": weights, "outputs": output})
                    or spec.fits({"weights": weights, "outputs": inputs + output}))

        plain = fits(False)
        shared = any(len(writers[q]) > 1 for q in (own, *others))
        return plain, fits(True) if plain and shared else plain


class NetworkFacts:
    """A network's tensors, homes, positions, whole-buffer names and layout notes."""

    def __init__(self, net: Network) -> None:
        # No reference to `net` is kept: the facts live in a dict weakly keyed by it.
        self.tensors: Mapping[str, Tensor] = net.tensors()
        self.homes = Homes(net)
        #: root -> the name of its whole buffer
        self.reservations: Mapping[str, str] = {
            root: buffer_name("fmap", root, Region()) for root in self.homes.members}
        self.position: Mapping[str, int] = {name: i for i, name in enumerate(net.order)}
        #: the layers a schedule has a LayerSchedule for, in order
        self.computed = tuple(n for n in net.order if net.layer(n).op != "input")
        self.output_writers = frozenset(
            w for o in net.outputs for w in self.homes.writers_in(o))
        #: tensor -> its place in its root's buffer, or why a concat copies ('' otherwise)
        self.layouts: Mapping[str, str] = {name: self._layout(net, name) for name in net.order}
        self._stores: dict[tuple[Sizes, MemorySpec], StoreFacts] = {}

    def _layout(self, net: Network, name: str) -> str:
        views, homes = net.views, self.homes
        if name in views.copies:
            return f"copy: {views.copies[name]}"
        root, (lo, hi) = homes.roots[name], homes.spans[name]
        if homes.is_view(name):
            return f"view: channels {lo}-{hi} of {root}"
        return f"writes channels {lo}-{hi} of {root}" if root != name else ""

    def _at(self, net: Network, sizes: Sizes, spec: MemorySpec) -> StoreFacts:
        """The facts at these sizes and store (found once; past the bound, the least
        recently used are dropped)."""
        key = (sizes, spec)
        found = self._stores.pop(key, None)
        if found is None:
            found = StoreFacts(net, self, sizes, spec)
            while len(self._stores) >= _STORES_PER_NETWORK:
                del self._stores[next(iter(self._stores))]
        self._stores[key] = found  # the most recently used last
        return found


_FACTS: weakref.WeakKeyDictionary[Network, NetworkFacts] = weakref.WeakKeyDictionary()


def facts_of(net: Network) -> NetworkFacts:
    """The network's facts, found on first use."""
    found = _FACTS.get(net)
    if found is None:
        found = _FACTS[net] = NetworkFacts(net)
    return found


def store_facts_of(net: Network, sizes: Sizes, spec: MemorySpec) -> StoreFacts:
    """The network's facts at these sizes and store, found on first use."""
    return facts_of(net)._at(net, sizes, spec)
