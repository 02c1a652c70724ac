"""young_gc_only: the load generator makes no full collection while it runs (issue 14: each
one blocked the main job's loop for up to 1 s and freed next to nothing)."""

from __future__ import annotations

import gc
import weakref

from wsbench.client.loop import young_gc_only


class Node:
    def __init__(self) -> None:
        self.me = self


def _grow_old_heap(keep: list) -> None:
    """Allocations that survive (the old heap grows) and cyclic garbage between them.

    CPython starts a full collection once the survivors since the last one exceed a quarter
    of the old heap: grow it by more than half of what the test process already holds."""
    for _ in range(300 + len(gc.get_objects()) // 1000):
        keep.append([[] for _ in range(700)])  # empty lists are tracked (empty dicts are not)
        Node()  # a young cycle


def test_outside_the_block_the_same_work_makes_full_collections():
    # the control: the workload below does trigger full collections under the defaults
    seen: list[int] = []
    cb = lambda phase, info: seen.append(info["generation"]) if phase == "stop" else None  # noqa: E731
    gc.callbacks.append(cb)
    try:
        keep: list = []
        _grow_old_heap(keep)
    finally:
        gc.callbacks.remove(cb)
    assert 2 in seen


def test_no_full_collection_inside_young_ones_go_on_and_pauses_are_recorded():
    pauses: list[tuple[int, int]] = []
    with young_gc_only(lambda gen, ns: pauses.append((gen, ns))):
        assert gc.get_threshold()[2] == 2**31 - 1
        keep: list = []
        _grow_old_heap(keep)
        young = Node()
        ref = weakref.ref(young)
        del young
        keep.append([[] for _ in range(20_000)])  # ~28 young collections, 2 of generation 1
        assert ref() is None  # a young cycle is still freed inside the block
    gens = {g for g, _ in pauses}
    assert 2 not in gens
    assert 0 in gens and 1 in gens
    assert all(ns >= 0 for _, ns in pauses)


def test_exit_restores_the_collector_and_old_cycles_are_freed_after():
    before = gc.get_threshold()
    with young_gc_only():
        assert gc.get_freeze_count() > 0
        old = Node()
        holder = [old]
        gc.collect(1)  # survives two collections: now in the old generation
        ref = weakref.ref(old)
        del old, holder
        survivors = [[] for _ in range(20_000)]
        assert ref() is not None  # the young collections do not walk the old generation
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert ref() is None  # nothing was lost to the freeze: a full collection frees it
    assert len(survivors) == 20_000


def test_nested_blocks_restore_once_at_the_outermost():
    before = gc.get_threshold()
    with young_gc_only():
        with young_gc_only():
            pass
        assert gc.get_threshold()[2] == 2**31 - 1  # the inner exit left the outer's policy
    assert gc.get_threshold() == before
