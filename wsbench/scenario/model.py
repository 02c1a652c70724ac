"""The scenario model: frozen data that both the asyncio runner and Locust execute.

Theory of operation
-------------------
A scenario file (YAML, see ``docs/scenarios.md``) is loaded once by
:mod:`wsbench.scenario.loader` into these frozen dataclasses; nothing here reads
files or does I/O. Durations are float seconds. Strings that contain ``{...}`` are
:class:`Template` objects, parsed at load time so a bad placeholder is a load error
with a line number, and rendered by the runner per step execution with a tiny
substitution (no eval): ``{client}``, ``{group}``, ``{seq}``, ``{rand:N}`` (drawn
once per step execution: every ``{rand:N}`` with the same N in one step agrees, so a
room chosen in ``data`` is the room an ``expect`` names), ``{room}`` (the room the
client joined last in that namespace), ``{sid}``, ``{peer}``, ``{peer_sid}``.

The pure helpers :meth:`Scenario.assign_groups` and :meth:`Scenario.arrival_offsets`
fix which client runs which group and when it starts, deterministically, so every
executor (and every Locust worker) agrees.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wsbench.app.model import AckSpec, App
from wsbench.oracle import Semantics

__all__ = [
    "TEMPLATE_VARS",
    "Template",
    "render_value",
    "Binary",
    "MAX_BINARY",
    "Transport",
    "ThinkKind",
    "FaultKind",
    "TokenMode",
    "Semantics",
    "ServerSettings",
    "server_args",
    "Phase",
    "Arrival",
    "JwtAuth",
    "Auth",
    "Expect",
    "MustNot",
    "AckExpect",
    "Connect",
    "Emit",
    "Listen",
    "Notify",
    "Join",
    "Leave",
    "Think",
    "Loop",
    "Every",
    "Disconnect",
    "Reconnect",
    "Fault",
    "Stall",
    "Step",
    "Group",
    "LatencyLimit",
    "Thresholds",
    "Scenario",
]

#: Placeholder names; ``rand`` takes an argument (``{rand:N}``), the others none.
TEMPLATE_VARS = ("client", "group", "seq", "rand", "room", "sid", "peer", "peer_sid")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z_]+)(?::([0-9]+))?\}|[{}]")


@dataclass(frozen=True, slots=True)
class Template:
    """A string with placeholders, parsed once. ``parts`` mixes literals and (name, arg)."""

    source: str
    parts: tuple[str | tuple[str, int], ...]

    @classmethod
    def parse(cls, source: str) -> Template:
        """Parse ``source``; ValueError names the first bad placeholder."""
        parts: list[str | tuple[str, int]] = []
        pos = 0
        literal = ""
        for m in _PLACEHOLDER.finditer(source):
            literal += source[pos : m.start()]
            pos = m.end()
            token = m.group(0)
            if token in ("{{", "}}"):
                literal += token[0]
                continue
            name, arg = m.group(1), m.group(2)
            if name is None:
                raise ValueError(f"unbalanced {token!r} (write {token * 2} for a literal brace)")
            if name not in TEMPLATE_VARS:
                raise ValueError(
                    f"unknown placeholder {{{name}}}; known: {', '.join(TEMPLATE_VARS)}"
                )
            if (name == "rand") != (arg is not None):
                raise ValueError(
                    "{rand:N} needs N" if name == "rand" else f"{{{name}}} takes no :N"
                )
            if name == "rand" and int(arg) < 1:
                raise ValueError("{rand:N} needs N >= 1")
            if literal:
                parts.append(literal)
                literal = ""
            parts.append((name, int(arg) if arg else 0))
        literal += source[pos:]
        if literal:
            parts.append(literal)
        return cls(source, tuple(parts))

    def render(self, values: Mapping[str, Any], rand: Callable[[int], int] | None = None) -> str:
        """Substitute ``values`` (and ``rand(N)`` for ``{rand:N}``); KeyError if one is missing."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part[0] == "rand":
                if rand is None:
                    raise KeyError("rand")
                out.append(str(rand(part[1])))
            else:
                out.append(str(values[part[0]]))
        return "".join(out)


