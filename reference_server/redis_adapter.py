"""A cluster through Redis, on the wire protocol of the official ``@socket.io/redis-adapter`` 8.x.

Theory of operation
-------------------
``--adapter redis://HOST:PORT`` makes every namespace's adapter a :class:`RedisAdapter`: it
delivers to this node's sockets as the in-memory :class:`~reference_server.adapter.Adapter`
does, and publishes the same broadcast to Redis so every other node (Python reference nodes
and Node socket.io nodes on ``@socket.io/redis-adapter`` alike) delivers it to theirs. One
:class:`RedisLink` per server holds the two Redis connections (one to publish, one in the
subscribed state), exactly like the official adapter's ``pubClient``/``subClient``.

The wire format (read from ``@socket.io/redis-adapter/dist/index.js`` 8.3, the version the
Node twin pins):

* broadcasts go to ``socket.io#<nsp>#`` or, when they target exactly one room,
  ``socket.io#<nsp>#<room>#``; the message is msgpack of ``[uid, packet, opts]`` with
  ``packet = {type: 2, data: [event, ...args], nsp}`` (binary stays ``bin``; the parser of
  each node builds the BINARY_EVENT) and ``opts = {rooms: [...], except: [...], flags}``.
  A node subscribes to the pattern ``socket.io#<nsp>#*``, ignores its own ``uid`` and a room
  channel of a room it has no member of.
* requests go to ``socket.io-request#<nsp>#`` (JSON, or msgpack when the first byte is not
  ``{``): ``{uid, requestId?, type, ...}`` with the types of :class:`RequestType`; answers
  go to ``socket.io-response#<nsp>#`` (also subscribed: ``socket.io-response#<nsp>#<uid>#``).
  ``SOCKETS``/``ALL_ROOMS``/``REMOTE_FETCH`` are answered by every node and the asker waits
  for ``PUBSUB NUMSUB`` of the request channel minus itself answers (``requestsTimeout``
  5 s); ``REMOTE_JOIN``/``REMOTE_LEAVE``/``REMOTE_DISCONNECT`` with ``opts`` are applied by
  every node (this node applies its own at once and ignores its echo, the official adapter
  waits for the echo: the result is the same); ``SERVER_SIDE_EMIT`` reaches every other
  node, with a ``requestId`` each answers once; ``BROADCAST`` (an acknowledged broadcast)
  is answered with ``BROADCAST_CLIENT_COUNT`` and one ``BROADCAST_ACK`` per client ack.

Publishing never blocks a handler: :meth:`RedisLink.publish` queues the message and one
writer task sends the queue in order, pipelined. Redis pub/sub has no replay: what is
published while Redis is unreachable is lost (counted in :attr:`RedisLink.lost`, logged
once per outage), and both connections come back on their own (bounded backoff, the
subscriptions renewed) so delivery resumes when Redis does.

Faults (docs/events.md "Faults", proving a cluster check sees them):
``adapter-double-emit`` does not ignore its own published broadcasts, so this node's
recipients get each broadcast twice (a local emit plus the Redis echo);
``adapter-drop-remote`` drops every 100th broadcast received from another node;
``adapter-publish-per-room`` publishes a multi-room broadcast once per room, so a socket of
another node that is in several of the rooms gets several copies.

Connection state recovery stays node-local in socket.io (the official Redis adapter does not
carry offsets), so ``--recovery`` with ``--adapter`` is refused at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import string
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import msgpack  # type: ignore[import-untyped]

from reference_server.adapter import Adapter
from reference_server.config import ServerConfig, check_adapter_url
from reference_server.transport import Prebuilt, fan_out
from wsbench.protocol.socketio import SioPacket, SioPacketType

__all__ = [
    "ClusterUnavailable",
    "RedisAdapter",
    "RedisLink",
    "RequestType",
    "check_adapter_url",
    "pack",
    "unpack",
]

log = logging.getLogger(__name__)

PREFIX = "socket.io"
REQUESTS_TIMEOUT = 5.0
"""Seconds a request waits for every node's answer (the official ``requestsTimeout``)."""
DROP_EVERY = 100
"""``adapter-drop-remote`` drops every DROP_EVERY-th broadcast received from another node."""
_BATCH = 512
_BACKOFF = (0.05, 0.1, 0.2, 0.5, 1.0)
_UID_ALPHABET = string.ascii_letters + string.digits


