"""Namespace ``/`` of docs/events.md: harness, chat/rooms/private messages, broadcasting
triggers, live documents, notifications, app heartbeat, and the room security rules."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from reference_server.namespaces.common import (
    DEFERRED,
    ROOM_MAX_CHARS,
    handle,
    is_int,
    is_object,
    require,
    require_object,
    require_room,
)
from reference_server.redis_adapter import (
    fetch_sockets,
    node_id,
    on_server_side,
    server_side_emit_with_ack,
    sockets_join,
    sockets_leave,
)
from reference_server.sio import Socket
from reference_server.state import DOC_ID_MAX_CHARS, AppState

__all__ = ["install"]

log = logging.getLogger(__name__)

CLUSTER_PING = "cluster ping"
"""The server-side event of ``cluster emit`` (docs/events.md "Cluster triggers")."""
_TASKS: set[asyncio.Task[None]] = set()

RESERVED_PREFIXES = ("doc:", "user:", "#")
FOREIGN_SOCKET_ID = '"to" is the id of a socket in another namespace (ids are per namespace)'
SOCKET_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{20}")
"""The exact shape of every socket id either server issues: ``new_id()`` here
(``secrets.token_urlsafe(15)``) and socket.io's ``base64id.generateId()`` in the Node twin (15
bytes in base64 with ``/`` -> ``_`` and ``+`` -> ``-``), recovered sessions keeping theirs. A room
of this shape is reserved cluster-wide (docs/events.md "Security and limits")."""


def install(state: AppState) -> None:
    io, config = state.io, state.config
    main = io.of("/")
    if config.jwt_secret:
        main.use(state.authenticate)
    ignore_leave = config.has_fault("ignore-leave")
    private_join = config.has_fault("private-room-join")
    state_wrong_doc = config.has_fault("document-state-wrong-doc")
    ack_wrong_payload = config.has_fault("ack-wrong-payload")

    # -- security rules (docs/events.md "Security and limits") ----------------------------

    def is_other_socket_id(socket: Socket, room: str) -> bool:
        # Any room shaped like a socket id but this socket's own: the id of a socket connected
        # to another node of a cluster is not in this node's tables (nor, with --recovery, the
        # id of a disconnected socket that may still come back), and a socket id is random, so
        # no legitimate room name needs this shape. Local, no adapter round trip.
        return room != socket.id and SOCKET_ID_SHAPE.fullmatch(room) is not None

    def is_foreign_socket_id(room: str) -> bool:
        if room in main.sockets:
            return False
        return any(room in nsp.sockets for nsp in io.namespaces.values() if nsp is not main)

    def counted_rooms(socket: Socket) -> int:
        own = {socket.id, socket.data.get("user_room")}
        return sum(1 for room in socket.rooms if room not in own)

    def require_joinable(socket: Socket, room: Any) -> str:
        require_room(room)
        require(not room.startswith(RESERVED_PREFIXES), f'room "{room}" uses a reserved prefix')
        if not private_join:
            require(
                not is_other_socket_id(socket, room), "cannot join another socket's private room"
            )
        require(
            room in socket.rooms or counted_rooms(socket) < config.max_rooms,
            f"at most {config.max_rooms} rooms",
        )
        return room

    def require_leavable(socket: Socket, room: Any) -> str:
        require_room(room)
        require(not room.startswith(RESERVED_PREFIXES), f'room "{room}" uses a reserved prefix')
        require(room != socket.id, "cannot leave the socket's own room")
        return room

    def require_doc_id(doc_id: Any) -> str:
        require(
            isinstance(doc_id, str) and 0 < len(doc_id) <= DOC_ID_MAX_CHARS,
            f"docId must be a non-empty string of at most {DOC_ID_MAX_CHARS} characters",
        )
        return doc_id

    def leave(socket: Socket, room: str) -> None:
        if not ignore_leave:
            socket.leave(room)

    # -- connection -------------------------------------------------------------------------

    def on_connection(socket: Socket) -> None:
        socket.emit("auth", socket.auth)
        user = state.user_id_of(socket)
        if user is not None:
            socket.data["user_room"] = f"user:{user}"
            socket.join(socket.data["user_room"])
        socket.data["alive"] = True

        # harness
        def message(*args: Any, ack: Any = None) -> None:
            socket.emit("message-back", *args)

        def echo(*args: Any, ack: Any = None) -> None:
            if ack is not None:
                ack(*args)

        socket.on("message", message)
        socket.on("message-with-ack", echo)
        socket.on("echo", echo)

        # seed "Socket.IO Server"
        def chat_message(msg: Any = None) -> None:
            main.emit("chat message", msg)

        def join_room(room: Any = None) -> dict[str, Any]:
            require_joinable(socket, room)
            socket.join(room)
            socket.emit("joined", room)
            socket.to(room).emit("user joined", socket.id)
            return {"ok": True, "room": room}

        def leave_room(room: Any = None) -> dict[str, Any]:
            require_leavable(socket, room)
            leave(socket, room)
            socket.to(room).emit("user left", socket.id)
            return {"ok": True, "room": room}

        def private_message(payload: Any = None) -> None:
            p = require_object(payload, "to", "message")
            to = require_room(p["to"], "to")
            # socket ids are per namespace: an id of another namespace's socket reaches nobody
            # here, so it is refused rather than acked {ok: true} (docs/events.md)
            require(not is_foreign_socket_id(to), FOREIGN_SOCKET_ID)
            socket.to(to).emit("private message", {"from": socket.id, "message": p["message"]})

        # seed "Rooms and Namespaces"
        def join(room: Any = None) -> dict[str, Any]:
            require_joinable(socket, room)
            socket.join(room)
            main.to(room).emit("user joined", socket.id)
            return {"ok": True, "room": room}

        def room_message(payload: Any = None) -> None:
            p = require_object(payload, "room", "message")
            room = require_room(p["room"])
            main.to(room).emit(
                "message", {"room": room, "from": socket.id, "message": p["message"]}
            )

        def leave_(room: Any = None) -> dict[str, Any]:
            require_leavable(socket, room)
            leave(socket, room)
            main.to(room).emit("user left", socket.id)
            return {"ok": True, "room": room}

        # seed "Broadcasting": one trigger per variant
        def broadcast_all(payload: Any = None) -> None:
            main.emit("event", require_object(payload, "data")["data"])

        def broadcast_others(payload: Any = None) -> None:
            socket.broadcast.emit("event", require_object(payload, "data")["data"])

        def broadcast_room(payload: Any = None) -> None:
            p = require_object(payload, "room", "data")
            main.to(require_room(p["room"])).emit("event", p["data"])

        def broadcast_rooms(payload: Any = None) -> None:
            p = require_object(payload, "rooms", "data")
            rooms = p["rooms"]
            require(
                isinstance(rooms, list) and 1 <= len(rooms) <= 100,
                "rooms must be a list of 1 to 100 rooms",
            )
            for room in rooms:
                require_room(room)
            main.to(*rooms).emit("event", p["data"])

        def broadcast_room_others(payload: Any = None) -> None:
            p = require_object(payload, "room", "data")
            socket.to(require_room(p["room"])).emit("event", p["data"])

        def broadcast_socket(payload: Any = None) -> None:
            p = require_object(payload, "to", "data")
            main.to(require_room(p["to"], "to")).emit("event", p["data"])

        def broadcast_volatile(payload: Any = None) -> None:
            p = require_object(payload, "data")
            count = p.get("count", 1)
            require(is_int(count, 1, 10000), "count must be an integer from 1 to 10000")
            if "room" in p:
                target = main.volatile.to(require_room(p["room"]))
                for _ in range(count):
                    target.emit("event", p["data"])
            else:
                for _ in range(count):
                    socket.volatile_emit("event", p["data"])

        def request_ack(payload: Any = None, *, ack: Any = None) -> object:
            p = require_object(payload, "data")
            timeout = p.get("timeout", 5000)
            require(is_int(timeout, 1, 60000), "timeout must be an integer from 1 to 60000 ms")

            def answered(err: Exception | None, args: list[Any]) -> None:
                if ack is None:
                    return
                if err is not None:
                    ack({"ok": False, "error": "timeout"})
                elif ack_wrong_payload:  # fault: the client's answer is dropped
                    ack({"ok": True, "response": None})
                else:
                    ack({"ok": True, "response": args[0] if args else None})

            socket.emit("ack request", p["data"], callback=answered, timeout=timeout)
            return DEFERRED

        def broadcast_with_ack(payload: Any = None, *, ack: Any = None) -> object:
            # io.to(room).timeout(ms).emit('ack request', data, (err, responses) => ...)
            p = require_object(payload, "data")
            timeout = p.get("timeout", 5000)
            require(is_int(timeout, 1, 60000), "timeout must be an integer from 1 to 60000 ms")
            rooms = (require_room(p["room"]),) if "room" in p else ()
            targets = main.adapter.recipients(rooms, ())
            collect = BroadcastAcks(len(targets), ack)
            if targets:
                collect.timer = socket.conn.loop.call_later(timeout / 1000, collect.expire)
            for target in targets:
                target.emit("ack request", p["data"], callback=collect.answered, timeout=timeout)
            collect.settle()
            return DEFERRED

        # seed "Live Updates"
        def subscribe_document(doc_id: Any = None) -> dict[str, Any]:
            require_doc_id(doc_id)
            room = f"doc:{doc_id}"
            require(
                room in socket.rooms or counted_rooms(socket) < config.max_rooms,
                f"at most {config.max_rooms} rooms",
            )
            socket.join(room)
            doc = state.document(doc_id)
            socket.emit(
                "document state",
                # fault: the document named by its room, not its id
                {"docId": room if state_wrong_doc else doc_id, "version": doc["version"],
                 "content": doc["content"]},
            )
            return {"ok": True, "room": room}

        def update_document(payload: Any = None) -> dict[str, Any]:
            p = require_object(payload, "docId", "changes")
            doc_id = require_doc_id(p["docId"])
            changes = p["changes"]
            require(is_object(changes), "changes must be an object")
            doc = state.document(doc_id)
            doc["version"] += 1
            doc["content"].update(changes)
            main.to(f"doc:{doc_id}").emit(
                "document updated", {"docId": doc_id, "changes": changes, "version": doc["version"]}
            )
            return {"ok": True, "version": doc["version"]}

        def unsubscribe_document(doc_id: Any = None) -> dict[str, Any]:
            require_doc_id(doc_id)
            room = f"doc:{doc_id}"
            leave(socket, room)
            return {"ok": True, "room": room}

        # seed "Real-time Notifications"
        def fetch_notifications(payload: Any = None) -> list[dict[str, Any]]:
            query = {} if payload is None else payload
            require(is_object(query), "payload must be an object {since?}")
            since = query.get("since", 0)
            require(is_int(since, -(2**53), 2**53), "since must be an integer")
            return [] if user is None else state.notifications_since(user, since)

        # seed "Heartbeat/Ping-Pong"
        def pong(*args: Any, ack: Any = None) -> None:
            socket.data["alive"] = True

        socket.on("pong", pong)
        for event, fn in (
            ("chat message", chat_message),
            ("join room", join_room),
            ("leave room", leave_room),
            ("private message", private_message),
            ("join", join),
            ("room message", room_message),
            ("leave", leave_),
            ("broadcast all", broadcast_all),
            ("broadcast others", broadcast_others),
            ("broadcast room", broadcast_room),
            ("broadcast rooms", broadcast_rooms),
            ("broadcast room others", broadcast_room_others),
            ("broadcast socket", broadcast_socket),
            ("broadcast volatile", broadcast_volatile),
            ("subscribe document", subscribe_document),
            ("update document", update_document),
            ("unsubscribe document", unsubscribe_document),
            ("fetch notifications", fetch_notifications),
        ):
            handle(socket, event, fn)
        handle(socket, "request ack", request_ack, wants_ack=True)
        handle(socket, "broadcast with ack", broadcast_with_ack, wants_ack=True)
        install_cluster_triggers(socket, main)

    main.on_connection = on_connection
    assert ROOM_MAX_CHARS == 128

    # every other node answers `cluster emit` with its id and the data (docs/events.md)
    def cluster_ping(data: Any = None, *, ack: Callable[[Any], None] | None = None) -> None:
        if ack is not None:
            ack({"node": node_id(main.adapter), "data": data})

    on_server_side(main.adapter, CLUSTER_PING, cluster_ping)


class BroadcastAcks:
    """The answers of one ``broadcast with ack`` (socket.io's ``(err, responses)`` callback).

    One answer (the first argument of the recipient's ACK, ``None`` if none) per recipient,
    in arrival order; it settles when every recipient answered, or at the timeout with the
    answers that came (a recipient that disconnected meanwhile is simply missing). Each
    recipient's own ack id and timeout belong to its session (so nothing outlives it);
    their timeouts and disconnect errors are not answers.
    """

    __slots__ = ("expected", "ack", "responses", "timer", "done")

    def __init__(self, expected: int, ack: Callable[..., None] | None) -> None:
        self.expected, self.ack = expected, ack
        self.responses: list[Any] = []
        self.timer: asyncio.TimerHandle | None = None
        self.done = False

    def answered(self, err: Exception | None, args: list[Any]) -> None:
        if err is None and not self.done:
            self.responses.append(args[0] if args else None)
            self.settle()

    def settle(self) -> None:
        if not self.done and len(self.responses) >= self.expected:
            self._finish(timed_out=False)

    def expire(self) -> None:
        if not self.done:
            self._finish(timed_out=True)

    def _finish(self, timed_out: bool) -> None:
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        if self.ack is not None:
            self.ack({
                "ok": True,
                "recipients": self.expected,
                "responses": self.responses,
                "timedOut": timed_out,
                "missing": self.expected - len(self.responses),
            })  # fmt: skip


def install_cluster_triggers(socket: Socket, main: Any) -> None:
    """docs/events.md "Cluster triggers": fetchSockets, socketsJoin/Leave, serverSideEmit."""

    def later(ack: Any, work: Callable[[], Awaitable[Any]]) -> object:
        async def run() -> None:
            try:
                result = await work()
            except TimeoutError as exc:
                result = {"ok": False, "error": str(exc)}
            except Exception as exc:  # Redis unreachable: an answer, never a hung ack
                log.warning("! cluster request failed: %s", exc)
                result = {"ok": False, "error": f"cluster request failed: {exc}"}
            if ack is not None:
                ack(result)

        task = asyncio.get_running_loop().create_task(run())
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)
        return DEFERRED

    def cluster_sockets(payload: Any = None, *, ack: Any = None) -> object:
        query = {} if payload is None else payload
        require(is_object(query), "payload must be an object {room?}")
        rooms = [require_room(query["room"])] if "room" in query else []

        async def work() -> dict[str, Any]:
            found = await fetch_sockets(main.adapter, rooms)
            listed = sorted(
                ({"id": s["id"], "rooms": sorted(s.get("rooms") or [])} for s in found),
                key=lambda s: s["id"],
            )
            return {"ok": True, "sockets": listed}

        return later(ack, work)

    def cluster_join_leave(join: bool) -> Callable[..., None]:
        def run(payload: Any = None) -> None:
            p = require_object(payload, "room")
            room = require_room(p["room"])
            require(not room.startswith(RESERVED_PREFIXES), f'room "{room}" uses a reserved prefix')
            # socketsJoin/socketsLeave of a socket's id room: a hijack, or a socket unreachable
            require(
                SOCKET_ID_SHAPE.fullmatch(room) is None,
                f'room "{room}" has the shape of a socket id (a private room)',
            )
            targets = [require_room(p["target"], "target")] if "target" in p else []
            (sockets_join if join else sockets_leave)(main.adapter, targets, [room])

        return run

    def cluster_emit(payload: Any = None, *, ack: Any = None) -> object:
        p = require_object(payload, "data")

        async def work() -> dict[str, Any]:
            answers = await server_side_emit_with_ack(main.adapter, CLUSTER_PING, p["data"])
            answers = sorted(answers, key=lambda a: str(a.get("node")) if is_object(a) else "")
            return {"ok": True, "responses": answers}

        return later(ack, work)

    handle(socket, "cluster sockets", cluster_sockets, wants_ack=True)
    handle(socket, "cluster join", cluster_join_leave(True))
    handle(socket, "cluster leave", cluster_join_leave(False))
    handle(socket, "cluster emit", cluster_emit, wants_ack=True)


def heartbeat_round(state: AppState) -> None:
    """One app-level ping round over ``/`` (seed L505-514)."""
    for socket in list(state.io.of("/").sockets.values()):
        if not socket.data.get("alive", True):
            socket.disconnect()
            continue
        socket.data["alive"] = False
        socket.emit("ping")