#: The largest binary value a scenario may declare (bytes).
MAX_BINARY = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary payload value: ``{bytes: N}`` (random) or ``{bytes: N, fill: "ab"}`` (templated).

    Rendered to ``bytes`` per step execution: random bytes drawn from the step's seeded
    choices (reproducible with ``seed``), or ``fill`` (a string, placeholders allowed) encoded
    as UTF-8 and repeated to exactly ``size`` bytes. Travels as msgpack ``bin`` on the msgpack
    parser and as an attachment (BINARY_EVENT) on the default one.
    """

    size: int
    fill: Template | str | None = None

    def render(self, values: Mapping[str, Any], rand: Callable[[int], int] | None = None) -> bytes:
        if self.fill is None:
            seed = rand(1 << 30) if rand is not None else 0
            return random.Random(seed).randbytes(self.size)
        text = self.fill.render(values, rand) if isinstance(self.fill, Template) else self.fill
        unit = text.encode("utf-8") or b"\0"
        return (unit * (self.size // len(unit) + 1))[: self.size]


def render_value(
    value: Any, values: Mapping[str, Any], rand: Callable[[int], int] | None = None
) -> Any:
    """Render every :class:`Template` and :class:`Binary` in a JSON-like value."""
    if isinstance(value, Template):
        return value.render(values, rand)
    if isinstance(value, Binary):
        return value.render(values, rand)
    if isinstance(value, dict):
        return {k: render_value(v, values, rand) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, values, rand) for v in value]
    return value


class Transport(StrEnum):
    WEBSOCKET = "websocket"
    POLLING = "polling"
    POLLING_UPGRADE = "polling+upgrade"


class ThinkKind(StrEnum):
    FIXED = "fixed"
    UNIFORM = "uniform"
    POISSON = "poisson"


class FaultKind(StrEnum):
    SERVER_DISCONNECT = "server_disconnect"  #: the server closes this client's sockets
    DROP_TRANSPORT = "drop_transport"  #: the client drops its TCP connection, no close frame
    RESTART_SERVER = "restart_server"  #: the embedded server is stopped and started again
    RESTART_REDIS = "restart_redis"  #: the embedded cluster's Redis is stopped and started again


class TokenMode(StrEnum):
    """Which token a connect step sends when the scenario mints JWTs."""

    DEFAULT = "default"  #: a valid token from ``auth``
    NONE = "none"  #: no token at all
    EXPIRED = "expired"  #: a correctly signed token whose ``exp`` has passed
    INVALID = "invalid"  #: a token signed with the wrong secret


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Options of the embedded reference server (ignored for a URL target)."""

    ping_interval: float | None = None
    ping_timeout: float | None = None
    max_payload: int | None = None
    jwt_secret: str | None = None
    recovery: bool = False
    app_heartbeat_interval: float | None = None
    max_rooms: int | None = None
    faults: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Phase:
    """One arrival phase: a constant or ramped ``rate`` (clients/s), ``users`` spread evenly, or a pause."""

    duration: float
    rate: float | None = None
    ramp_to: float | None = None
    users: int | None = None


@dataclass(frozen=True, slots=True)
class Arrival:
    rate: float | None = None
    phases: tuple[Phase, ...] = ()


@dataclass(frozen=True, slots=True)
class JwtAuth:
    secret: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    expires_in: float = 3600.0


@dataclass(frozen=True, slots=True)
class Auth:
    """Per-client CONNECT payload: a minted JWT (``{"token": ...}``) and/or a static payload."""

    jwt: JwtAuth | None = None
    static: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Expect:
    """Who must receive ``event`` after an emit (or a listen window), and how soon."""

    event: str
    to: Semantics = Semantics.ALL
    namespace: str | None = None
    rooms: tuple[Template | str, ...] = ()
    within: float = 2.0
    volatile: bool = False


