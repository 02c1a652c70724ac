"""Who is where: the driver's model of namespaces, sockets and rooms.

Theory of operation
-------------------
A *client* is an opaque hashable key (the driver uses its client index). A client has
at most one *socket* per namespace; a socket is named by the pair ``(client,
namespace)`` (:data:`SocketKey`), which is also how deliveries are reported: a
``/admin`` announcement reaches one client three times when it has sockets in three
namespaces, and each copy is a different recipient.

The model changes only when the server has *confirmed* a change: the CONNECT reply
(with the socket's sid), a join/leave ack, a disconnect. Between a request and its
confirmation a socket is *pending* for that room: the server may or may not have
applied the change when it handles someone else's broadcast, so the oracle neither
requires nor forbids a delivery to it. A pending leave keeps the confirmed
membership but removes the socket from the *must* set.

Every socket is implicitly in the room named by its own sid (Socket.IO's rule), so
``members(ns, sid)`` is that one socket.

Changes are timestamped (monotonic ns). ``last_change_ns`` lets the oracle excuse a
delivery to a socket whose membership changed after an emit was sent (the server may
have applied that change first); ``room_changed_ns`` (per room) lets it excuse a copy
that never reached a socket which asked to leave the emit's room after the emit was sent
(the server, or on a cluster the socket's node, may have applied the leave first);
``down_since_ns`` lets it count recipients that disconnected after an emit was sent as
"lost while away" rather than drops.

In a cluster each socket is on a *node* (the index of the server its client connected to,
``Scenario.node_of``), given with the CONNECT reply and kept after a disconnect: the oracle
splits delivery latency into same-node and other-node recipients (the adapter's lag).

Member sets are returned as cached frozensets, invalidated on change, so thousands of
emits to an unchanged room share one set object.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

__all__ = ["SocketKey", "Membership"]

#: A socket: (client key, namespace).
SocketKey = tuple[Hashable, str]

_NS = None  # the room key that means "the namespace itself" in the caches


class Membership:
    """Confirmed and pending membership of every socket the driver owns."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[Hashable]] = {}
        self._rooms: dict[tuple[str, str], set[Hashable]] = {}
        self._rooms_of: dict[SocketKey, set[str]] = {}
        self._sid: dict[SocketKey, str] = {}
        self._by_sid: dict[tuple[str, str], Hashable] = {}
        self._pending_by_room: dict[tuple[str, str | None], set[Hashable]] = {}
        self._pending_of: dict[SocketKey, set[str | None]] = {}
        self._last_change: dict[SocketKey, int] = {}
        self._room_change: dict[SocketKey, dict[str, int]] = {}
        self._down_since: dict[SocketKey, int] = {}
        self._cache: dict[tuple[str, str | None], frozenset[SocketKey]] = {}
        self._node: dict[SocketKey, int] = {}

    # -- changes ---------------------------------------------------------------

    def connect_requested(self, client: Hashable, namespace: str, now_ns: int = 0) -> None:
        """The client sent CONNECT for ``namespace``; the server has not answered yet."""
        self._set_pending(client, namespace, None, now_ns)

    def connected(
        self, client: Hashable, namespace: str, sid: str, now_ns: int = 0, node: int | None = None
    ) -> None:
        """The server accepted the socket with ``sid`` (CONNECT reply); ``node``: the index of
        the cluster node that holds it, when the driver knows it."""
        self._clear_pending(client, namespace, None)
        key = (client, namespace)
        if node is not None:
            self._node[key] = node
        old = self._sid.get(key)
        if old is not None:
            self._by_sid.pop((namespace, old), None)
            self._cache.pop((namespace, old), None)
        self._sockets.setdefault(namespace, set()).add(client)
        self._sid[key] = sid
        self._by_sid[(namespace, sid)] = client
        self._rooms_of.setdefault(key, set())
        self._touch(key, namespace, None, now_ns)

    def disconnected(self, client: Hashable, namespace: str | None = None, now_ns: int = 0) -> None:
        """The socket is gone (``namespace=None``: every socket of the client).

        A socket's rooms go with it, as on the server.
        """
        if namespace is not None:
            namespaces = [namespace]
        else:
            found = {ns for ns, members in self._sockets.items() if client in members}
            found |= {ns for (c, ns) in self._pending_of if c == client}
            namespaces = sorted(found)
        for ns in namespaces:
            key = (client, ns)
            for room in self._rooms_of.pop(key, ()):
                self._discard_room(client, ns, room)
            members = self._sockets.get(ns)
            if members is not None:
                members.discard(client)
            sid = self._sid.pop(key, None)
            if sid is not None:
                self._by_sid.pop((ns, sid), None)
                self._cache.pop((ns, sid), None)
            for pending in self._pending_of.pop(key, ()):
                self._discard_pending(client, ns, pending)
            self._room_change.pop(key, None)
            self._down_since[key] = now_ns
            self._touch(key, ns, None, now_ns)

    def join_requested(self, client: Hashable, namespace: str, room: str, now_ns: int = 0) -> None:
        """The client asked to join (or to leave: same uncertainty) ``room``."""
        self._set_pending(client, namespace, room, now_ns)

    leave_requested = join_requested

    def joined(self, client: Hashable, namespace: str, room: str, now_ns: int = 0) -> None:
        """The server confirmed the join (the ack arrived), or put the socket in a room itself."""
        self._clear_pending(client, namespace, room)
        key = (client, namespace)
        self._rooms.setdefault((namespace, room), set()).add(client)
        self._rooms_of.setdefault(key, set()).add(room)
        self._touch(key, namespace, room, now_ns)

    def left(self, client: Hashable, namespace: str, room: str, now_ns: int = 0) -> None:
        """The server confirmed the leave, or the request failed and was withdrawn."""
        self._clear_pending(client, namespace, room)
        key = (client, namespace)
        self._discard_room(client, namespace, room)
        rooms = self._rooms_of.get(key)
        if rooms is not None:
            rooms.discard(room)
        self._touch(key, namespace, room, now_ns)

    def cancel_pending(self, client: Hashable, namespace: str, room: str | None) -> None:
        """A request was refused: the confirmed state stands."""
        self._clear_pending(client, namespace, room)

    # -- queries ---------------------------------------------------------------

    def sid(self, client: Hashable, namespace: str) -> str | None:
        return self._sid.get((client, namespace))

    def node_of(self, client: Hashable, namespace: str) -> int | None:
        """The cluster node of the socket (None: one server, or a node the driver cannot know)."""
        return self._node.get((client, namespace))

    def node_count(self) -> int:
        """How many distinct cluster nodes the sockets were on (0: no node known)."""
        return len(set(self._node.values()))

    def client_by_sid(self, namespace: str, sid: str) -> Hashable | None:
        return self._by_sid.get((namespace, sid))

    def is_connected(self, client: Hashable, namespace: str) -> bool:
        return client in self._sockets.get(namespace, ())

    def namespaces(self) -> list[str]:
        return [ns for ns, members in self._sockets.items() if members]

    def rooms_of(self, client: Hashable, namespace: str) -> frozenset[str]:
        return frozenset(self._rooms_of.get((client, namespace), ()))

    def sockets(self, namespace: str) -> frozenset[SocketKey]:
        """Confirmed sockets of ``namespace`` (cached)."""
        cached = self._cache.get((namespace, _NS))
        if cached is None:
            cached = frozenset((c, namespace) for c in self._sockets.get(namespace, ()))
            self._cache[(namespace, _NS)] = cached
        return cached

    def members(self, namespace: str, room: str) -> frozenset[SocketKey]:
        """Confirmed members of ``room`` (a sid names its own socket), cached."""
        cached = self._cache.get((namespace, room))
        if cached is None:
            clients = set(self._rooms.get((namespace, room), ()))
            owner = self._by_sid.get((namespace, room))
            if owner is not None:
                clients.add(owner)
            cached = frozenset((c, namespace) for c in clients)
            self._cache[(namespace, room)] = cached
        return cached

    def members_of_any(self, namespace: str, rooms: Iterable[str]) -> frozenset[SocketKey]:
        """Union of several rooms' members: each socket once."""
        sets = [self.members(namespace, r) for r in dict.fromkeys(rooms)]
        if len(sets) == 1:
            return sets[0]
        return frozenset().union(*sets)

    def is_pending(self, client: Hashable, namespace: str, room: str | None = None) -> bool:
        """True when a connect (``room=None``) or a join/leave of ``room`` is unconfirmed."""
        return client in self._pending_by_room.get((namespace, room), ())

    def has_pending(self, sock: SocketKey) -> bool:
        """True when any change of this socket is unconfirmed."""
        return bool(self._pending_of.get(sock))

    def pending_rooms(self, sock: SocketKey) -> frozenset[str]:
        """Rooms of the socket with an unconfirmed join or leave (not its connect)."""
        return frozenset(r for r in self._pending_of.get(sock, ()) if r is not None)

    def any_pending(self, namespace: str, room: str | None) -> bool:
        """True when some client's join/leave of ``room`` is unconfirmed (no snapshot made:
        :func:`~wsbench.oracle.semantics.audience` asks this for every room of every emit)."""
        return bool(self._pending_by_room.get((namespace, room)))

    def pending_clients(self, namespace: str, room: str | None) -> frozenset[Hashable]:
        """Clients with an unconfirmed join/leave of ``room`` (``None``: connect)."""
        return frozenset(self._pending_by_room.get((namespace, room), ()))

    def last_change_ns(self, sock: SocketKey) -> int | None:
        """When the socket's membership last changed (request or confirmation)."""
        return self._last_change.get(sock)

    def room_changed_ns(self, sock: SocketKey, room: str) -> int | None:
        """When the socket's membership of ``room`` last changed (a join or leave requested
        or confirmed; None: never while it is connected)."""
        changes = self._room_change.get(sock)
        return changes.get(room) if changes is not None else None

    def down_since_ns(self, sock: SocketKey) -> int | None:
        """When the socket last disconnected, if it ever did."""
        return self._down_since.get(sock)

    # -- internals -------------------------------------------------------------

    def _set_pending(self, client: Hashable, namespace: str, room: str | None, now_ns: int) -> None:
        key = (client, namespace)
        self._pending_by_room.setdefault((namespace, room), set()).add(client)
        self._pending_of.setdefault(key, set()).add(room)
        self._touch(key, namespace, room, now_ns)

    def _clear_pending(self, client: Hashable, namespace: str, room: str | None) -> None:
        key = (client, namespace)
        rooms = self._pending_of.get(key)
        if rooms is not None and room in rooms:
            rooms.discard(room)
            if not rooms:
                del self._pending_of[key]
            self._discard_pending(client, namespace, room)

    def _discard_pending(self, client: Hashable, namespace: str, room: str | None) -> None:
        waiting = self._pending_by_room.get((namespace, room))
        if waiting is not None:
            waiting.discard(client)
            if not waiting:
                del self._pending_by_room[(namespace, room)]

    def _discard_room(self, client: Hashable, namespace: str, room: str) -> None:
        members = self._rooms.get((namespace, room))
        if members is not None:
            members.discard(client)
            if not members:
                del self._rooms[(namespace, room)]
        self._cache.pop((namespace, room), None)

    def _touch(self, key: SocketKey, namespace: str, room: str | None, now_ns: int) -> None:
        self._last_change[key] = now_ns
        self._cache.pop((namespace, _NS), None)
        if room is not None:
            self._room_change.setdefault(key, {})[room] = now_ns
            self._cache.pop((namespace, room), None)
        else:
            # a sid room changes with the socket itself
            sid = self._sid.get(key)
            if sid is not None:
                self._cache.pop((namespace, sid), None)