class RequestType(IntEnum):
    """The request types of ``@socket.io/redis-adapter`` (its ``RequestType`` enum)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


class ClusterUnavailable(ConnectionError):
    """Redis could not be reached at start-up (the message names the URL and the cause)."""


def new_uid() -> str:
    """A 6-character node id, like the official adapter's ``uid2(6)``."""
    return "".join(secrets.choice(_UID_ALPHABET) for _ in range(6))


def _ext_hook(code: int, data: bytes) -> Any:
    # notepack.io writes JavaScript ``undefined`` as fixext 1, type 0
    if code == 0:
        return None
    return msgpack.ExtType(code, data)


def unpack(data: bytes) -> Any:
    """Decode a message of the official adapter (msgpack as notepack.io writes it)."""
    return msgpack.unpackb(data, raw=False, ext_hook=_ext_hook, strict_map_key=False)


def pack(value: Any) -> bytes:
    """Encode as the official adapter does (msgpack, ``bytes`` as bin)."""
    return msgpack.packb(value, use_bin_type=True)


def _decode_request(data: bytes) -> Any:
    if data[:1] == b"{":
        return json.loads(data)
    return unpack(data)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass
class _Pending:
    """A request of this node waiting for the other nodes' answers."""

    type: RequestType
    expected: int
    future: asyncio.Future[list[Any]]
    answers: list[Any] = field(default_factory=list)