@dataclass(frozen=True, slots=True)
class MustNot:
    """A negative expectation of an emit: ``event`` (carrying this emit's stamp, or
    correlated to it) must not reach ``to``: ``sender``, ``others`` (every socket of the
    namespace but the sender), ``all``, or ``non_members`` of ``rooms``."""

    event: str
    to: str = "others"
    namespace: str | None = None
    rooms: tuple[Template | str, ...] = ()


@dataclass(frozen=True, slots=True)
class AckExpect:
    """What an emit's ack must say (``expect_ack``). ``payload``/``args`` (``ack``): the
    ack's arguments in the app file's value language, resolved with the arguments sent
    (``{ok: true, response: "$args[0].data"}``), judged by the interpreter. ``answers``
    (``broadcast``): the ack of a ``broadcast with ack`` trigger: every recipient answered
    (``answers`` None: ``responses`` == ``recipients``, ``missing`` 0), or exactly
    ``answers`` answers came; ``timed_out``, when given, must equal ``timedOut`` (default:
    false with ``answers: all``, not judged with a number)."""

    answers: int | None = None
    timed_out: bool | None = None
    ack: AckSpec | None = None  #: the ack's arguments (``payload`` / ``args``)
    broadcast: bool = True  #: ``answers`` given: judge a broadcast with ack's answers

    def mismatch(self, args: list[Any] | None) -> str | None:
        """Why the ack's arguments break the ``answers`` expectation (None: they do not)."""
        first = args[0] if args else None
        if not isinstance(first, dict) or not isinstance(first.get("responses"), list):
            return f"no 'responses' list in the ack: {first!r:.120}"
        got, recipients = len(first["responses"]), first.get("recipients")
        timed_out = first.get("timedOut")
        if self.answers is None:
            if got != recipients or first.get("missing", 0):
                return f"{got} of {recipients} recipients answered (missing {first.get('missing')})"
        elif got != self.answers:
            return f"{got} answers (of {recipients} recipients), expected {self.answers}"
        want = self.timed_out if self.timed_out is not None else (
            False if self.answers is None else None)
        if want is not None and timed_out is not want:
            return f"timedOut {timed_out!r}, expected {want!r}"
        return None


@dataclass(frozen=True, slots=True)
class Connect:
    namespaces: tuple[str, ...] = ("/",)
    token: TokenMode = TokenMode.DEFAULT
    auth: Mapping[str, Any] | None = None
    refused: str | None = None  #: expected CONNECT_ERROR message; None: must connect
    timeout: float = 10.0
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Emit:
    event: str
    namespace: str = "/"
    data: Any = None
    args: tuple[Any, ...] | None = None
    ack: bool = False
    ack_timeout: float = 5.0
    expect: tuple[Expect, ...] = ()
    stamp: str | None = "auto"  #: "auto", a carrier key, or None for no stamp
    peer: str | None = None  #: random | next | previous
    must_not: tuple[MustNot, ...] = ()
    within: float = 2.0  #: deadline of the expectations derived from the app file
    #: at-least-once (socket.io-client's ``retries`` + ``ackTimeout``): re-sent with the same
    #: payload when no ack came within ``ack_timeout``, at most ``retries`` times more
    retries: int = 0
    expect_ack: AckExpect | None = None  #: what the ack must say (broadcast with ack)
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Listen:
    """Wait for (``wait=True``, step ``expect``) or count (step ``listen``) server pushes."""

    event: str
    namespace: str = "/"
    within: float | None = None
    count: int = 1
    wait: bool = True
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Notify:
    """POST /notifications for ``user``; its sockets in ``/`` must get ``notification``."""

    user: Template | str
    type: str = "message"
    message: Any = None
    within: float = 2.0
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Join:
    room: Template | str
    namespace: str = "/"
    event: str = "join"
    ack_timeout: float = 5.0
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Leave:
    room: Template | str
    namespace: str = "/"
    event: str = "leave"
    ack_timeout: float = 5.0
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Think:
    kind: ThinkKind
    a: float
    b: float = 0.0  #: upper bound for uniform
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Loop:
    steps: tuple[Step, ...]
    count: int | None = None
    duration: float | None = None  #: None with count None: until the run ends
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Every:
    """Open-loop schedule: iteration k is *intended* at start + k * interval."""

    interval: float
    steps: tuple[Step, ...]
    count: int | None = None
    duration: float | None = None
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Disconnect:
    namespace: str | None = None  #: None closes the whole connection
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Reconnect:
    after: float = 0.0
    within: float = 10.0
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    downtime: float = 1.0  #: restart_server / restart_redis: how long it stays down
    reconnect_within: float = 15.0
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Stall:
    """A slow consumer: stop reading the socket for ``duration`` (the server's buffer fills)."""

    duration: float
    where: str = field(default="", compare=False)


