"""Cluster tier: delivery and room operations across the nodes of a horizontally scaled server.

A Socket.IO server scales out with an adapter (``@socket.io/redis-adapter``) that shares each
broadcast with every other node, and a load balancer with sticky sessions in front. The
adapters' trackers show how that fails: a broadcast delivered twice (a local emit plus the
Redis echo), a multi-room broadcast once per room on other nodes, room messages lost between
nodes, polling answered 400 "Session ID unknown" behind a balancer without stickiness. These
checks prove each promise with real sockets spread over the nodes.

Where the sockets are
---------------------
``wsbench conform --cluster`` with several ``--target`` URLs names the nodes: every check
opens :data:`PER_NODE` sockets on each node URL, so it knows each socket's node. With one URL
(a load balancer), the node of each socket is read from the contract's ``cluster emit``
trigger (docs/events.md "Cluster triggers", ``serverSideEmitWithAck``): every *other* node
answers with its id, so a socket's node is the one id missing from its own answers among all
the ids the sockets saw (:func:`identify`). This needs no extra contract and works on any
server that offers the trigger; with it absent, the balancer form is UNIMPLEMENTED.
``--target embedded --nodes N`` starts a cluster (Redis, N reference nodes, HAProxy) and gives
both its node URLs and its balancer.

Each socket has a place on its node: the first of each node is in room ``r1``, the second in
``r2``, the third in both, so every node holds members and non-members of every room. The
sender is the first socket of the first node.

Counting, never sleeping
------------------------
A delivery check sends :data:`COUNT` broadcasts (enough to see a 1% loss or duplicate rate:
5 of 500), then waits on conditions: a ``cluster emit`` round trip from the sender's node
(when offered; every node has read what the sender's node published before it answers, Redis
delivers each subscriber's messages in order), then :data:`MARKERS` broadcasts to everyone
and the wait until every socket has one, bounded by ``deliver_within``. Only then the quiet
window, for extra copies. Copies are counted per socket and per message, split into the
sender's node and the other nodes, and the verdict names what broke.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wsbench.conformance.checks.contract_broadcast import nonce
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.peer import Peer, offers
from wsbench.conformance.registry import check

COUNT = 500
"""Messages per check: a 1% loss or duplicate rate shows as 5 of them."""
PER_NODE = 3
"""Sockets per node URL (r1, r2, both)."""
THROUGH_BALANCER = 9
"""Sockets opened through a balancer (spread by it over the nodes)."""
MARKERS = 3
BATCH = 25
"""Acked calls in flight at once (fetchSockets / serverSideEmit checks)."""
SPEC = (
    "socket.io docs 'Using multiple nodes' and '@socket.io/redis-adapter' 8.x; docs/events.md "
    "§Broadcasting triggers, §Cluster triggers"
)
EMIT = "cluster emit"
_PLACES: tuple[tuple[str, ...], ...] = (("r1",), ("r2",), ("r1", "r2"))


@dataclass
class Member:
    """One socket of the fleet: where it is and what it received."""

    peer: Peer
    node: str
    place: int
    rooms: tuple[str, ...]
    copies: Counter[int] = field(default_factory=Counter)
    markers: int = 0
    others: int = 0
    seen: int = 0

    @property
    def sid(self) -> str:
        return self.peer.sids.get("/", "")

    def update(self, tag: str) -> None:
        """Count the events that arrived since the last call (payloads tagged ``tag``)."""
        new = self.peer.events[self.seen :]
        self.seen += len(new)
        for e in new:
            data = e.arg
            if e.name != "event" or not isinstance(data, dict) or data.get("t") != tag:
                continue
            if "m" in data:
                self.markers += 1
            elif isinstance(data.get("i"), int):
                self.copies[data["i"]] += 1
            else:
                self.others += 1

    def reset(self) -> None:
        self.copies.clear()
        self.markers = self.others = 0
        self.seen = len(self.peer.events)


class Fleet:
    """Sockets on every node of the cluster, in rooms named for one check."""

    def __init__(self, ctx: CheckContext, members: list[Member], names: dict[str, str]) -> None:
        self.ctx = ctx
        self.members = members
        self.names = names  # r1/r2/base -> this check's room names

    @property
    def nodes(self) -> list[str]:
        return sorted({m.node for m in self.members})

    @property
    def sender(self) -> Member:
        return self.members[0]

    def on(self, node: str) -> list[Member]:
        return [m for m in self.members if m.node == node]

    @classmethod
    async def open(cls, ctx: CheckContext) -> Fleet:
        """Open the sockets (UNIMPLEMENTED on a non-cluster target) and put them in rooms."""
        target = ctx.target
        if not target.cluster:
            ctx.unimplemented(
                "not a cluster: give --cluster with the node URLs (or one load balancer URL), "
                "or --target embedded --nodes N"
            )
        ctx.probe.transcript.limit = 300
        placed: list[tuple[Peer, str]] = []
        if target.nodes:
            for place in range(PER_NODE):
                for index, url in enumerate(target.nodes):
                    peer = await Peer.open(ctx, url=url, label=f"n{index}.{place}")
                    placed.append((peer, f"n{index}"))
        else:
            assert target.balancer is not None
            if not await offers(ctx, EMIT, ({"data": "probe"},)):
                ctx.unimplemented(
                    f"the target does not offer {EMIT!r}: behind one balancer URL the checks "
                    "cannot tell which node a socket is on (give the node URLs instead)"
                )
            peers = [
                await Peer.open(ctx, url=target.balancer, label=f"b{i}")
                for i in range(THROUGH_BALANCER)
            ]
            for peer, node in zip(peers, await identify(ctx, peers), strict=True):
                placed.append((peer, node))
        nodes = sorted({node for _, node in placed})
        if len(nodes) < 2:
            ctx.fail(
                f"every socket landed on one node ({nodes[0]}): the balancer does not spread "
                "connections, or the other nodes are not in the cluster"
            )
        names = {"r1": nonce("cl1"), "r2": nonce("cl2"), "base": nonce("clb")}
        members: list[Member] = []
        count: Counter[str] = Counter()
        for peer, node in sorted(placed, key=lambda pn: nodes.index(pn[1])):
            place = count[node]
            count[node] += 1
            members.append(Member(peer, node, place, _PLACES[place % len(_PLACES)]))
        # the sender (first socket of the first node) is in r1, so "room others" excludes it
        members.sort(key=lambda m: (m.place, nodes.index(m.node)))
        for m in members:
            for room in (*m.rooms, "base"):
                name = names[room]
                reply = await m.peer.call("join", name, timeout=5.0)
                ctx.expect(
                    reply == {"ok": True, "room": name}, f"{m.peer.label}: join refused: {reply!r}"
                )
        ctx.details["nodes"] = {n: [m.sid for m in members if m.node == n] for n in nodes}
        return cls(ctx, members, names)

    async def close(self) -> None:
        await asyncio.gather(*(m.peer.close() for m in self.members), return_exceptions=True)

    async def settle(self, tag: str, sender: Member) -> None:
        """Wait until every socket has every copy owed before this call (see the docstring)."""
        ctx = self.ctx
        if await offers(ctx, EMIT, ({"data": "probe"},)):
            await sender.peer.call(EMIT, {"data": "barrier"}, timeout=10.0)
        for m in range(MARKERS):
            await sender.peer.emit("broadcast all", {"data": {"t": tag, "m": m}})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ctx.deliver_within
        for member in self.members:

            def marked(member: Member = member) -> bool:
                member.update(tag)
                return member.markers > 0

            await member.peer.until(marked, max(deadline - loop.time(), 0.0))
        late = [m.peer.label for m in self.members if not m.markers]
        ctx.expect(
            not late,
            f"{len(late)} sockets ({', '.join(late[:5])}) got none of {MARKERS} broadcasts to "
            f"everyone within {ctx.deliver_within:.1f} s: delivery stalled",
        )
        await ctx.quiet()
        for member in self.members:
            member.update(tag)

    async def deliveries(
        self,
        event: str,
        payload: Callable[[dict[str, Any]], dict[str, Any]],
        owed: Callable[[Member], bool],
        what: str,
        sender: Member | None = None,
    ) -> str:
        """Send :data:`COUNT` broadcasts of ``event`` from ``sender``; judge every copy."""
        sender = sender or self.sender
        tag = nonce("t")
        for m in self.members:
            m.reset()
        for i in range(COUNT):
            await sender.peer.emit(event, payload({"t": tag, "i": i}))
        await self.settle(tag, sender)
        return judge(self.ctx, self, sender, owed, what)


def judge(
    ctx: CheckContext, fleet: Fleet, sender: Member, owed: Callable[[Member], bool], what: str
) -> str:
    """FAILED naming what broke, per side (the sender's node, the other nodes)."""
    sides: dict[str, Counter[str]] = {"same-node": Counter(), "other-node": Counter()}
    samples: list[str] = []
    for m in fleet.members:
        side = sides["same-node" if m.node == sender.node else "other-node"]
        if owed(m):
            side["expected"] += COUNT
            for i in range(COUNT):
                n = m.copies[i]
                side["delivered"] += n
                if n == 0:
                    side["lost"] += 1
                elif n > 1:
                    side["duplicates"] += n - 1
                if (n != 1) and len(samples) < 8:
                    samples.append(f"{m.peer.label} on {m.node}: #{i} x{n}")
        else:
            got = sum(m.copies.values())
            side["delivered"] += got
            key = "to-sender" if m is sender else "leaked"
            side[key] += got
            if got and len(samples) < 8:
                samples.append(f"{m.peer.label} on {m.node} (not owed any): {got} copies")
    ctx.details.update(
        sends=COUNT,
        sender=f"{sender.peer.label} on {sender.node}",
        **{k: dict(v) for k, v in sides.items()},
        samples=samples,
    )
    same, other = sides["same-node"], sides["other-node"]
    problems = []
    if other["duplicates"]:
        problems.append(f"{other['duplicates']} duplicate copies on other nodes")
    if same["duplicates"]:
        problems.append(
            f"{same['duplicates']} duplicate copies on the sender's node (a local emit plus the "
            "adapter's echo?)"
        )
    if other["lost"]:
        problems.append(
            f"{other['lost']} of {other['expected']} copies owed to sockets on other nodes lost "
            "between nodes"
        )
    if same["lost"]:
        problems.append(f"{same['lost']} of {same['expected']} copies lost on the sender's node")
    leaked = same["leaked"] + other["leaked"]
    if leaked:
        problems.append(f"{leaked} copies leaked to sockets outside the audience")
    if same["to-sender"]:
        problems.append(f"the sender got {same['to-sender']} copies of its own broadcast")
    if problems:
        ctx.fail(f"{what}: " + "; ".join(problems))
    ctx.expect(other["expected"] > 0, f"{what}: no socket of another node was in the audience")
    return (
        f"{what}: {COUNT} sends, {same['delivered'] + other['delivered']} copies, each owed "
        f"copy once on {len(fleet.nodes)} nodes ({other['expected']} to other nodes)"
    )


async def _run(ctx: CheckContext, body: Callable[[Fleet], Any]) -> str:
    fleet = await Fleet.open(ctx)
    try:
        result: str = await body(fleet)
        return result
    finally:
        await fleet.close()


def _cluster_check(id: str, title: str, *, catches: tuple[str, ...] = (), timeout: float = 90.0,
                   spec: str = SPEC) -> Callable[[Any], Any]:  # fmt: skip
    return check(
        id, title, tier=Tier.CLUSTER, spec=spec, needs=("contract", "cluster"),
        exclusive=True, timeout=timeout, catches=catches,
    )  # fmt: skip


# -- broadcasts across nodes ---------------------------------------------------------------------


@_cluster_check(
    "cluster.broadcast.all-exactly-once",
    "a broadcast to everyone sent on one node reaches every socket of every node exactly once",
    catches=("adapter-double-emit", "adapter-drop-remote"),
)
async def broadcast_all(ctx: CheckContext) -> str:
    async def body(fleet: Fleet) -> str:
        return await fleet.deliveries(
            "broadcast all", lambda d: {"data": d}, lambda m: True, "broadcast all"
        )

    return await _run(ctx, body)


@_cluster_check(
    "cluster.broadcast.room-exactly-once-no-leak",
    "a room broadcast sent on one node reaches the room's members on every node exactly once "
    "and no non-member on any node",
    catches=("adapter-double-emit", "adapter-drop-remote"),
)
async def broadcast_room(ctx: CheckContext) -> str:
    async def body(fleet: Fleet) -> str:
        room = fleet.names["r1"]
        return await fleet.deliveries(
            "broadcast room", lambda d: {"room": room, "data": d}, lambda m: "r1" in m.rooms,
            "room broadcast",
        )  # fmt: skip

    return await _run(ctx, body)


@_cluster_check(
    "cluster.broadcast.multi-room-one-copy",
    "a broadcast to several rooms sent on one node reaches a socket of another node that is "
    "in several of them once, not once per room",
    catches=("adapter-publish-per-room", "adapter-double-emit", "adapter-drop-remote"),
)
async def broadcast_rooms(ctx: CheckContext) -> str:
    async def body(fleet: Fleet) -> str:
        rooms = [fleet.names["r1"], fleet.names["r2"]]
        return await fleet.deliveries(
            "broadcast rooms", lambda d: {"rooms": rooms, "data": d}, lambda m: True,
            "multi-room broadcast",
        )  # fmt: skip

    return await _run(ctx, body)


@_cluster_check(
    "cluster.broadcast.room-sender-excluded",
    "a room broadcast that excludes its sender reaches the other members on every node exactly "
    "once and never the sender",
    catches=("adapter-double-emit", "adapter-drop-remote"),
)
async def broadcast_room_others(ctx: CheckContext) -> str:
    async def body(fleet: Fleet) -> str:
        room, sender = fleet.names["r1"], fleet.sender
        return await fleet.deliveries(
            "broadcast room others", lambda d: {"room": room, "data": d},
            lambda m: "r1" in m.rooms and m is not sender, "room broadcast but the sender",
        )  # fmt: skip

    return await _run(ctx, body)


# -- room operations and server-side emits across nodes -----------------------------------------


async def _need_trigger(ctx: CheckContext, event: str, args: tuple[Any, ...]) -> None:
    if not await offers(ctx, event, args):
        ctx.unimplemented(f"the target does not offer the contract trigger {event!r}")


async def _listed(fleet: Fleet, asker: Member, room: str) -> list[str]:
    """The socket ids ``cluster sockets {room}`` (fetchSockets) lists, asked on ``asker``'s node."""
    reply = await asker.peer.call("cluster sockets", {"room": room}, timeout=10.0)
    ok = isinstance(reply, dict) and reply.get("ok") is True
    fleet.ctx.expect(ok, f"cluster sockets {{room: {room}}} refused: {reply!r}")
    sockets = reply.get("sockets")
    fleet.ctx.expect(isinstance(sockets, list), f"cluster sockets: no list of sockets: {reply!r}")
    return [str(s.get("id")) if isinstance(s, dict) else str(s) for s in sockets]


async def _until_listed(
    fleet: Fleet, room: str, want: set[str], what: str
) -> None:  # condition, bounded: socketsJoin/Leave carry no acknowledgement
    ctx = fleet.ctx
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.deliver_within
    listed: list[str] = []
    while loop.time() < deadline:
        listed = await _listed(fleet, fleet.sender, room)
        if set(listed) == want:
            return
        await asyncio.sleep(0.02)  # polling the condition (fetchSockets), not a grace
    ctx.fail(
        f"{what}: fetchSockets still lists {len(set(listed) & want)} of the {len(want)} expected "
        f"sockets (and {len(set(listed) - want)} others) after {ctx.deliver_within:.1f} s"
    )


@_cluster_check(
    "cluster.fetch-sockets.spans-nodes",
    "fetchSockets ('cluster sockets') asked on any node lists the room's sockets of every node, "
    "each once, with their rooms",
)
async def fetch_sockets(ctx: CheckContext) -> str:
    await _need_trigger(ctx, "cluster sockets", ({},))

    async def body(fleet: Fleet) -> str:
        base = fleet.names["base"]
        want = sorted(m.sid for m in fleet.members)
        rounds = -(-COUNT // len(want))
        askers = [fleet.on(node)[0] for node in fleet.nodes]
        bad: list[str] = []
        for start in range(0, rounds, BATCH):
            batch = range(start, min(start + BATCH, rounds))
            answers = await asyncio.gather(
                *(askers[k % len(askers)].peer.call("cluster sockets", {"room": base},
                                                   timeout=10.0) for k in batch)
            )  # fmt: skip
            for k, reply in zip(batch, answers, strict=True):
                got = [s.get("id") for s in reply.get("sockets", [])] if isinstance(
                    reply, dict) else []  # fmt: skip
                if sorted(got) != want:
                    missing, extra = set(want) - set(got), len(got) - len(set(got))
                    bad.append(
                        f"asked on {askers[k % len(askers)].node}: {len(missing)} missing, "
                        f"{extra} listed twice, {len(set(got) - set(want))} unknown"
                    )
                    continue
                rooms = {s["id"]: set(s.get("rooms") or []) for s in reply["sockets"]}
                for m in fleet.members:
                    names = {fleet.names[r] for r in (*m.rooms, "base")}
                    if not names <= rooms[m.sid]:
                        bad.append(f"{m.peer.label} on {m.node} listed without rooms "
                                   f"{sorted(names - rooms[m.sid])}")  # fmt: skip
        ctx.details.update(calls=rounds, entries=rounds * len(want), problems=bad[:10])
        if bad:
            ctx.fail(f"fetchSockets across nodes: {len(bad)} wrong answers of {rounds}: {bad[0]}")
        return (
            f"{rounds} fetchSockets calls on {len(askers)} nodes each listed all {len(want)} "
            f"sockets once with their rooms ({rounds * len(want)} entries)"
        )

    return await _run(ctx, body)


async def _joined(fleet: Fleet) -> str:
    """``cluster join {room: X, target: base}`` on the sender's node; returns X once applied."""
    room = nonce("clj")
    await fleet.sender.peer.emit("cluster join", {"room": room, "target": fleet.names["base"]})
    await _until_listed(
        fleet, room, {m.sid for m in fleet.members}, "socketsJoin across nodes"
    )
    return room


@_cluster_check(
    "cluster.sockets-join.spans-nodes",
    "socketsJoin ('cluster join') asked on one node puts the matching sockets of every node in "
    "the room, so its broadcasts reach them exactly once",
    catches=("adapter-drop-remote",),
)
async def sockets_join(ctx: CheckContext) -> str:
    await _need_trigger(ctx, "cluster sockets", ({},))

    async def body(fleet: Fleet) -> str:
        room = await _joined(fleet)
        return await fleet.deliveries(
            "broadcast room", lambda d: {"room": room, "data": d}, lambda m: True,
            "broadcast to a room joined with socketsJoin",
        )  # fmt: skip

    return await _run(ctx, body)


@_cluster_check(
    "cluster.sockets-leave.spans-nodes",
    "socketsLeave ('cluster leave') asked on one node takes a socket of another node out of the "
    "room, so its broadcasts no longer reach it",
    catches=("adapter-drop-remote",),
)
async def sockets_leave(ctx: CheckContext) -> str:
    await _need_trigger(ctx, "cluster sockets", ({},))

    async def body(fleet: Fleet) -> str:
        room = await _joined(fleet)
        leavers = [fleet.on(node)[0] for node in fleet.nodes if node != fleet.sender.node]
        for m in leavers:
            await fleet.sender.peer.emit("cluster leave", {"room": room, "target": m.sid})
        stay = {m.sid for m in fleet.members} - {m.sid for m in leavers}
        await _until_listed(fleet, room, stay, "socketsLeave across nodes")
        return await fleet.deliveries(
            "broadcast room", lambda d: {"room": room, "data": d},
            lambda m: m not in leavers, "broadcast to a room after socketsLeave on other nodes",
        )  # fmt: skip

    return await _run(ctx, body)


@_cluster_check(
    "cluster.server-side-emit.every-other-node",
    "serverSideEmit with an acknowledgement ('cluster emit') asked on any node is answered once "
    "by every other node, with the data it was sent",
)
async def server_side_emit(ctx: CheckContext) -> str:
    await _need_trigger(ctx, EMIT, ({"data": "probe"},))

    async def body(fleet: Fleet) -> str:
        askers = [fleet.on(node)[0] for node in fleet.nodes]
        answers: list[tuple[Member, int, Any]] = []
        for start in range(0, COUNT, BATCH):
            batch = range(start, min(start + BATCH, COUNT))
            replies = await asyncio.gather(
                *(askers[k % len(askers)].peer.call(EMIT, {"data": {"k": k}}, timeout=10.0)
                  for k in batch)
            )  # fmt: skip
            answers += [(askers[k % len(askers)], k, r) for k, r in zip(batch, replies, strict=True)]
        everyone: set[str] = set()
        for _, _, reply in answers:
            for r in _responses(reply):
                everyone.add(str(r.get("node")))
        bad: list[str] = []
        own: dict[str, set[str]] = {}
        for asker, k, reply in answers:
            nodes = [str(r.get("node")) for r in _responses(reply)]
            own.setdefault(asker.node, set()).update(everyone - set(nodes))
            if len(nodes) != len(set(nodes)):
                bad.append(f"call {k} on {asker.node}: a node answered twice {sorted(nodes)}")
            elif len(nodes) != len(fleet.nodes) - 1:
                bad.append(f"call {k} on {asker.node}: {len(nodes)} answers from "
                           f"{len(fleet.nodes) - 1} other nodes")  # fmt: skip
            elif any(r.get("data") != {"k": k} for r in _responses(reply)):
                bad.append(f"call {k} on {asker.node}: data not echoed: {reply!r}")
        if not bad and any(len(ids) != 1 for ids in own.values()):
            bad.append(f"the answers do not leave out exactly the asker's node: {own}")
        ctx.details.update(calls=COUNT, node_ids=sorted(everyone), problems=bad[:10])
        if bad:
            ctx.fail(f"serverSideEmit across nodes: {len(bad)} wrong answers of {COUNT}: {bad[0]}")
        return f"{COUNT} serverSideEmit calls, each answered once by every other node"

    return await _run(ctx, body)


def _responses(reply: Any) -> list[dict[str, Any]]:
    if isinstance(reply, dict) and isinstance(reply.get("responses"), list):
        return [r for r in reply["responses"] if isinstance(r, dict)]
    return []


async def identify(ctx: CheckContext, peers: list[Peer]) -> list[str]:
    """The node of each peer behind a balancer, from ``cluster emit`` (the module docstring)."""
    replies = await asyncio.gather(
        *(p.call(EMIT, {"data": "whoami"}, timeout=10.0) for p in peers)
    )
    answered = [{str(r.get("node")) for r in _responses(reply)} for reply in replies]
    everyone = set().union(*answered)
    if not everyone:
        ctx.fail(
            "no other node answered 'cluster emit' (serverSideEmitWithAck): the target is one "
            "node, or its nodes do not share an adapter"
        )
    nodes = []
    for peer, others in zip(peers, answered, strict=True):
        mine = everyone - others
        if len(mine) != 1:
            ctx.fail(
                f"{peer.label}: 'cluster emit' was answered by {sorted(others)} of the nodes "
                f"{sorted(everyone)}: cannot tell which node the socket is on"
            )
        nodes.append(next(iter(mine)))
    return nodes


# -- polling through the balancer ----------------------------------------------------------------

ROUNDS = 30
"""Requests of one polling session through the balancer (a non-sticky one misroutes one soon)."""


@check(
    "cluster.polling.sticky-sessions",
    "HTTP long-polling through the cluster's load balancer keeps every request of a session on "
    "the node that holds it (sticky sessions), so none is answered 400 'Session ID unknown'",
    tier=Tier.CLUSTER,
    spec="socket.io docs 'Using multiple nodes' (sticky load balancing); Engine.IO v4 polling",
    needs=("cluster",),
    timeout=30.0,
)
async def polling_sticky(ctx: CheckContext) -> str:
    balancer = ctx.target.balancer
    if balancer is None:
        ctx.unimplemented(
            "no load balancer: give one balancer URL with --cluster (or --target embedded "
            "--nodes N) to check polling through it"
        )
    probe = await ctx.probe_for(balancer)
    resp = await probe.request("GET", "/socket.io/", "EIO=4&transport=polling", timeout=ctx.t(5))
    ctx.expect_status(resp, 200, "polling handshake through the balancer")
    text = resp.text
    sid = text[1:].split('"sid":"', 1)[-1].split('"', 1)[0] if text.startswith("0") else ""
    ctx.expect(bool(sid), f"polling handshake through the balancer: no sid in {text[:80]!r}")
    # a browser keeps the balancer's cookie (cookie stickiness); the probe does it by hand
    cookie = next((v.split(";", 1)[0] for k, v in resp.headers.items()
                   if k.lower() == "set-cookie"), None)  # fmt: skip
    headers = {"Cookie": cookie} if cookie else {}
    query = f"EIO=4&transport=polling&sid={sid}"
    ctx.details.update(cookie=cookie, rounds=ROUNDS)
    for k in range(ROUNDS):
        if k == 1:
            method, body = "GET", None  # the CONNECT's answer is waiting: never blocks
        else:
            method, body = "POST", ("40" if k == 0 else f'42["wsbench cluster probe",{k}]')
        r = await probe.request(
            method, "/socket.io/", query, body=body, headers=headers, timeout=ctx.t(5)
        )
        if r.status == 400 and "Session ID unknown" in r.text:
            ctx.details["misrouted_at"] = k
            ctx.fail(
                f"polling through the balancer is not sticky: request {k + 1} of the session "
                f"reached a node that does not hold it (HTTP 400 {r.text[:60]!r}); the balancer "
                "must keep a session on one node (a cookie or a source-address hash)"
            )
        ctx.expect_status(r, 200, f"polling request {k + 1} through the balancer")
    await probe.request("POST", "/socket.io/", query, body="1", headers=headers, timeout=ctx.t(5))
    how = f"cookie {cookie.split('=', 1)[0]}" if cookie else "no cookie (source affinity)"
    return f"{ROUNDS} polling requests of one session through the balancer all kept it ({how})"