class RedisLink:
    """This server's two Redis connections, shared by the adapters of all its namespaces.

    Args:
        url: ``redis://HOST:PORT``.
        prefix: the channel prefix (the official adapter's ``key``, ``socket.io``).
    """

    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        self.url = check_adapter_url(url)
        self.prefix = prefix
        self.uid = new_uid()
        self.lost = 0  #: messages that could not be published (Redis unreachable)
        self.received = 0  #: broadcasts received from other nodes
        self._adapters: dict[str, RedisAdapter] = {}
        self._patterns: dict[str, RedisAdapter] = {}  # pattern -> adapter
        self._channels: dict[str, RedisAdapter] = {}  # request/response channel -> adapter
        self._queue: deque[tuple[str, bytes | str]] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pub: Any = None
        self._pubsub: Any = None
        self._sub_client: Any = None
        self._closed = False
        self._down_since: float | None = None

    # -- registration -------------------------------------------------------------------------

    def register(self, adapter: RedisAdapter) -> None:
        self._adapters[adapter.namespace] = adapter
        self._patterns[adapter.channel + "*"] = adapter
        for channel in adapter.subscribed_channels():
            self._channels[channel] = adapter
        if self._pubsub is not None:  # a namespace created after start
            task = asyncio.get_running_loop().create_task(self._subscribe_one(adapter))
            task.add_done_callback(lambda t: t.exception())

    async def _subscribe_one(self, adapter: RedisAdapter) -> None:
        await self._pubsub.psubscribe(adapter.channel + "*")
        await self._pubsub.subscribe(*adapter.subscribed_channels())

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, timeout: float = 5.0) -> None:
        """Connect and subscribe (before the server says it listens).

        Raises:
            ClusterUnavailable: Redis did not answer within ``timeout`` seconds.
        """
        import redis
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        try:
            # a command on a connection Redis closed (it restarted) is retried on a new one
            retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)
            self._pub = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=timeout, retry=retry,
                retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
            )  # fmt: skip
            self._sub_client = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=timeout, socket_timeout=None
            )
            await asyncio.wait_for(self._pub.ping(), timeout)
            self._pubsub = self._sub_client.pubsub()
            await asyncio.wait_for(self._subscribe_all(), timeout)
        except (OSError, TimeoutError, aioredis.RedisError) as exc:
            await self.close()
            raise ClusterUnavailable(
                f"cannot reach the Redis adapter at {self.url}: {exc}"
            ) from exc
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._write_loop()), loop.create_task(self._read_loop())]

    async def _subscribe_all(self) -> None:
        if self._patterns:
            await self._pubsub.psubscribe(*self._patterns)
        if self._channels:
            await self._pubsub.subscribe(*self._channels)

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        for closing in (self._pubsub, self._sub_client, self._pub):
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing.aclose()
        self._pubsub = self._sub_client = self._pub = None

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, channel: str, message: bytes | str) -> None:
        """Queue one PUBLISH; sent in order by the writer task, never blocking the caller."""
        if self._closed:
            return
        self._queue.append((channel, message))
        self._wake.set()

    async def _write_loop(self) -> None:
        import redis.asyncio as aioredis

        queue, failures = self._queue, 0
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            while queue and not self._closed:
                batch = [queue.popleft() for _ in range(min(_BATCH, len(queue)))]
                try:
                    pipe = self._pub.pipeline(transaction=False)
                    for channel, message in batch:
                        pipe.publish(channel, message)
                    await pipe.execute()
                    failures = 0
                    self._up()
                except (OSError, aioredis.RedisError) as exc:
                    self.lost += len(batch)  # pub/sub has no replay
                    self._down(exc)
                    await asyncio.sleep(_BACKOFF[min(failures, len(_BACKOFF) - 1)])
                    failures += 1

    def _down(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("! Redis adapter %s unreachable (%s): publishing is lost until it is back",
                        self.url, exc)  # fmt: skip

    def _up(self) -> None:
        if self._down_since is not None:
            log.warning("Redis adapter %s reachable again after %.1f s (%d messages lost)",
                        self.url, time.monotonic() - self._down_since, self.lost)  # fmt: skip
            self._down_since = None

    async def server_count(self, channel: str) -> int:
        """``PUBSUB NUMSUB channel``: how many nodes are subscribed (this one included)."""
        answer = await self._pub.pubsub_numsub(channel)
        return int(answer[0][1]) if answer else 0

    # -- receiving ----------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        import redis.asyncio as aioredis

        failures = 0
        while not self._closed:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except (OSError, aioredis.RedisError) as exc:
                self._down(exc)
                await self._resubscribe(failures)
                failures += 1
                continue
            if message is None:
                continue
            failures = 0
            try:
                self._dispatch(message)
            except Exception:
                log.exception("! Redis adapter: a message could not be handled")

    async def _resubscribe(self, failures: int) -> None:
        """Back off, then a fresh subscriber connection with every subscription (until it works:
        a read on a pubsub without a connection would fail at once, spinning the loop)."""
        import redis.asyncio as aioredis

        while not self._closed:
            await asyncio.sleep(_BACKOFF[min(failures, len(_BACKOFF) - 1)])
            failures += 1
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = self._sub_client.pubsub()
            try:
                await self._subscribe_all()
                return
            except (OSError, aioredis.RedisError) as exc:
                self._down(exc)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "pmessage":
            pattern = message["pattern"].decode("utf-8", "replace")
            adapter = self._patterns.get(pattern)
            if adapter is not None:
                adapter.on_message(message["channel"].decode("utf-8", "replace"), message["data"])
        elif kind == "message":
            channel = message["channel"].decode("utf-8", "replace")
            adapter = self._channels.get(channel)
            if adapter is not None:
                adapter.on_request(channel, message["data"])
        elif kind in ("subscribe", "psubscribe"):
            self._up()


class RedisAdapter(Adapter[Any]):
    """One namespace's adapter in a Redis cluster (see the module docstring)."""

    def __init__(self, namespace: str, config: ServerConfig, link: RedisLink) -> None:
        super().__init__(namespace, config)
        self.link = link
        self.uid = link.uid
        prefix = link.prefix
        self.channel = f"{prefix}#{namespace}#"
        self.request_channel = f"{prefix}-request#{namespace}#"
        self.response_channel = f"{prefix}-response#{namespace}#"
        self.specific_response_channel = f"{self.response_channel}{self.uid}#"
        self._double = config.has_fault("adapter-double-emit")
        self._drop = config.has_fault("adapter-drop-remote")
        self._per_room = config.has_fault("adapter-publish-per-room")
        self._received = 0
        self._pending: dict[str, _Pending] = {}
        self._ack_requests: set[str] = set()
        self.server_side_handlers: dict[str, Callable[..., Any]] = {}
        link.register(self)

    def subscribed_channels(self) -> tuple[str, ...]:
        return self.request_channel, self.response_channel, self.specific_response_channel

    # -- broadcast ------------------------------------------------------------------------------

    def broadcast(
        self,
        event: str,
        args: list[Any],
        rooms: Iterable[str] = (),
        excepts: Iterable[str] = (),
        volatile: bool = False,
        now: float = 0.0,
    ) -> int:
        rooms, excepts = list(rooms), list(excepts)
        written = super().broadcast(event, args, rooms, excepts, volatile, now)
        if len(rooms) == 1 and rooms[0] in self.sockets:
            return written  # a socket id of this node: no other node has it
        packet = {"type": int(SioPacketType.EVENT), "data": [event, *args], "nsp": self.namespace}
        flags: dict[str, Any] = {"volatile": True} if volatile else {}
        unique = list(dict.fromkeys(rooms))
        except_ = list(dict.fromkeys(excepts))
        if self._per_room and len(unique) > 1:
            for room in unique:  # fault: one publish per room
                self._publish([room], except_, packet, flags)
        else:
            self._publish(unique, except_, packet, flags)
        return written

    def _publish(
        self, rooms: list[str], excepts: list[str], packet: dict[str, Any], flags: dict[str, Any]
    ) -> None:
        channel = self.channel + (rooms[0] + "#" if len(rooms) == 1 else "")
        opts = {"rooms": rooms, "except": excepts, "flags": flags}
        self.link.publish(channel, pack([self.uid, packet, opts]))

    def on_message(self, channel: str, data: bytes) -> None:
        """A broadcast published by a node (this one included) on ``socket.io#<nsp>#...``."""
        if not channel.startswith(self.channel):
            return
        room = channel[len(self.channel) : -1]
        if room and room not in self.rooms:
            return  # the official adapter's hasRoom() shortcut
        try:
            uid, packet, opts = unpack(data)
        except Exception:
            log.debug("< Redis adapter: a malformed broadcast on %s", channel)
            return
        if uid == self.uid and not self._double:
            return
        if not isinstance(packet, dict) or packet.get("nsp", "/") != self.namespace:
            return
        if self._drop and uid != self.uid:
            self._received += 1
            if self._received % DROP_EVERY == 0:
                return  # fault: a cross-node message lost
        self.link.received += 1
        opts = opts if isinstance(opts, dict) else {}
        flags = opts.get("flags") or {}
        self.deliver(
            packet.get("data") or [],
            [str(r) for r in opts.get("rooms") or ()],
            [str(r) for r in opts.get("except") or ()],
            bool(isinstance(flags, dict) and flags.get("volatile")),
        )

    def deliver(self, data: list[Any], rooms: list[str], excepts: list[str], volatile: bool) -> int:
        """Write a remote node's broadcast to this node's recipients (never published again)."""
        conns = self.connections(rooms, excepts)
        if not conns:
            return 0
        prebuilt = Prebuilt(SioPacket(SioPacketType.EVENT, self.namespace, data).encode())
        return fan_out(conns, prebuilt, volatile)

    # -- requests from other nodes -----------------------------------------------------------------

    def on_request(self, channel: str, data: bytes) -> None:
        if channel.startswith(self.response_channel):
            self._on_response(data)
            return
        try:
            request = _decode_request(data)
        except Exception:
            log.debug("< Redis adapter: a malformed request on %s", channel)
            return
        if not isinstance(request, dict):
            return
        kind, request_id = request.get("type"), request.get("requestId")
        mine = request.get("uid") == self.uid
        if kind == RequestType.SOCKETS:
            if request_id in self._pending:
                return
            ids = [s.id for s in self._matching(request.get("rooms") or (), ())]
            self._respond({"requestId": request_id, "sockets": ids})
        elif kind == RequestType.ALL_ROOMS:
            if request_id in self._pending:
                return
            self._respond({"requestId": request_id, "rooms": list(self.rooms)})
        elif kind in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE):
            join = kind == RequestType.REMOTE_JOIN
            opts = request.get("opts")
            if isinstance(opts, dict):
                if not mine:  # applied at once when this node asked
                    self._join_leave(join, opts.get("rooms") or (), opts.get("except") or (),
                                     request.get("rooms") or ())  # fmt: skip
                return
            socket = self.sockets.get(str(request.get("sid")))
            if socket is None:
                return
            room = str(request.get("room"))
            self.join(socket, room) if join else self.leave(socket, room)
            self._respond({"requestId": request_id})
        elif kind == RequestType.REMOTE_DISCONNECT:
            opts = request.get("opts")
            close = bool(request.get("close"))
            if isinstance(opts, dict):
                if not mine:
                    self._disconnect(opts.get("rooms") or (), opts.get("except") or (), close)
                return
            socket = self.sockets.get(str(request.get("sid")))
            if socket is not None:
                socket.disconnect(close)
                self._respond({"requestId": request_id})
        elif kind == RequestType.REMOTE_FETCH:
            if request_id in self._pending:
                return
            opts = request.get("opts") or {}
            sockets = [
                self.describe(s)
                for s in self._matching(opts.get("rooms") or (), opts.get("except") or ())
            ]
            self._respond({"requestId": request_id, "sockets": sockets})
        elif kind == RequestType.SERVER_SIDE_EMIT:
            if mine:
                return
            self._server_side_emit(request.get("data") or [], request_id)
        elif kind == RequestType.BROADCAST:
            if request_id in self._ack_requests:
                return
            self._broadcast_with_ack(request)

    def _respond(self, response: dict[str, Any]) -> None:
        self.link.publish(self.response_channel, _dumps(response))

    def _matching(self, rooms: Iterable[Any], excepts: Iterable[Any]) -> list[Any]:
        return matching(self, rooms, excepts)

    def describe(self, socket: Any) -> dict[str, Any]:
        return describe(self, socket)

    def _join_leave(
        self, join: bool, rooms: Iterable[Any], excepts: Iterable[Any], names: Iterable[Any]
    ) -> None:
        join_leave(self, join, rooms, excepts, names)

    def _disconnect(self, rooms: Iterable[Any], excepts: Iterable[Any], close: bool) -> None:
        for socket in self._matching(rooms, excepts):
            socket.disconnect(close)

    def _server_side_emit(self, data: list[Any], request_id: str | None) -> None:
        if not data or not isinstance(data[0], str):
            return
        handler = self.server_side_handlers.get(data[0])
        if handler is None:
            if request_id is not None:  # every node must answer or the asker times out
                self._answer_server_side_emit(request_id, None)
            return
        if request_id is None:
            handler(*data[1:], ack=None)
            return
        answered = False

        def ack(value: Any = None) -> None:
            nonlocal answered
            if not answered:
                answered = True
                self._answer_server_side_emit(request_id, value)

        handler(*data[1:], ack=ack)

    def _answer_server_side_emit(self, request_id: str, value: Any) -> None:
        self.link.publish(
            self.response_channel,
            _dumps({"type": int(RequestType.SERVER_SIDE_EMIT), "requestId": request_id,
                    "data": value}),
        )  # fmt: skip

    def _broadcast_with_ack(self, request: dict[str, Any]) -> None:
        request_id = request.get("requestId")
        packet = request.get("packet") or {}
        opts = request.get("opts") or {}
        data = packet.get("data") or []
        timeout = (opts.get("flags") or {}).get("timeout")
        targets = self.recipients(
            [str(r) for r in opts.get("rooms") or ()], [str(r) for r in opts.get("except") or ()]
        )
        self._respond({"type": int(RequestType.BROADCAST_CLIENT_COUNT), "requestId": request_id,
                       "clientCount": len(targets)})  # fmt: skip
        if not data or not isinstance(data[0], str):
            return

        def answered(err: Exception | None, args: list[Any]) -> None:
            if err is None:
                self.link.publish(self.response_channel, pack({
                    "type": int(RequestType.BROADCAST_ACK), "requestId": request_id,
                    "packet": args[0] if args else None,
                }))  # fmt: skip

        for socket in targets:
            socket.emit(
                data[0],
                *data[1:],
                callback=answered,
                timeout=int(timeout) if isinstance(timeout, int | float) else None,
            )

    def _on_response(self, data: bytes) -> None:
        try:
            response = _decode_request(data)
        except Exception:
            return
        if not isinstance(response, dict):
            return
        pending = self._pending.get(response.get("requestId"))  # type: ignore[arg-type]
        if pending is None:
            return
        if pending.type in (RequestType.SOCKETS, RequestType.REMOTE_FETCH):
            if not isinstance(response.get("sockets"), list):
                return
            pending.answers.append(response["sockets"])
        elif pending.type == RequestType.ALL_ROOMS:
            if not isinstance(response.get("rooms"), list):
                return
            pending.answers.append(response["rooms"])
        elif pending.type == RequestType.SERVER_SIDE_EMIT:
            pending.answers.append(response.get("data"))
        if len(pending.answers) >= pending.expected and not pending.future.done():
            pending.future.set_result(pending.answers)

    # -- what this node asks the cluster ------------------------------------------------------------

    async def _ask(self, kind: RequestType, body: dict[str, Any], timeout: float) -> list[Any]:
        others = await self.link.server_count(self.request_channel) - 1
        if others <= 0:
            return []
        request_id = new_uid()
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = _Pending(kind, others, future)
        self.link.publish(
            self.request_channel,
            _dumps({"uid": self.uid, "requestId": request_id, "type": int(kind), **body}),
        )
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            got = len(self._pending[request_id].answers)
            raise TimeoutError(
                f"timeout reached: only {got} responses received out of {others}"
            ) from None
        finally:
            self._pending.pop(request_id, None)

    async def fetch_sockets(
        self, rooms: Iterable[str] = (), excepts: Iterable[str] = (),
        timeout: float = REQUESTS_TIMEOUT,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """``io.in(rooms).except(excepts).fetchSockets()`` over the cluster."""
        rooms, excepts = list(rooms), list(excepts)
        found = [self.describe(s) for s in self._matching(rooms, excepts)]
        opts = {"rooms": rooms, "except": excepts}
        for answer in await self._ask(RequestType.REMOTE_FETCH, {"opts": opts}, timeout):
            found.extend(s for s in answer if isinstance(s, dict))
        return found

    async def all_rooms(self, timeout: float = REQUESTS_TIMEOUT) -> set[str]:
        rooms = set(self.rooms)
        for answer in await self._ask(RequestType.ALL_ROOMS, {}, timeout):
            rooms.update(str(r) for r in answer)
        return rooms

    def add_sockets(
        self, rooms: Iterable[str], excepts: Iterable[str], names: Iterable[str]
    ) -> None:
        """``io.in(rooms).except(excepts).socketsJoin(names)`` over the cluster."""
        self._remote(RequestType.REMOTE_JOIN, list(rooms), list(excepts), {"rooms": list(names)})
        self._join_leave(True, rooms, excepts, names)

    def del_sockets(
        self, rooms: Iterable[str], excepts: Iterable[str], names: Iterable[str]
    ) -> None:
        """``io.in(rooms).except(excepts).socketsLeave(names)`` over the cluster."""
        self._remote(RequestType.REMOTE_LEAVE, list(rooms), list(excepts), {"rooms": list(names)})
        self._join_leave(False, rooms, excepts, names)

    def disconnect_sockets(self, rooms: Iterable[str], excepts: Iterable[str], close: bool) -> None:
        """``io.in(rooms).except(excepts).disconnectSockets(close)`` over the cluster."""
        self._remote(RequestType.REMOTE_DISCONNECT, list(rooms), list(excepts), {"close": close})
        self._disconnect(rooms, excepts, close)

    def _remote(
        self, kind: RequestType, rooms: list[str], excepts: list[str], body: dict[str, Any]
    ) -> None:
        opts = {"rooms": rooms, "except": excepts}
        self.link.publish(
            self.request_channel, _dumps({"uid": self.uid, "type": int(kind), "opts": opts, **body})
        )

    def server_side_emit(self, event: str, *args: Any) -> None:
        """``io.serverSideEmit(event, ...args)``: every other node's handler runs."""
        self.link.publish(
            self.request_channel,
            _dumps({"uid": self.uid, "type": int(RequestType.SERVER_SIDE_EMIT),
                    "data": [event, *args]}),
        )  # fmt: skip

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float = REQUESTS_TIMEOUT
    ) -> list[Any]:
        """``io.serverSideEmitWithAck(event, ...args)``: one answer per other node.

        Raises:
            TimeoutError: not every node answered within ``timeout`` seconds.
        """
        body = {"data": [event, *args]}
        return await self._ask(RequestType.SERVER_SIDE_EMIT, body, timeout)


