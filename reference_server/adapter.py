"""Rooms, broadcast fan-out and the connection-state-recovery buffer of one namespace.

Theory of operation
-------------------
The adapter is the one owner of membership: two maps it keeps in step,
``rooms[name] -> {socket id: member}`` and ``rooms_of(socket id) -> {room}``; nothing
else writes either (a socket's ``rooms`` is a read-only copy of :meth:`Adapter.rooms_of`,
and ``join``/``leave`` go through here). A member is anything with an ``id`` and a
``conn`` that writes a :class:`Prebuilt` (:class:`Member`): the adapter does not import
the Socket.IO layer that uses it. Every socket is in the room named after its id
(socket.io: "each socket automatically joins a room identified by its own id"), so
``to(socket_id)`` reaches exactly that socket.

:meth:`Adapter.broadcast` computes the recipients (the union of the target rooms,
or every socket, minus every member of the excluded rooms; a dict keyed by socket
id, so a socket in several target rooms gets ONE copy, as socket.io-adapter's Set
does), encodes the packet ONCE into a :class:`Prebuilt` (the WebSocket frames and
the polling records) and hands the same object to every recipient's connection
(:func:`~reference_server.transport.fan_out`: one ``write(2)`` each). No task, no
per-recipient encoding. The recipients' connections are kept per (rooms, excepts) as a
tuple (:meth:`Adapter.connections`, at most 256 kept) until the next join, leave, add or
remove, which clears them all.

With recovery on, a broadcast that is neither volatile nor acked gets an offset
appended as its last argument and is kept (with its rooms and excepts) for
``maxDisconnectionDuration``, so a reconnecting client can be replayed what it
missed (:meth:`Adapter.missed_since`).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from reference_server.config import ServerConfig
from reference_server.transport import EngineConnection, Prebuilt, fan_out
from wsbench.protocol.socketio import SioPacket, SioPacketType

__all__ = ["Adapter", "Member", "SavedSession"]

_RECOVERY_BUFFER_MAX = 50_000
_FANOUT_CACHE_MAX = 256  # recipient tuples kept between membership changes (then: cleared)


@dataclass(frozen=True, slots=True)
class _Stored:
    offset: int
    packet: SioPacket
    rooms: frozenset[str]
    excepts: frozenset[str]
    at: float


@dataclass(frozen=True, slots=True)
class SavedSession:
    """What a recoverable disconnect leaves behind (socket.io ``SessionToPersist``)."""

    sid: str
    pid: str
    rooms: frozenset[str]
    data: dict[str, Any]
    last_offset: int
    at: float


class Member(Protocol):
    """What the adapter needs of a socket: its id and the connection to write to."""

    @property
    def id(self) -> str: ...

    @property
    def conn(self) -> EngineConnection: ...


M = TypeVar("M", bound=Member)


class Adapter(Generic[M]):
    """Rooms and broadcasts of one namespace (socket.io-adapter's in-memory adapter)."""

    def __init__(self, namespace: str, config: ServerConfig) -> None:
        self.namespace = namespace
        self.config = config
        self.sockets: dict[str, M] = {}
        self.rooms: dict[str, dict[str, M]] = {}
        self._rooms_of: dict[str, set[str]] = {}  # socket id -> its rooms
        # (rooms, excepts) -> the recipients' connections; cleared on every membership change
        self._fanout: dict[tuple[Any, frozenset[str]], tuple[EngineConnection, ...]] = {}
        self._leak = config.has_fault("room-leak")
        self._duplicate = config.has_fault("multi-room-duplicate")
        self._recovery = config.recovery
        self._offsets = itertools.count(1)
        self._stored: deque[_Stored] = deque()
        self.saved: dict[str, SavedSession] = {}  # pid -> session, in save order

    # -- membership -----------------------------------------------------------------------

    def add(self, socket: M, rooms: Iterable[str] = ()) -> None:
        """``socket`` is connected: in its own id room, and in ``rooms`` (a recovered session)."""
        self.sockets[socket.id] = socket
        self._fanout.clear()
        self.join(socket, socket.id)
        for room in rooms:
            self.join(socket, room)

    def remove(self, socket: M) -> frozenset[str]:
        """``socket`` left the namespace: out of every room; returns the rooms it was in."""
        rooms = frozenset(self._rooms_of.get(socket.id, ()))
        for room in rooms:
            self.leave(socket, room)
        self.sockets.pop(socket.id, None)
        self._rooms_of.pop(socket.id, None)
        self._fanout.clear()
        return rooms

    def join(self, socket: M, room: str) -> None:
        self._fanout.clear()
        self.rooms.setdefault(room, {})[socket.id] = socket
        self._rooms_of.setdefault(socket.id, set()).add(room)

    def leave(self, socket: M, room: str) -> None:
        self._fanout.clear()
        members = self.rooms.get(room)
        if members is not None:
            members.pop(socket.id, None)
            if not members:
                del self.rooms[room]
        mine = self._rooms_of.get(socket.id)
        if mine is not None:
            mine.discard(room)

    def rooms_of(self, socket_id: str) -> frozenset[str]:
        """The rooms ``socket_id`` is in now (a copy; empty once it left)."""
        return frozenset(self._rooms_of.get(socket_id, ()))

    def members(self, room: str) -> int:
        return len(self.rooms.get(room, ()))

    # -- broadcast ------------------------------------------------------------------------

    def recipients(self, rooms: Iterable[str], excepts: Iterable[str]) -> list[M]:
        rooms = list(rooms)
        if rooms and not self._leak:
            if self._duplicate and len(rooms) > 1:
                targets: list[M] = []
                for room in rooms:
                    targets.extend(self.rooms.get(room, {}).values())
            else:
                chosen: dict[str, M] = {}
                for room in rooms:
                    members = self.rooms.get(room)
                    if members:
                        chosen.update(members)
                targets = list(chosen.values())
        else:
            targets = list(self.sockets.values())
        excluded: set[str] = set()
        for room in excepts:
            members = self.rooms.get(room)
            if members:
                excluded.update(members)
        if excluded:
            targets = [s for s in targets if s.id not in excluded]
        return targets

    def broadcast(
        self,
        event: str,
        args: list[Any],
        rooms: Iterable[str] = (),
        excepts: Iterable[str] = (),
        volatile: bool = False,
        now: float = 0.0,
    ) -> int:
        """Emit ``[event, *args]`` to the recipients; returns how many were written."""
        rooms = frozenset(rooms) if not self._duplicate else tuple(rooms)  # type: ignore[assignment]
        excepts = frozenset(excepts)
        data = [event, *args]
        if self._recovery and not volatile:
            offset = next(self._offsets)
            data.append(str(offset))
            packet = SioPacket(SioPacketType.EVENT, self.namespace, data)
            self._store(_Stored(offset, packet, frozenset(rooms), excepts, now), now)
        else:
            packet = SioPacket(SioPacketType.EVENT, self.namespace, data)
        conns = self.connections(rooms, excepts)
        if not conns:
            return 0
        return fan_out(conns, Prebuilt(self.config.sio_parser.encode(packet)), volatile)

    def connections(
        self, rooms: Iterable[str], excepts: Iterable[str]
    ) -> tuple[EngineConnection, ...]:
        """The connections of :meth:`recipients`, kept until the membership changes."""
        rooms = tuple(rooms) if self._duplicate else frozenset(rooms)
        key = (rooms, frozenset(excepts))
        conns = self._fanout.get(key)
        if conns is None:
            if len(self._fanout) >= _FANOUT_CACHE_MAX:
                self._fanout.clear()
            conns = tuple(socket.conn for socket in self.recipients(rooms, key[1]))
            self._fanout[key] = conns
        return conns

    # -- connection state recovery ---------------------------------------------------------

    def _store(self, item: _Stored, now: float) -> None:
        stored = self._stored
        stored.append(item)
        horizon = now - self.config.recovery_max_disconnection / 1000
        while stored and (stored[0].at < horizon or len(stored) > _RECOVERY_BUFFER_MAX):
            stored.popleft()

    def save(self, saved: SavedSession) -> None:
        self._expire(saved.at)
        self.saved[saved.pid] = saved

    def _expire(self, now: float) -> None:
        # saved in time order: drop expired sessions from the front (bounds the map)
        horizon = now - self.config.recovery_max_disconnection / 1000
        while self.saved:
            pid, oldest = next(iter(self.saved.items()))
            if oldest.at >= horizon:
                break
            del self.saved[pid]

    def restore(
        self, pid: str, offset: str, now: float
    ) -> tuple[SavedSession, list[SioPacket]] | None:
        """The saved session and the packets it missed, or ``None`` (then: a fresh session)."""
        saved = self.saved.pop(pid, None)
        if saved is None or now - saved.at > self.config.recovery_max_disconnection / 1000:
            return None
        try:
            since = int(offset)
        except ValueError:
            return None
        stored = self._stored
        if stored and since < stored[0].offset - 1:
            return None  # the offset is no longer buffered
        missed = []
        for item in stored:
            if item.offset <= since:
                continue
            if item.rooms and not (item.rooms & saved.rooms):
                continue
            if item.excepts & saved.rooms:
                continue
            missed.append(item.packet)
        return saved, missed
