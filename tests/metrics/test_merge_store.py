"""A store drained in the same process merges without its snapshot (issue 14, wave 2e, h58).

The Locust runner drains its judge into its aggregate every 2 s; the snapshot encodes every
histogram as a zlib'd HDR histoblob that the merge decodes again. ``Metrics.merge_store``
merges the store itself: the aggregate must end exactly as ``merge(store.snapshot())``
leaves it (histograms, counters, gauges, series, an origin shift, the shared second of two
drains). ``to_dict`` reads the counts once. Counted and compared, not timed."""

from __future__ import annotations

import json
import random

import pytest

from wsbench.metrics import LatencyHistogram, Metrics

S = 1_000_000_000


def _drains(seed: int, seconds: int, wall: float) -> list[Metrics]:
    """Successive drained stores of one process (a fresh store on the same origin each)."""
    rng = random.Random(seed)
    out, now = [], 0
    m = Metrics(origin_ns=0, origin_wall=wall)
    for _ in range(seconds * 4):
        now += S // 4
        for _ in range(rng.randrange(0, 6)):
            m.record_ns("delivery", rng.randrange(100_000, 80_000_000))
        if rng.random() < 0.3:
            m.record_ns("ack", rng.randrange(100_000, 5_000_000))
        if rng.random() < 0.05:
            m.record_ns("clamped", -5)  # clamped values travel too
        m.incr("deliveries", rng.randrange(0, 4))
        m.set_gauge("clients", rng.randrange(1, 9))
        m.tick(now)
        if now % (2 * S) == 0:
            m.flush(now)
            out.append(m)
            m = Metrics(origin_ns=0, origin_wall=wall)
            m.tick(now)
    return out


@pytest.mark.parametrize("wall", [1000.0, 1003.4])  # the second drains a shifted origin
def test_merging_a_store_equals_merging_its_snapshot(wall: float) -> None:
    by_snapshot = Metrics(origin_ns=0, origin_wall=1000.0)
    by_store = Metrics(origin_ns=0, origin_wall=1000.0)
    for seed, w in ((1, 1000.0), (2, wall)):
        for store in _drains(seed, 12, w):
            before = json.dumps(store.snapshot(), sort_keys=True)
            by_snapshot.merge(json.loads(json.dumps(store.snapshot())))
            by_store.merge_store(store)
            assert json.dumps(store.snapshot(), sort_keys=True) == before  # only read
    assert by_store.snapshot() == by_snapshot.snapshot()
    for name in ("delivery", "ack", "clamped"):
        assert by_store.histogram(name) == by_snapshot.histogram(name)
        assert by_store.series(name) == by_snapshot.series(name)
    assert by_store.histogram("clamped").clamped > 0


def test_merging_a_store_neither_summarises_nor_decodes_its_histograms(monkeypatch) -> None:
    stores = _drains(3, 6, 1000.0)

    def refused(*_: object) -> None:
        raise AssertionError("a histogram went through its transport form")

    monkeypatch.setattr(LatencyHistogram, "to_dict", refused)
    monkeypatch.setattr(LatencyHistogram, "from_dict", classmethod(refused))
    agg = Metrics(origin_ns=0, origin_wall=1000.0)
    for store in stores:
        agg.merge_store(store)
    assert agg.counter("deliveries") == sum(s.counter("deliveries") for s in stores)
    with pytest.raises(AssertionError):
        agg.merge(stores[0].snapshot())  # the snapshot path does (what merge_store avoids)


def test_to_dict_reads_the_counts_once(monkeypatch) -> None:
    hist = LatencyHistogram()
    for us in (5, 50, 500, 5000, 50_000):
        hist.record_ns(us * 1000)
    expected = dict(hist.to_dict())
    passes = [0]
    original = LatencyHistogram._sync

    def counting(self):
        passes[0] += 1
        return original(self)

    monkeypatch.setattr(LatencyHistogram, "_sync", counting)
    assert hist.to_dict() == expected
    assert passes[0] == 1  # three before: percentiles() and encode() synced again


def test_a_malformed_snapshot_merges_nothing() -> None:
    """merge() reads the whole snapshot before it adds any of it: a snapshot whose counter
    series is malformed raises ConfigError and leaves the store as it was (it used to add
    the histograms and counters read before the bad field)."""
    from wsbench.exceptions import ConfigError

    (store,) = _drains(4, 2, 1000.0)
    bad = store.snapshot()
    bad["series"]["counters"]["deliveries"] = {"t": [0, 1], "delta": [1]}
    agg = Metrics(origin_ns=0, origin_wall=1000.0)
    agg.merge(store.snapshot())
    before = agg.snapshot()
    with pytest.raises(ConfigError):
        agg.merge(bad)
    assert agg.snapshot() == before