Step = (
    Connect
    | Emit
    | Listen
    | Notify
    | Join
    | Leave
    | Think
    | Loop
    | Every
    | Disconnect
    | Reconnect
    | Fault
    | Stall
)


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    flow: tuple[Step, ...]
    weight: float | None = None
    count: int | None = None
    on_finish: str = "hold"  #: hold (stay connected until the run ends) | disconnect
    #: ``answer_acks``: whether this group's clients answer the server's ack requests
    #: (``ack request`` of ``request ack`` / ``broadcast with ack``), and after what delay
    answer_acks: bool = True
    ack_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class LatencyLimit:
    metric: str
    stat: str  #: p50 | p90 | p95 | p99 | p999 | max | mean
    limit: float  #: seconds


@dataclass(frozen=True, slots=True)
class Thresholds:
    delivery_ratio: float | None = None
    violations: int | None = None
    violations_by_kind: Mapping[str, int] = field(default_factory=dict)
    latency: tuple[LatencyLimit, ...] = ()
    ack_timeouts: int | None = None
    reconnect_time: tuple[LatencyLimit, ...] = ()
    connect_errors: int | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    groups: tuple[Group, ...]
    clients: int
    duration: float
    target: str = "embedded"
    description: str = ""
    server: ServerSettings = ServerSettings()
    transport: Transport = Transport.WEBSOCKET
    parser: str = "default"  #: the Socket.IO parser: "default" (JSON) or "msgpack"
    path: str = "/socket.io/"
    arrival: Arrival = Arrival()
    seed: int = 0
    auth: Auth = Auth()
    thresholds: Thresholds = Thresholds()
    #: the app file (``app:``): emits without ``expect`` derive theirs from it
    app: App | None = field(default=None, compare=False)
    app_path: str = ""
    source: str = field(default="", compare=False)
    #: ``target: {embedded: {nodes: N}}``: an embedded cluster of N nodes (0: one server)
    cluster: int = 0
    #: the embedded cluster's node kind: python, node (Node twins) or mixed (alternating)
    cluster_kind: str = "python"
    #: the node URLs clients are spread over, round-robin by client index (``target: [urls]``,
    #: or filled in by the runner once an embedded cluster is up); empty: every client on target
    nodes: tuple[str, ...] = ()
    #: a load balancer in front of ``nodes`` (the embedded cluster's HAProxy): polling goes there
    balancer: str = ""

    @property
    def embedded(self) -> bool:
        return self.target == "embedded"

    def url_for(self, client: int, default: str) -> str:
        """The URL client ``client`` connects to: a node (round-robin by index) or ``default``.

        WebSocket clients connect to their node directly; polling needs every request of a
        session on one node, so it goes through the balancer when there is one.
        """
        if not self.nodes:
            return default
        if self.balancer and self.transport is not Transport.WEBSOCKET:
            return self.balancer
        return self.nodes[client % len(self.nodes)]

    def node_of(self, client: int) -> int | None:
        """The index of the node client ``client`` is on, when the driver knows it."""
        if not self.nodes or (self.balancer and self.transport is not Transport.WEBSOCKET):
            return None
        return client % len(self.nodes)

    def replace(self, **changes: Any) -> Scenario:
        return dataclasses.replace(self, **changes)

    def assign_groups(self) -> tuple[int, ...]:
        """Group index of each client 0..clients-1: counts first, the rest by weight, interleaved.

        The loader guarantees the counts fit; groups without count or weight weigh 1.
        """
        fixed = [g.count or 0 for g in self.groups]
        rest = self.clients - sum(fixed)
        weights = [
            (g.weight if g.weight is not None else (0.0 if g.count is not None else 1.0))
            for g in self.groups
        ]
        total_w = sum(weights)
        quotas = list(fixed)
        if rest > 0 and total_w > 0:
            shares = [rest * w / total_w for w in weights]
            floors = [int(s) for s in shares]
            left = rest - sum(floors)
            order = sorted(range(len(shares)), key=lambda i: (floors[i] - shares[i], i))
            for i in order[:left]:
                floors[i] += 1
            quotas = [q + f for q, f in zip(quotas, floors, strict=True)]
        n = sum(quotas)
        assigned = [0] * len(quotas)
        out = []
        for k in range(n):  # smooth interleave: each group ramps at its share
            best = max(
                (i for i in range(len(quotas)) if assigned[i] < quotas[i]),
                key=lambda i: (quotas[i] * (k + 1) / n - assigned[i], -i),
            )
            assigned[best] += 1
            out.append(best)
        return tuple(out)

    def arrival_offsets(self) -> tuple[float, ...]:
        """Start time (s from run start) of each client, in client order."""
        n = self.clients
        if not self.arrival.phases:
            rate = self.arrival.rate or max(50.0, n / 5.0)
            return tuple(i / rate for i in range(n))
        out: list[float] = []
        t0 = 0.0
        for ph in self.arrival.phases:
            if len(out) >= n:
                break
            if ph.users is not None:
                k = min(ph.users, n - len(out))
                out.extend(t0 + ph.duration * i / max(ph.users, 1) for i in range(k))
            elif ph.rate is not None:
                r0, r1 = ph.rate, ph.ramp_to if ph.ramp_to is not None else ph.rate
                # integrate the (linearly ramped) rate in small steps: deterministic, exact enough
                steps = max(1, int(ph.duration * 100))
                dt = ph.duration / steps
                acc = 0.0
                for s in range(steps):
                    acc += (r0 + (r1 - r0) * (s + 0.5) / steps) * dt
                    while acc >= 1.0 - 1e-9 and len(out) < n:
                        acc -= 1.0
                        out.append(t0 + s * dt)
            t0 += ph.duration
        out.extend([t0] * (n - len(out)))
        return tuple(out)


def _ms(seconds: float) -> str:
    return str(int(round(seconds * 1000)))


def server_args(scenario: Scenario) -> list[str]:
    """The reference server's command-line options for the scenario's ``server`` settings.

    Shared by ``wsbench run`` (embedded server) and ``wsbench locust`` (its launcher).
    """
    s = scenario.server
    args: list[str] = []
    if s.ping_interval is not None:
        args += ["--ping-interval", _ms(s.ping_interval)]
    if s.ping_timeout is not None:
        args += ["--ping-timeout", _ms(s.ping_timeout)]
    if s.max_payload is not None:
        args += ["--max-payload", str(s.max_payload)]
    secret = s.jwt_secret or (scenario.auth.jwt.secret if scenario.auth.jwt else None)
    if secret:
        args += ["--jwt-secret", secret]
    if s.recovery:
        args.append("--recovery")
    if s.app_heartbeat_interval is not None:
        args += ["--app-heartbeat-interval", _ms(s.app_heartbeat_interval)]
    if s.max_rooms is not None:
        args += ["--max-rooms", str(s.max_rooms)]
    for fault in s.faults:
        args += ["--fault", fault]
    if scenario.parser != "default":
        args += ["--parser", scenario.parser]
    return args
