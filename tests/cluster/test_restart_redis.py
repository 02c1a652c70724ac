"""Redis restarts under a running cluster: the nodes re-subscribe on their own and delivery
across nodes resumes, exactly once (pub/sub has no replay: what was sent meanwhile is lost)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.cluster.conftest import needs_node, needs_redis
from tests.cluster.harness import Fleet, eventually
from wsbench.launch import node_twin_available
from wsbench.launch.cluster import Cluster, ClusterSpec

pytestmark = [needs_redis, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.mark.parametrize(
    "kinds",
    [("python", "python"),
     pytest.param(("python", "node"), marks=[needs_node, pytest.mark.node])],
    ids=["python", "mixed"],
)  # fmt: skip
async def test_delivery_resumes_after_restart_redis(kinds) -> None:
    if "node" in kinds and not node_twin_available():
        pytest.skip("the Node twin's packages are missing")
    with Cluster(ClusterSpec(kinds, balancer=False)) as cluster:
        fleet = await Fleet.open(cluster.node_urls, per_node=2)
        try:
            before = await fleet.run("all", 200)
            assert (before.duplicates, before.lost) == (0, 0), before.summary()
            await asyncio.to_thread(cluster.restart_redis, 0.3)
            assert cluster.redis_restarts == 1 and cluster.running

            # resumed = a probe from node 0 reaches a client of node 1 (each probe is new)
            probes = itertools.count()
            remote = next(t for t in fleet.tallies if t.node == 1)
            sender = fleet.clients[0].socket()

            async def probe() -> set[int]:
                n = next(probes)
                sender.emit("broadcast all", {"data": {"marker": 100 + n}})
                await sender.call("echo", n, timeout=5)
                return remote.markers

            await eventually(probe, lambda seen: any(m >= 100 for m in seen), 20)
            assert any(m >= 100 for m in remote.markers), "delivery across nodes did not resume"
            after = await fleet.run("all", 200)
        finally:
            await fleet.close()
    assert (after.duplicates, after.lost, after.leaked) == (0, 0, 0), after.summary()
