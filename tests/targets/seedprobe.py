"""Direct probes of the seed servers (tests/targets/seed): does a build show a given misbehaviour?

Independent of ``wsbench conform``: each probe drives a few wsbench clients against a running
seed server and returns a description of what it saw go wrong, or ``None`` when the behaviour
scenarios/apps/seed.yaml declares held. ``FAULT_PROBES`` maps each fault of
``tests/targets/seed/glue.js`` to the probe that sees it; ``DEFECT_PROBES`` are the seed's own
defects (present in server.js, gone in fixed.js).

No verdict waits on a fixed sleep: :func:`barrier` proves that the server processed everything
a client sent before and that everything it pushed to a client before has arrived (the harness
``message`` -> ``message-back`` on ``/``: one Engine.IO connection is processed and written in
order, so a client's ``/chat`` or ``/admin`` traffic on the same connection is covered too).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from tests.conftest import scaled, until
from wsbench.client import connect
from wsbench.conformance.sio import mint_token
from wsbench.exceptions import ConnectRefused

SECRET = "seed-probe-secret"
_tokens = itertools.count()


class Peer:
    """One client (one Engine.IO connection) and every event its namespaces received."""

    def __init__(self, client: Any, namespaces: tuple[str, ...]) -> None:
        self.client = client
        self.got: list[tuple[str, str, list[Any]]] = []
        for ns in namespaces:
            client.socket(ns).on_any(
                lambda event, *args, ns=ns: self.got.append((ns, event, list(args)))
            )

    @property
    def sid(self) -> str:
        return self.client.socket("/").sid

    def emit(self, event: str, *args: Any, ns: str = "/") -> None:
        self.client.socket(ns).emit(event, *args)

    def events(self, event: str, ns: str = "/") -> list[list[Any]]:
        return [args for n, e, args in self.got if n == ns and e == event]


async def peer(url: str, namespaces: tuple[str, ...] = ("/",), token: bool = True) -> Peer:
    auth = {"token": mint_token(SECRET, {"userId": "probe"})} if token else {}
    client = await connect(url, namespaces=namespaces, auth=auth, reconnection=False,
                           timeout=scaled(10))  # fmt: skip
    return Peer(client, namespaces)


async def barrier(*peers: Peer) -> None:
    """Each peer in turn: the server processed all it sent, and all pushed to it arrived."""
    for p in peers:
        mark = f"barrier-{next(_tokens)}"
        waiting = asyncio.ensure_future(p.client.socket("/").wait_for("message-back"))
        p.emit("message", mark)
        while (await asyncio.wait_for(asyncio.shield(waiting), scaled(10))) != [mark]:
            waiting = asyncio.ensure_future(p.client.socket("/").wait_for("message-back"))


async def closing(*peers: Peer) -> None:
    for p in peers:
        await p.client.close()


Probe = Callable[[str], Awaitable[str | None]]


async def chat_exactly_once_in_order(url: str) -> str | None:
    """'chat message' is io.emit: every socket, the sender too, each message once, in order."""
    a, b = await peer(url), await peer(url)
    n = 130
    for i in range(n):
        a.emit("chat message", f"m{i}")
    await barrier(a, b)
    # the reorder fault may hold the last one back for 2 s: wait for the count, bounded
    sent = [f"m{i}" for i in range(n)]
    deadline = asyncio.get_running_loop().time() + scaled(5)
    while len(b.events("chat message")) < n and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    await closing(a, b)
    for who, p in (("sender", a), ("other", b)):
        got = [args[0] for args in p.events("chat message")]
        if got != sent:
            missing = sorted(set(sent) - set(got), key=sent.index)
            return f"{who} got {len(got)} of {n} 'chat message' (missing {missing[:5]}), in order: {sorted(got, key=sent.index) == got}"
    return None


async def join_room_confirmed_not_announced_to_joiner(url: str) -> str | None:
    """'join room': 'joined' to the joiner, 'user joined' to the room's others, not the joiner."""
    member, joiner = await peer(url), await peer(url)
    rooms = [f"jr-{i}" for i in range(45)]
    for room in rooms:
        member.emit("join room", room)
    await barrier(member)
    for room in rooms:
        joiner.emit("join room", room)
    await barrier(joiner, member)
    await closing(member, joiner)
    joined = [args[0] for args in joiner.events("joined")]
    if joined != rooms:
        return f"the joiner got 'joined' for {len(joined)} of {len(rooms)} rooms"
    own = [args for args in joiner.events("user joined")]
    if own:
        return f"the joiner got its own 'user joined' {len(own)} times"
    seen = [args[0] for args in member.events("user joined")]
    if seen != [joiner.sid] * len(rooms):
        return f"the member got {len(seen)} 'user joined' for {len(rooms)} joins"
    return None


