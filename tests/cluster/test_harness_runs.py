"""The delivery experiment's runs are independent: a marker of an earlier run that arrives
late never ends the wait of the next one (tests/cluster/harness.py).

CI failure this pins: ``rooms: 500 sends, 1500 copies, 0 duplicates, 1500 lost`` in
test_balancer.py. The previous run's markers 1 and 2 came after the ``rooms`` run's reset (a
pending polling GET takes the first record alone, the rest come with the next GET), so every
client had "a marker" at once and the snapshot was taken before the other node's clients had
their copies (which then arrived, and were counted, in the next run).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.cluster.conftest import needs_redis
from tests.cluster.harness import Fleet
from tests.conftest import until
from wsbench.launch.cluster import Cluster, ClusterSpec

pytestmark = [needs_redis, pytest.mark.slow, pytest.mark.timeout(120)]

COUNT = 50


async def test_a_late_marker_of_an_earlier_run_does_not_end_the_next_run() -> None:
    with Cluster(ClusterSpec(("python", "python"), balancer=False)) as cluster:
        fleet = await Fleet.open(cluster.node_urls, per_node=1)  # client 0 on n0, 1 on n1
        try:
            first = await fleet.run("all", COUNT)
            assert (first.duplicates, first.lost) == (0, 0), first.summary()
            late = fleet.clients[1].connection
            late.pause_reading()  # the remote client's copies of the next run wait unread
            try:
                task = asyncio.ensure_future(fleet.run("all", COUNT))
                sender = fleet.tallies[0]
                started = first.tallies[0].run + 1
                assert await until(lambda: sender.run == started and sender.ended, 10), "no run"
                # the earlier run's markers reach client 1 now, as the CI run's did (its handler
                # is called as its socket calls it: the old harness's and the new one's shape)
                for stale in ({"marker": 1}, {"run": first.tallies[1].run, "marker": 2}):
                    fleet.tallies[1].on_event(stale)
                # nothing of this run has reached client 1: the run cannot be over (the old
                # harness ended here with client 1 counted as having lost every copy)
                assert not await until(task.done, 1), task.result().summary()
            finally:
                late.resume_reading()
            second = await task
        finally:
            await fleet.close()
    assert (second.duplicates, second.lost, second.leaked) == (0, 0, 0), second.summary()
    assert all(t.ended for t in second.tallies)
    assert sum(second.tallies[1].copies.values()) == COUNT
