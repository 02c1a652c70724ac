"""The frozen model of an app file (see docs/apps.md for the format).

An :class:`App` has namespaces; a :class:`NamespaceSpec` has what happens on connect and
disconnect and the client events it handles; an :class:`EventSpec` says what one event
does: membership change (``join``/``leave``) and how it is confirmed, refusal conditions,
pushes (:class:`PushSpec`: event, recipients as an oracle
:class:`~wsbench.oracle.semantics.Semantics`, payload templates), the ack
(:class:`AckSpec`), explicit must-not-receive declarations (:class:`NeverSpec`) and the
argument paths that carry bytes (``binary``).
Templates and paths are :mod:`wsbench.app.paths`. Every spec keeps the line it was
declared on, so a check can cite the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wsbench.app.paths import Path, Template
from wsbench.oracle.semantics import Semantics

__all__ = [
    "AckSpec",
    "App",
    "AuthSpec",
    "Condition",
    "ConditionKind",
    "EventSpec",
    "NamespaceSpec",
    "NeverSpec",
    "PushSpec",
    "RefusalSignal",
    "Semantics",
    "Who",
]

#: recipient kinds of ``to:``, as the oracle names them
TO_CHOICES = tuple(str(s) for s in Semantics)


class Who(StrEnum):
    """Whom a ``never:`` declaration protects."""

    SENDER = "sender"  #: the sender itself
    OTHERS = "others"  #: every socket of the namespace but the sender
    NON_MEMBERS = "non_members"  #: sockets not in the event's room(s)
    ALL = "all"  #: nobody receives it


class ConditionKind(StrEnum):
    """When the server refuses an event (checked before anything else happens)."""

    NOT_ROOM = "not_room"  #: not a non-empty string of at most ``max`` characters
    NOT_ROOMS = "not_rooms"  #: not a list of 1..``max`` valid room names
    NOT_OBJECT = "not_object"  #: not a JSON object with every one of ``keys``
    OTHER_SID = "other_sid"  #: the id of another connected socket (any namespace)
    OWN_SID = "own_sid"  #: the sender's own id
    FOREIGN_SID = "foreign_sid"  #: the id of a socket connected in another namespace only
    RESERVED = "reserved"  #: starts with one of ``prefixes``


@dataclass(frozen=True, slots=True)
class Condition:
    kind: ConditionKind
    path: Path
    max: int | None = None
    keys: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class PushSpec:
    """One server emit an event (or a connect, a disconnect) causes."""

    event: str
    to: Semantics
    #: the pushed arguments; None with ``spread``: the event's own arguments, unchanged
    args: tuple[Template, ...] | None
    spread: bool = False
    namespace: str | None = None  #: None: the event's namespace
    room: Template | None = None  #: room, room_others
    rooms: Template | None = None  #: rooms, rooms_others: a list
    #: socket: the target sid; on room / room_others, the room is this sid's own room
    #: (``socket.to(sid)``) and ``room`` holds the same template
    socket: Template | None = None
    volatile: bool = False
    repeat: Template | None = None  #: how many copies (default 1)
    repeat_default: int = 1
    present: Path | None = None  #: only when this path resolves
    absent: Path | None = None  #: only when this path does not resolve
    if_sent: str | None = None  #: disconnect pushes: only if the socket sent this event
    wants_ack: bool = False  #: the server asks the client to ack this push
    line: int = 0


@dataclass(frozen=True, slots=True)
class AckSpec:
    """The ack the server answers an event with (when the client asks for one)."""

    args: tuple[Template, ...] | None
    spread: bool = False  #: the event's own arguments, unchanged
    after_pushes: bool = False  #: sent after every push of the event was handed over
    line: int = 0


@dataclass(frozen=True, slots=True)
class NeverSpec:
    event: str
    who: Who
    line: int = 0


@dataclass(frozen=True, slots=True)
class EventSpec:
    name: str
    namespace: str
    description: str = ""
    join: Template | None = None
    leave: Template | None = None
    #: ``ack``, ``none`` or the name of a push (to the sender) that confirms join/leave
    confirmed_by: str = "none"
    refuse: tuple[Condition, ...] = ()
    push: tuple[PushSpec, ...] = ()
    ack: AckSpec | None = None
    never: tuple[NeverSpec, ...] = ()
    #: the argument paths that carry bytes (``binary:``): a Buffer / bytes value, sent as
    #: attachments on the default parser and in place on msgpack
    binary: tuple[Path, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class NamespaceSpec:
    name: str
    events: tuple[EventSpec, ...] = ()
    on_connect: tuple[PushSpec, ...] = ()
    on_disconnect: tuple[PushSpec, ...] = ()
    auth: bool = False  #: the app's auth middleware runs on this namespace
    require_claims: tuple[tuple[str, object], ...] = ()
    unauthorized: str | None = None  #: CONNECT_ERROR message when a claim is missing
    unsolicited: tuple[str, ...] = ()  #: events the server pushes on its own (ping, ...)
    line: int = 0

    def event(self, name: str) -> EventSpec | None:
        for e in self.events:
            if e.name == name:
                return e
        return None


@dataclass(frozen=True, slots=True)
class AuthSpec:
    """JWT in the handshake (socket.io ``auth`` of the CONNECT payload)."""

    token: Path
    algorithms: tuple[str, ...] = ("HS256",)
    user_claim: str | None = None
    missing: str = "Authentication error"
    invalid: str = "Invalid token"
    expiry: bool = True
    line: int = 0


@dataclass(frozen=True, slots=True)
class RefusalSignal:
    """How the server signals a refused event: an ack and/or a push to the sender."""

    ack: tuple[Template, ...] | None = None
    push: PushSpec | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class App:
    name: str
    source: str = "<app>"
    description: str = ""
    namespaces: tuple[NamespaceSpec, ...] = ()
    auth: AuthSpec | None = None
    unknown_namespace: str | None = None  #: CONNECT_ERROR message for an undeclared namespace
    refusal: RefusalSignal | None = None
    room_max: int = 128  #: default ``max`` of not_room
    #: the Socket.IO parser the app speaks (``default``, ``msgpack``); None: not declared
    parser: str | None = None

    def namespace(self, name: str) -> NamespaceSpec | None:
        for ns in self.namespaces:
            if ns.name == name:
                return ns
        return None

    def event(self, namespace: str, name: str) -> EventSpec | None:
        ns = self.namespace(namespace)
        return None if ns is None else ns.event(name)

    def events(self) -> tuple[EventSpec, ...]:
        """Every declared client event, namespace by namespace, in file order."""
        return tuple(e for ns in self.namespaces for e in ns.events)
