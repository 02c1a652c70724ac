"""Socket.IO broadcast semantics and the audience each one owes an emit.

Theory of operation
-------------------
:class:`Semantics` names the server-side emit variants (``io.emit``,
``socket.broadcast.emit``, ``io.to(room)``...). :func:`audience` computes, from the
confirmed :class:`~wsbench.oracle.membership.Membership`, the sockets that MUST
receive an emit of that kind, before the sender's own exclusion or inclusion, which
the oracle applies (:data:`EXCLUDES_SENDER`). A socket with a pending join or leave of
a target room is left out of the must set (it may or may not get the copy).
"""

from __future__ import annotations

from collections.abc import Hashable
from enum import StrEnum

from wsbench.oracle.membership import Membership, SocketKey

__all__ = ["EXCLUDES_SENDER", "ROOM_BASED", "Semantics", "audience"]


class Semantics(StrEnum):
    """Who a server-side emit reaches (socket.io broadcast variants)."""

    ALL = "all"  #: every socket of the namespace, sender included (io.emit)
    OTHERS = "others"  #: every socket of the namespace but the sender (socket.broadcast.emit)
    ROOM = "room"  #: members of one room (io.to(room).emit)
    ROOMS = "rooms"  #: members of any of the rooms, one copy each (io.to(a).to(b).emit)
    ROOM_OTHERS = "room_others"  #: room members but the sender (socket.to(room).emit)
    ROOMS_OTHERS = "rooms_others"  #: union of rooms but the sender (socket.to([a, b]).emit)
    SOCKET = "socket"  #: one socket (io.to(socketId).emit); ``to`` names its client
    SENDER = "sender"  #: the sender alone (socket.emit)
    NAMESPACE_ALL = "namespace_all"  #: every socket of a named namespace, no sender (pushes)
    ALL_NAMESPACES = "all_namespaces"  #: every socket of every namespace (/admin announcement)


_EXCLUDES_SENDER = frozenset({Semantics.OTHERS, Semantics.ROOM_OTHERS, Semantics.ROOMS_OTHERS})
_ROOM_BASED = frozenset(
    {Semantics.ROOM, Semantics.ROOMS, Semantics.ROOM_OTHERS, Semantics.ROOMS_OTHERS}
)


EXCLUDES_SENDER = frozenset({Semantics.OTHERS, Semantics.ROOM_OTHERS, Semantics.ROOMS_OTHERS})
ROOM_BASED = frozenset(
    {Semantics.ROOM, Semantics.ROOMS, Semantics.ROOM_OTHERS, Semantics.ROOMS_OTHERS}
)


def audience(
    m: Membership,
    semantics: Semantics,
    namespace: str,
    rooms: tuple[str, ...],
    to: Hashable | None,
    sender: Hashable | None,
) -> frozenset[SocketKey]:
    """The confirmed sockets an emit of ``semantics`` reaches (see the module docstring)."""
    sender_sock = (sender, namespace) if sender is not None else None
    if semantics in (Semantics.ALL, Semantics.OTHERS, Semantics.NAMESPACE_ALL):
        return m.sockets(namespace)
    if semantics in ROOM_BASED:
        if not rooms:
            raise ValueError(f"{semantics} needs rooms")
        if not any(m.any_pending(namespace, r) for r in rooms):
            return m.members_of_any(namespace, rooms)
        # a pending leave (or join) takes a socket out of that room's must set only
        parts = []
        for r in rooms:
            pending = m.pending_clients(namespace, r)
            members = m.members(namespace, r)
            parts.append(frozenset(s for s in members if s[0] not in pending))
        return frozenset().union(*parts)
    if semantics is Semantics.SOCKET:
        return frozenset({(to, namespace)}) if m.is_connected(to, namespace) else frozenset()
    if semantics is Semantics.SENDER:
        if sender_sock is None or not m.is_connected(sender, namespace):
            return frozenset()
        return frozenset({sender_sock})
    return frozenset().union(*(m.sockets(ns) for ns in m.namespaces()))  # ALL_NAMESPACES
