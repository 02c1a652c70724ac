"""young_gc_only: the load generator makes no full collection while it runs (issue 14: each
one blocked the main job's loop for up to 1 s and freed next to nothing)."""

from __future__ import annotations

import gc
import weakref

from wsbench.client.loop import YOUNG_THRESHOLD, young_gc_only


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
        keep.append([[] for _ in range(120_000)])  # ~24 young collections, 2 of generation 1
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


def test_young_threshold_is_raised_inside_the_block_and_a_higher_one_is_kept():
    # the in-flight state of 1,000 users kept crossing CPython's 700: 249-376 young
    # collections (~5 % of the acked-emit run's CPU) that freed next to nothing
    before = gc.get_threshold()
    assert before[0] < YOUNG_THRESHOLD  # CPython's default (700 in 3.11)
    with young_gc_only():
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_threshold() == before
    gc.set_threshold(YOUNG_THRESHOLD * 2, before[1], before[2])
    try:
        with young_gc_only():
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD * 2
    finally:
        gc.set_threshold(*before)


def test_a_steady_in_flight_population_makes_few_young_collections():
    # 1,000 "users" each holding a few tracked objects that are replaced one by one: the
    # net count hovers around the population, which CPython's 700 crosses over and over
    collections: list[int] = []
    cb = lambda phase, info: collections.append(1) if phase == "start" else None  # noqa: E731
    users = [[[], [], []] for _ in range(1_000)]
    with young_gc_only():
        gc.collect(0)
        gc.callbacks.append(cb)
        try:
            for rnd in range(30):
                for u in users:
                    u[rnd % 3] = []  # one object freed, one made: the count stays put
                if rnd % 2:
                    users.extend([[], [], []] for _ in range(1_000))  # the population grows
                else:
                    del users[1_000:]  # and shrinks again
        finally:
            gc.callbacks.remove(cb)
    assert len(collections) <= 4, len(collections)
