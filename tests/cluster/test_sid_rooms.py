"""A socket on one node cannot join the id room of a socket on another node (issue 12/11, h49).

Before: both servers refused a join of another socket's id room only when that socket was on
the SAME node, so across nodes a socket joined it and read its private messages (``conform
--nodes 3 --app scenarios/apps/reference.yaml``: join-room.refusal, join.refusal and
security.sid-room-hijack FAILED, 460 of 460 private messages read). Now a room with the exact
shape of a socket id, other than the socket's own, is refused on every node (docs/events.md
"Security and limits"), Python and Node twin alike, and so is ``cluster join``/``cluster leave``
of such a room (socketsJoin into a socket's id room; socketsLeave making it unreachable).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.cluster.conftest import needs_node, needs_redis
from tests.conftest import scaled, until
from wsbench.client.api import Client, connect
from wsbench.launch.cluster import Cluster, ClusterSpec

pytestmark = [needs_redis, pytest.mark.slow, pytest.mark.timeout(240)]

KINDS = {
    "python-python": ("python", "python"),
    "python-node": pytest.param(("python", "node"), marks=[needs_node, pytest.mark.node]),
}


@pytest.fixture(scope="module", params=list(KINDS.values()), ids=list(KINDS))
def cluster(request):
    with Cluster(ClusterSpec(request.param, balancer=False)) as running:
        yield running


class Inbox:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.private: list[Any] = []
        client.socket().on("private message", lambda data=None, *_: self.private.append(data))

    @property
    def sid(self) -> str:
        assert self.client.sid is not None
        return self.client.sid

    async def call(self, event: str, *args: Any) -> Any:
        return await self.client.socket().call(event, *args, timeout=scaled(10))


async def open_inbox(url: str) -> Inbox:
    return Inbox(await connect(url))


@pytest.mark.parametrize("victim_node", [0, 1], ids=["victim-on-node0", "victim-on-node1"])
async def test_a_socket_cannot_join_the_id_room_of_a_socket_on_another_node(
    cluster, victim_node
) -> None:
    urls = cluster.node_urls
    hijacker_node = 1 - victim_node
    victim, sender = await open_inbox(urls[victim_node]), await open_inbox(urls[victim_node])
    hijacker = await open_inbox(urls[hijacker_node])
    try:
        # the victim is known cluster-wide (fetchSockets through the adapter), so the join
        # below is not early: the hijacker's node could have asked, and needs not
        listed = await hijacker.call("cluster sockets", {})
        assert victim.sid in {s["id"] for s in listed["sockets"]}, listed
        for event in ("join", "join room"):
            answer = await hijacker.call(event, victim.sid)
            assert answer["ok"] is False, (event, answer)
            assert "private room" in answer["error"], answer
        for event in ("cluster join", "cluster leave"):
            answer = await hijacker.call(event, {"room": victim.sid})
            assert answer["ok"] is False, (event, answer)
        # its own id is still allowed, and an ordinary room too
        assert (await hijacker.call("join", hijacker.sid))["ok"] is True
        assert (await hijacker.call("join", "lobby"))["ok"] is True

        # nothing reaches the hijacker: the victim's private message, then one to the hijacker
        # from the same node (Redis delivers one publisher's messages in order), so once the
        # second arrived, a copy of the first would have arrived before it
        assert (await sender.call("private message", {"to": victim.sid, "message": "secret"}))[
            "ok"
        ] is True
        assert (await sender.call("private message", {"to": hijacker.sid, "message": "yours"}))[
            "ok"
        ] is True
        assert await until(lambda: bool(victim.private) and bool(hijacker.private), 10)
        assert victim.private == [{"from": sender.sid, "message": "secret"}]
        assert hijacker.private == [{"from": sender.sid, "message": "yours"}]
        # the victim is still reachable by id from the other node (no socketsLeave of its room)
        assert (await hijacker.call("private message", {"to": victim.sid, "message": "hi"}))[
            "ok"
        ] is True
        assert await until(lambda: len(victim.private) == 2, 10)
        assert victim.private[1] == {"from": hijacker.sid, "message": "hi"}
    finally:
        for inbox in (victim, sender, hijacker):
            await inbox.client.close()