# -- the cluster operations on any adapter (one node: the local sockets only) -------------------


def matching(adapter: Adapter[Any], rooms: Iterable[Any], excepts: Iterable[Any]) -> list[Any]:
    """The local sockets in any of ``rooms`` (every socket if none) and in none of ``excepts``."""
    rooms = [str(r) for r in rooms]
    chosen: dict[str, Any] = {}
    if rooms:
        for room in rooms:
            chosen.update(adapter.rooms.get(room, {}))
    else:
        chosen.update(adapter.sockets)
    for room in excepts:
        for sid in adapter.rooms.get(str(room), {}):
            chosen.pop(sid, None)
    return list(chosen.values())


def describe(adapter: Adapter[Any], socket: Any) -> dict[str, Any]:
    """A socket as ``fetchSockets`` reports it: ``{id, handshake, rooms, data}``."""
    return {
        "id": socket.id,
        "handshake": {"auth": socket.auth, "headers": {}, "query": {}, "url": "/socket.io/"},
        "rooms": sorted(adapter.rooms_of(socket.id)),
        "data": dict(socket.data),
    }


def join_leave(
    adapter: Adapter[Any], join: bool, rooms: Iterable[Any], excepts: Iterable[Any],
    names: Iterable[Any],
) -> None:  # fmt: skip
    """``socketsJoin(names)`` (``join``) or ``socketsLeave(names)`` on this node's sockets."""
    names = [str(n) for n in names]
    for socket in matching(adapter, rooms, excepts):
        for name in names:
            if join:
                adapter.join(socket, name)
            else:
                adapter.leave(socket, name)


