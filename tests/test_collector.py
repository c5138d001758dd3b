"""The collector pause: off inside the block, restored after, and nothing left uncollected."""

from __future__ import annotations

import gc
import weakref

import pytest

from accelsim.collector import collector_paused


class _Node:
    """An object that can sit in a reference cycle."""

    other: object = None


def test_paused_inside_and_restored_after_even_on_failure() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("inside")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # restored as it was: off
    finally:
        gc.enable()


def _garbage_cycle() -> weakref.ref[_Node]:
    """A node referring to itself, already unreachable: only the cyclic collector frees it."""
    node = _Node()
    node.other = node
    return weakref.ref(node)


def test_a_cycle_made_around_a_pause_is_collected_without_being_asked() -> None:
    """Garbage cycles made before and inside the block stay young, so the automatic
    collections that ordinary allocation triggers free them (no gc.collect() needed);
    promoting them to the oldest generation unscanned would keep them."""
    frozen = gc.get_freeze_count()
    gone_before = _garbage_cycle()
    with collector_paused():
        gone_inside = _garbage_cycle()
        made = [[] for _ in range(1000)]
    del made
    kept = [[] for _ in range(20 * gc.get_threshold()[0])]  # young collections run
    assert gone_before() is None and gone_inside() is None
    assert gc.get_freeze_count() == frozen  # nothing a host froze is thawed
    del kept