async def room_message_isolated_and_shaped(url: str) -> str | None:
    """'room message' -> 'message' {room, from, message} to the room (sender too), nobody else."""
    inside, outside = await peer(url), await peer(url)
    inside.emit("join", "rm-a")
    outside.emit("join", "rm-b")
    await barrier(inside, outside)
    n = 210
    for i in range(n):
        inside.emit("room message", {"room": "rm-a", "message": i})
    await barrier(inside, outside)
    await closing(inside, outside)
    leaked = [args for args in outside.events("message") if args[0].get("room") == "rm-a"]
    if leaked:
        return f"{len(leaked)} 'message' of room rm-a reached a socket in rm-b only"
    got = [args[0] for args in inside.events("message")]
    want = [{"room": "rm-a", "from": inside.sid, "message": i} for i in range(n)]
    if got != want:
        bad = [g for g, w in zip(got, want, strict=False) if g != w]
        return f"the room got {len(got)} of {n} 'message', {len(bad)} unlike {{room, from, message}}: {bad[:2]}"
    return None


async def leave_applied(url: str) -> str | None:
    """'leave' leaves: a later room message does not reach the leaver."""
    leaver, sender = await peer(url), await peer(url)
    leaver.emit("join", "lv")
    leaver.emit("leave", "lv")
    await barrier(leaver)
    sender.emit("room message", {"room": "lv", "message": "after leave"})
    await barrier(sender, leaver)
    await closing(leaver, sender)
    got = leaver.events("message")
    return f"the leaver still got {got}" if got else None


async def private_message_once(url: str) -> str | None:
    """'private message' to a sid: that socket gets each exactly once, the sender none."""
    a, b = await peer(url), await peer(url)
    n = 70
    for i in range(n):
        a.emit("private message", {"to": b.sid, "message": i})
    await barrier(a, b)
    await closing(a, b)
    got = [args[0]["message"] for args in b.events("private message")]
    if got != list(range(n)):
        return f"the target got {len(got)} private messages for {n} sent"
    return (
        f"the sender got {len(a.events('private message'))}"
        if a.events("private message")
        else None
    )


async def chat_namespace_to_all(url: str) -> str | None:
    """/chat 'message' is chat.emit: every /chat socket, the sender included."""
    a, b = await peer(url, ("/", "/chat")), await peer(url, ("/", "/chat"))
    n = 60
    for i in range(n):
        a.emit("message", i, ns="/chat")
    await barrier(a, b)
    await closing(a, b)
    for who, p in (("sender", a), ("other", b)):
        got = [args[0] for args in p.events("message", "/chat")]
        if got != list(range(n)):
            return f"the {who} got {len(got)} of {n} /chat 'message'"
    return None


async def admin_announcement(url: str) -> str | None:
    """/admin 'broadcast' -> 'announcement' to every socket of /."""
    admin, listener = await peer(url, ("/", "/admin")), await peer(url)
    admin.emit("broadcast", "hello", ns="/admin")
    await barrier(admin, listener)
    await closing(admin, listener)
    for who, p in (("another connection's", listener), ("the sender's own", admin)):
        got = p.events("announcement")
        if got != [["hello"]]:
            return f"{who} / socket got {got} for one broadcast"
    return None


async def token_required(url: str) -> str | None:
    """The seed's middleware: a CONNECT to / without a token is refused 'Authentication error'."""
    try:
        p = await peer(url, token=False)
    except ConnectRefused as exc:
        return None if "Authentication error" in str(exc) else f"refused, but with {exc}"
    await closing(p)
    return "a CONNECT without a token was accepted"


async def sid_room_hijack(url: str) -> str | None:
    """The seed's defect: joining a room named like another socket's id reads its private messages."""
    victim, thief, friend = await peer(url), await peer(url), await peer(url)
    thief.emit("join room", victim.sid)
    thief.emit("join", [victim.sid])  # socket.join takes an array too
    await barrier(thief)
    friend.emit("private message", {"to": victim.sid, "message": "for the victim only"})
    await barrier(friend, victim, thief)
    await closing(victim, thief, friend)
    stolen = thief.events("private message")
    if not victim.events("private message"):
        return "the victim did not get its private message"
    return f"another socket read the victim's private message: {stolen}" if stolen else None


async def non_object_payload_survived(url: str) -> str | None:
    """The seed's defect: 'private message' / 'room message' with null crash the whole server."""
    a = await peer(url)
    a.emit("private message", None)
    a.emit("room message", None)
    a.emit("message", "after null")
    answered = await until(lambda: a.events("message-back") or not a.client.connected, 10)
    alive = bool(a.events("message-back"))
    await closing(a)
    if not alive:
        return "the server did not answer after a null payload" + (
            "" if answered else " (no answer and no disconnect)"
        )
    return None


FAULT_PROBES: dict[str, Probe] = {
    "chat-drop": chat_exactly_once_in_order,
    "chat-reorder": chat_exactly_once_in_order,
    "announce-joiner": join_room_confirmed_not_announced_to_joiner,
    "joined-missing": join_room_confirmed_not_announced_to_joiner,
    "room-leak": room_message_isolated_and_shaped,
    "payload-rename": room_message_isolated_and_shaped,
    "leave-ignored": leave_applied,
    "private-dup": private_message_once,
    "chat-ns-skip-sender": chat_namespace_to_all,
    "announce-drop": admin_announcement,
    "auth-bypass": token_required,
}
DEFECT_PROBES: dict[str, Probe] = {
    "sid-room-hijack": sid_room_hijack,
    "crash-on-non-object": non_object_payload_survived,  # last: on server.js it kills the server
}
