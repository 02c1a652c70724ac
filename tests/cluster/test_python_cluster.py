"""A cluster of Python reference nodes on real Redis delivers every broadcast exactly once."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import needs_redis
from tests.cluster.harness import BEHAVIOURS, Fleet
from wsbench.launch.cluster import Cluster, ClusterSpec

pytestmark = [needs_redis, pytest.mark.slow, pytest.mark.timeout(240),
              pytest.mark.xdist_group("python-cluster")]  # one module cluster, one worker

COUNT = 500


@pytest.fixture(scope="module")
def python_cluster():
    with Cluster(ClusterSpec(("python",) * 3, balancer=False)) as cluster:
        yield cluster


async def test_every_broadcast_reaches_every_node_exactly_once(python_cluster) -> None:
    fleet = await Fleet.open(python_cluster.node_urls, per_node=3)
    try:
        outcomes = [await fleet.run(behaviour, COUNT) for behaviour in BEHAVIOURS]
    finally:
        await fleet.close()
    for outcome in outcomes:
        assert (outcome.duplicates, outcome.lost, outcome.leaked) == (0, 0, 0), outcome.summary()
        assert all(t.markers for t in outcome.tallies), outcome.summary()
    # the experiment spans nodes: members of the rooms on every node got their copies
    by_node = {t.node for o in outcomes for t in o.tallies if t.copies}
    assert by_node == {0, 1, 2}