async def fetch_sockets(
    adapter: Adapter[Any], rooms: Iterable[str] = (), excepts: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """``fetchSockets()`` over the cluster (this node alone without ``--adapter``)."""
    if isinstance(adapter, RedisAdapter):
        return await adapter.fetch_sockets(rooms, excepts)
    return [describe(adapter, s) for s in matching(adapter, rooms, excepts)]


def sockets_join(adapter: Adapter[Any], rooms: Iterable[str], names: Iterable[str]) -> None:
    """``io.in(rooms).socketsJoin(names)`` over the cluster."""
    if isinstance(adapter, RedisAdapter):
        adapter.add_sockets(rooms, (), names)
    else:
        join_leave(adapter, True, rooms, (), names)


def sockets_leave(adapter: Adapter[Any], rooms: Iterable[str], names: Iterable[str]) -> None:
    """``io.in(rooms).socketsLeave(names)`` over the cluster."""
    if isinstance(adapter, RedisAdapter):
        adapter.del_sockets(rooms, (), names)
    else:
        join_leave(adapter, False, rooms, (), names)


async def server_side_emit_with_ack(adapter: Adapter[Any], event: str, *args: Any) -> list[Any]:
    """``serverSideEmitWithAck``: the answers of every other node (none without ``--adapter``)."""
    if isinstance(adapter, RedisAdapter):
        return await adapter.server_side_emit_with_ack(event, *args)
    return []


def node_id(adapter: Adapter[Any]) -> str:
    """This node's id in the cluster (the adapter's uid; ``local`` without ``--adapter``)."""
    return adapter.uid if isinstance(adapter, RedisAdapter) else "local"


def on_server_side(adapter: Adapter[Any], event: str, handler: Callable[..., Any]) -> None:
    """``io.on(event, handler)`` for server-side emits of other nodes (``handler(*args, ack=)``)."""
    if isinstance(adapter, RedisAdapter):
        adapter.server_side_handlers[event] = handler
