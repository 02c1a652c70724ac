"""Merging a drain into a long-lived store touches only the new seconds (issue 14, h50).

The Locust runner drains its judge every 2 s into an aggregate, and the master merges every
worker's report the same way; the aggregate keeps up to 86,400 per-second points per
series. Merge used to re-sort and rebuild every point of every series on each drain
(O(run length) per drain, O(run length^2) per run); a drain that only adds seconds from the
ring's last one on is now appended. The result must be exactly the general path's.
Counted (object identity, points rebuilt), not timed."""

from __future__ import annotations

import random

from wsbench.metrics import Metrics
from wsbench.metrics import registry as r

S = 1_000_000_000


def _drains(seed: int, seconds: int, origin_ns: int = 0, wall: float = 1000.0) -> list[dict]:
    """Snapshots of successive drains of one process (fresh store on the same origin each)."""
    rng = random.Random(seed)
    out, now = [], origin_ns
    m = Metrics(origin_ns=origin_ns, origin_wall=wall)
    for _ in range(seconds * 4):  # four ticks per second, a drain every two seconds
        now += S // 4
        for _ in range(rng.randrange(0, 6)):
            m.record_ns("delivery", rng.randrange(100_000, 80_000_000))
        if rng.random() < 0.3:
            m.record_ns("ack", rng.randrange(100_000, 5_000_000))
        m.incr("deliveries", rng.randrange(0, 9))
        m.tick(now)
        if now % (2 * S) == 0:
            m.flush(now)  # as Judge.drain: the open second goes out, partial
            out.append(m.snapshot())
            m = Metrics(origin_ns=origin_ns, origin_wall=wall)
            m.tick(now)
    return out


def _general(snapshots: list[dict]) -> dict:
    """The reference: every merge through the re-sorting path."""
    merged = Metrics(origin_ns=0, origin_wall=min(s["origin_wall"] for s in snapshots))
    original = r._appends
    r._appends = lambda *a, **k: False
    try:
        for snapshot in snapshots:
            merged.merge(snapshot)
    finally:
        r._appends = original
    return merged.snapshot()


def test_incremental_merge_equals_the_general_path() -> None:
    one = _drains(1, 40)
    two = _drains(2, 40, wall=1003.0)  # a second process, its clock 3 s later (shifted)
    interleaved = [s for pair in zip(one, two, strict=True) for s in pair]
    for order in (one, interleaved, list(reversed(one)), one[:5] + one[3:9]):
        fast = Metrics(origin_ns=0, origin_wall=min(s["origin_wall"] for s in order))
        for snapshot in order:
            fast.merge(snapshot)
        assert fast.snapshot() == _general(order)


def test_a_drain_appends_and_leaves_older_points_alone(monkeypatch) -> None:
    drains = _drains(3, 600)
    agg = Metrics.merge_snapshots(drains[:-1])
    ring = agg._hseries["delivery"]
    older = list(ring)[:-1]  # all but the last second, which the next drain may share
    built = [0]
    original = r._combine_points

    def counting(t, points):
        built[0] += 1
        return original(t, points)

    monkeypatch.setattr(r, "_combine_points", counting)
    agg.merge(drains[-1])
    # per series, the one second both hold (if any) is combined; nothing else is rebuilt
    assert built[0] <= len(agg._hseries) == 2
    assert all(a is b for a, b in zip(older, agg._hseries["delivery"], strict=False))
    assert agg.snapshot() == _general(drains)
