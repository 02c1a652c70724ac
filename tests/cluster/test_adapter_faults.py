"""Each Redis adapter fault of the reference server produces the duplicates or losses it names,
and the delivery experiment sees them (docs/events.md "Faults")."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import needs_redis
from tests.cluster.harness import Fleet
from wsbench.launch.cluster import Cluster, ClusterSpec

pytestmark = [needs_redis, pytest.mark.slow, pytest.mark.timeout(240)]

COUNT = 500


async def experiment(fault: str, behaviour: str):
    spec = ClusterSpec(("python", "python"), python_args=("--fault", fault), balancer=False)
    with Cluster(spec) as cluster:
        fleet = await Fleet.open(cluster.node_urls, per_node=3)
        try:
            return await fleet.run(behaviour, COUNT)
        finally:
            await fleet.close()


async def test_double_emit_doubles_the_copies_on_the_senders_node() -> None:
    outcome = await experiment("adapter-double-emit", "all")
    # a local emit plus the Redis echo: every recipient on node 0 gets each message twice
    for tally in outcome.tallies:
        if tally.node == 0:
            assert set(tally.copies.values()) == {2}, outcome.summary()
        else:
            assert set(tally.copies.values()) == {1}, outcome.summary()
    assert outcome.duplicates == 3 * COUNT and outcome.lost == 0, outcome.summary()


async def test_drop_remote_loses_cross_node_messages_only() -> None:
    outcome = await experiment("adapter-drop-remote", "all")
    assert outcome.lost > 0 and outcome.duplicates == 0 and outcome.leaked == 0, outcome.summary()
    # 1 in 100 broadcasts a node receives from another node is lost; its own are intact
    remote_lost = sum(
        1 for t in outcome.tallies if t.node == 1 for i in range(COUNT) if t.copies[i] == 0
    )
    assert remote_lost == outcome.lost
    assert remote_lost >= 3 * (COUNT // 100) * 0.5, outcome.summary()  # >= 1%/2: the rate shows


async def test_publish_per_room_duplicates_multi_room_sends_on_other_nodes() -> None:
    outcome = await experiment("adapter-publish-per-room", "rooms")
    for tally in outcome.tallies:
        # one copy per target room the socket is in, on the nodes the send was published to
        want = len(tally.rooms) if tally.node == 1 else 1
        assert set(tally.copies.values()) == {want}, (tally, outcome.summary())
    assert outcome.duplicates > 0 and outcome.lost == 0, outcome.summary()
