"""Interop: Python reference nodes and Node twin nodes (official @socket.io/redis-adapter 8.x,
pinned in reference_server/node/package-lock.json) form ONE cluster through real Redis."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import needs_node, needs_redis
from tests.cluster.harness import BEHAVIOURS, Fleet, eventually
from tests.conftest import scaled
from wsbench.launch.cluster import Cluster, ClusterSpec

pytestmark = [needs_redis, needs_node, pytest.mark.node, pytest.mark.slow,
              pytest.mark.timeout(300), pytest.mark.xdist_group("mixed-cluster")]  # fmt: skip

COUNT = 500


@pytest.fixture(scope="module")
def mixed_cluster():
    # python, node, python, node: senders on both kinds, receivers of both kinds
    with Cluster(ClusterSpec(("python", "node", "python", "node"), balancer=False)) as cluster:
        yield cluster


@pytest.mark.parametrize("sender", [0, 1], ids=["from-python", "from-node"])
async def test_mixed_cluster_delivers_every_broadcast_exactly_once(mixed_cluster, sender) -> None:
    fleet = await Fleet.open(mixed_cluster.node_urls, per_node=3)
    try:
        # client 0 is on node 0 (Python), client 1 on node 1 (Node); both are in room r1 or r2
        outcomes = [await fleet.run(b, COUNT, sender=sender) for b in BEHAVIOURS]
    finally:
        await fleet.close()
    for outcome in outcomes:
        assert (outcome.duplicates, outcome.lost, outcome.leaked) == (0, 0, 0), outcome.summary()
        assert {t.node for t in outcome.tallies if t.copies} == {0, 1, 2, 3}, outcome.summary()


async def test_fetch_sockets_sockets_join_and_server_side_emit_span_the_mixed_cluster(
    mixed_cluster,
) -> None:
    fleet = await Fleet.open(mixed_cluster.node_urls, per_node=2)
    try:
        ids = sorted(c.sid for c in fleet.clients)
        for asker in (0, 1):  # a Python node and a Node node ask
            socket = fleet.clients[asker].socket()
            everyone = await socket.call("cluster sockets", {}, timeout=scaled(10))
            assert everyone["ok"] is True, everyone
            assert [s["id"] for s in everyone["sockets"]] == ids
            in_r2 = await socket.call("cluster sockets", {"room": "r2"}, timeout=scaled(10))
            expected = sorted(c.sid for c, t in zip(fleet.clients, fleet.tallies, strict=True)
                              if "r2" in t.rooms)  # fmt: skip
            assert [s["id"] for s in in_r2["sockets"]] == expected
            # every socket's rooms are reported by its own node, Python or Node alike
            by_id = {s["id"]: s["rooms"] for s in everyone["sockets"]}
            for client, tally in zip(fleet.clients, fleet.tallies, strict=True):
                assert by_id[client.sid] == sorted({client.sid, *tally.rooms}), by_id

            answers = await socket.call("cluster emit", {"data": {"n": asker}}, timeout=scaled(10))
            assert answers["ok"] is True, answers
            assert len(answers["responses"]) == 3  # every OTHER node answered once
            assert all(a["data"] == {"n": asker} for a in answers["responses"])
            assert len({a["node"] for a in answers["responses"]}) == 3

        # socketsJoin from the Node node, socketsLeave from the Python node, seen cluster-wide
        node_side, python_side = fleet.clients[1].socket(), fleet.clients[0].socket()
        assert await node_side.call("cluster join", {"room": "all-in", "target": "r1"},
                                    timeout=scaled(5)) == {"ok": True}  # fmt: skip
        r1 = sorted(c.sid for c, t in zip(fleet.clients, fleet.tallies, strict=True)
                    if "r1" in t.rooms)  # fmt: skip

        async def members(room: str) -> list[str]:
            found = await python_side.call("cluster sockets", {"room": room}, timeout=scaled(10))
            return [s["id"] for s in found["sockets"]]

        # the join travels through Redis to the other nodes: wait for it on a condition
        assert await eventually(lambda: members("all-in"), lambda ids: ids == r1) == r1
        assert await python_side.call("cluster leave", {"room": "all-in"},
                                      timeout=scaled(5)) == {"ok": True}  # fmt: skip
        assert await eventually(lambda: members("all-in"), lambda ids: ids == []) == []
    finally:
        await fleet.close()
