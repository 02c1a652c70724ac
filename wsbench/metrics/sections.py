"""The typed sections of a run summary: what ``summary.json``'s ``sections`` hold.

Theory of operation
-------------------
A run's result travels as data classes from the producers to the report: the
oracle's verdict (``wsbench.oracle.OracleVerdict``) is mapped by the scenario runner
(or the Locust integration) into a :class:`Delivery`; the drivers' counts into
:class:`Connections` and :class:`Reconnection`; the runner adds :class:`RunInfo`,
:class:`Generator`, :class:`ServerInfo` and the judged :class:`Threshold` list; all of
them form one :class:`Sections`, the ``sections`` of
:class:`~wsbench.metrics.RunSummary`. The report reads these attributes, never
string keys. They live here, in ``metrics/``, because the report may import
nothing of ``oracle/`` or ``scenario/`` (import-linter contracts).

The JSON form is ``to_dict()`` / ``from_dict()``, with the same keys, in the same
order, as the dicts the runner wrote before these types existed, so the summary's
schema (``summary.schema.json``) and version do not change. Two rules keep a
round trip exact (``from_dict(x).to_dict() == x``) for every valid summary, also
ones written by other producers (a Locust run has no ``connections`` section and a
``delivery`` without ``acks``):

* a key a section does not know is kept in its ``extra`` mapping and written back
  after the known ones (the schema lets producers add keys);
* a known key that was absent reads as its default (0, ``""``, empty) and is
  remembered in ``absent``, so it is not written back. Sections themselves are
  ``None`` in :class:`Sections` when absent.

:func:`decode` is the one generic reader: it checks every known key's JSON type
against the field's annotation and raises :class:`~wsbench.exceptions.ConfigError`
naming the field (``sections.delivery.emits: expected an integer, found str``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

from ..exceptions import ConfigError

__all__ = [
    "Latency",
    "Acks",
    "Volatile",
    "ViolationSample",
    "Violations",
    "FanoutClass",
    "RetryLatency",
    "Retries",
    "retries_section",
    "CrossNode",
    "cross_node_section",
    "RedisOutage",
    "RedisLoss",
    "RedisRestart",
    "redis_restart_section",
    "Delivery",
    "Connections",
    "Herd",
    "Reconnection",
    "Generator",
    "RunInfo",
    "ServerInfo",
    "Threshold",
    "Sections",
    "decode",
    "encode",
]

T = TypeVar("T")

_META = ("extra", "absent")  # bookkeeping fields every section has, not JSON keys


def _extra() -> Any:
    return field(default_factory=dict, repr=False)


def _absent() -> Any:
    return field(default=frozenset(), repr=False)


@dataclass(frozen=True, slots=True)
class Latency:
    """count / min / mean / max of a latency, in ms (the oracle's simple aggregate)."""

    count: int = 0
    min_ms: float = 0.0
    mean_ms: float = 0.0
    max_ms: float = 0.0
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class Acks:
    """Acknowledgements the clients asked for, and what became of them."""

    expected: int = 0
    ok: int = 0
    timeouts: int = 0
    late: int = 0
    pending: int = 0
    latency: Latency = field(default_factory=Latency)
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class Volatile:
    """Volatile emits: expected copies, delivered ones, drops (allowed) and the ratio."""

    expected: int = 0
    delivered: int = 0
    drops: int = 0
    ratio: float = 1.0
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class ViolationSample:
    """Evidence of one violation; ``sender`` and ``receiver`` are JSON values (ids, lists)."""

    kind: str = ""
    stamp: str = ""
    sender: Any = None
    receiver: Any = None
    namespace: str = ""
    event: str = ""
    expected: int | None = None
    detail: str = ""
    at_ns: int = 0
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class Violations:
    """Violations counted by kind, with a bounded sample of evidence."""

    total: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    samples: tuple[ViolationSample, ...] = ()
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class FanoutClass:
    """The oracle's fan-out aggregate of one audience-size class (``"1"``, ``"2-10"``...)."""

    audience: str = ""
    emits: int = 0
    expected: int = 0
    delivered: int = 0
    complete_emits: int = 0
    completion: float = 1.0
    mean_first_ms: float = 0.0
    mean_median_ms: float = 0.0
    mean_last_ms: float = 0.0
    max_last_ms: float = 0.0
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class RetryLatency:
    """Percentiles (ms) of one HDR histogram of the run's merged metrics (``ack_first_try``
    or ``ack_retried``: first send to the settling ACK of an at-least-once emit)."""

    count: int = 0
    mean_ms: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    min_ms: float = 0.0
    max_ms: float = 0.0
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class Retries:
    """At-least-once emits (``retries`` in a scenario): how many were re-sent and what that
    cost (``sections.delivery.retries``). ``retry_rate`` = ``emits_retried`` / ``emits``
    (the emits that had retries); ``first_try`` / ``retried`` are the latencies of the emits
    settled at the first try and after a re-send."""

    emits: int = 0
    emits_retried: int = 0
    retries: int = 0
    exhausted: int = 0  #: gave up after every try
    retry_duplicates: int = 0
    retry_rate: float = 0.0
    first_try: RetryLatency = field(default_factory=RetryLatency)
    retried: RetryLatency = field(default_factory=RetryLatency)
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


def retries_section(metrics: Any, retry_duplicates: int) -> Retries:
    """The :class:`Retries` of a run from its merged :class:`~wsbench.metrics.Metrics`
    (counters ``emits_at_least_once``, ``emits_retried``, ``retries``,
    ``emits_retries_exhausted``; histograms ``ack_first_try``, ``ack_retried``) and the
    oracle's count of accepted retry copies."""

    def latency(name: str) -> RetryLatency:
        if name not in metrics.histogram_names:
            return RetryLatency()
        h = metrics.histogram(name)
        if not h.count:
            return RetryLatency()
        p = h.percentiles()
        return RetryLatency(h.count, round(h.mean / 1000.0, 3), p["p50"] / 1000.0,
                            p["p95"] / 1000.0, p["p99"] / 1000.0, h.min / 1000.0,
                            p["max"] / 1000.0)

    emits, retried = metrics.counter("emits_at_least_once"), metrics.counter("emits_retried")
    return Retries(
        emits=emits,
        emits_retried=retried,
        retries=metrics.counter("retries"),
        exhausted=metrics.counter("emits_retries_exhausted"),
        retry_duplicates=retry_duplicates,
        retry_rate=round(retried / emits, 6) if emits else 0.0,
        first_try=latency("ack_first_try"),
        retried=latency("ack_retried"),
    )


def _hist_latency(metrics: Any, name: str) -> RetryLatency:
    """Percentiles (ms) of histogram ``name`` of merged ``metrics`` (zeros when it is empty)."""
    if name not in metrics.histogram_names:
        return RetryLatency()
    h = metrics.histogram(name)
    if not h.count:
        return RetryLatency()
    p = h.percentiles()
    return RetryLatency(h.count, round(h.mean / 1000.0, 3), p["p50"] / 1000.0, p["p95"] / 1000.0,
                        p["p99"] / 1000.0, h.min / 1000.0, p["max"] / 1000.0)


@dataclass(frozen=True, slots=True)
class CrossNode:
    """A cluster run's delivery latency split by where the recipient was
    (``sections.delivery.cross_node``, only when the clients were on more than one node):
    ``same_node`` recipients on the sender's node, ``other_node`` recipients whose copy
    crossed the adapter (Redis pub/sub). ``adapter_lag_*_ms`` = other-node minus same-node
    percentile: what the adapter adds."""

    nodes: int = 0
    same_node: RetryLatency = field(default_factory=RetryLatency)
    other_node: RetryLatency = field(default_factory=RetryLatency)
    adapter_lag_p50_ms: float = 0.0
    adapter_lag_p99_ms: float = 0.0
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


def cross_node_section(metrics: Any, nodes: int) -> CrossNode:
    """The :class:`CrossNode` of a run from its merged :class:`~wsbench.metrics.Metrics`
    (histograms ``delivery.same_node`` and ``delivery.other_node``, recorded by the oracle's
    ``on_node_latency``) and the number of nodes its sockets were on."""
    same = _hist_latency(metrics, "delivery.same_node")
    other = _hist_latency(metrics, "delivery.other_node")
    both = same.count and other.count
    return CrossNode(
        nodes=nodes,
        same_node=same,
        other_node=other,
        adapter_lag_p50_ms=round(other.p50_ms - same.p50_ms, 3) if both else 0.0,
        adapter_lag_p99_ms=round(other.p99_ms - same.p99_ms, 3) if both else 0.0,
    )


@dataclass(frozen=True, slots=True)
class RedisOutage:
    """One ``restart_redis`` fault: seconds since the run's start when Redis went down, was
    back, and every node had re-subscribed (-1: not by the launcher's deadline)."""

    down_at_s: float = 0.0
    back_at_s: float = 0.0
    resubscribed_at_s: float = 0.0
    down_s: float = 0.0  #: resubscribed (or back) minus down: the outage window
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class RedisLoss:
    """A copy lost while Redis was down: the emit's stamp, the recipient, the two nodes."""

    stamp: str = ""
    event: str = ""
    recipient: str = ""
    namespace: str = ""
    sender_node: int = -1
    recipient_node: int = -1
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class RedisRestart:
    """A cluster run's ``restart_redis`` faults (``sections.delivery.redis_restart``, only
    when one ran): the outage windows, the other-node copies of emits in a window that never
    arrived (``lost_during_outage``: pub/sub has no replay; not violations), and whether
    cross-node delivery resumed: ``resumed_copies`` other-node copies of emits sent after
    the last window arrived, the first at ``resumed_at_s`` (-1: none). A post-window emit
    that misses an other-node recipient is an ordinary ``missing`` violation."""

    outages: tuple[RedisOutage, ...] = ()
    lost_during_outage: int = 0
    lost_samples: tuple[RedisLoss, ...] = ()
    resumed: bool = False
    resumed_copies: int = 0
    resumed_at_s: float = -1.0
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


def redis_restart_section(v: Any, origin_ns: int) -> RedisRestart:
    """The :class:`RedisRestart` of an oracle verdict (``outages``, ``lost_during_outage``,
    ``outage_samples``, ``resumed_other_node``, ``first_resumed_ns``), times relative to
    ``origin_ns`` (the run's start, monotonic ns)."""
    def at(ns: int | None) -> float:
        return -1.0 if ns is None else round((ns - origin_ns) / 1e9, 3)

    outages = tuple(
        RedisOutage(at(o["down_ns"]), at(o["back_ns"]), at(o["resubscribed_ns"]),
                    round(((o["resubscribed_ns"] or o["back_ns"]) - o["down_ns"]) / 1e9, 3))
        for o in v.outages
    )
    samples = tuple(
        RedisLoss(str(x["stamp"]), str(x["event"]), str(x["recipient"]), str(x["namespace"]),
                  -1 if x["sender_node"] is None else int(x["sender_node"]),
                  -1 if x["recipient_node"] is None else int(x["recipient_node"]))
        for x in v.outage_samples
    )
    return RedisRestart(outages, v.lost_during_outage, samples, v.resumed_other_node > 0,
                        v.resumed_other_node, at(v.first_resumed_ns))


@dataclass(frozen=True, slots=True)
class Delivery:
    """The delivery oracle's verdict (``sections.delivery``)."""

    emits: int = 0
    open_emits: int = 0
    closed_emits: int = 0
    expected: int = 0
    delivered: int = 0
    missing: int = 0
    delivery_ratio: float = 1.0
    volatile: Volatile = field(default_factory=Volatile)
    lost_while_away: int = 0
    optional_deliveries: int = 0
    #: copies not owed: the recipient asked to leave the room(s) after the emit, never got it
    left_in_flight: int = 0
    latency: Latency = field(default_factory=Latency)
    acks: Acks = field(default_factory=Acks)
    violations: Violations = field(default_factory=Violations)
    fanout: tuple[FanoutClass, ...] = ()
    retries: Retries = field(default_factory=Retries)
    #: a cluster run's same-node / other-node latency (absent on one server)
    cross_node: CrossNode = field(default_factory=CrossNode)
    #: a cluster run's restart_redis faults (absent without one)
    redis_restart: RedisRestart = field(default_factory=RedisRestart)
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class Connections:
    """Connects and closes of every client (``sections.connections``)."""

    attempted: int = 0
    connected: int = 0
    peak: int = 0
    errors: Mapping[str, int] = field(default_factory=dict)  #: failed connects by message, most frequent first
    refused_as_expected: int = 0
    closes: Mapping[str, int] = field(default_factory=dict)  #: every transport close by reason (and detail)
    pending_at_end: int = 0
    limit: str | None = None  #: the local limit that stopped ramping, if any
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class Herd:
    """Reconnections per ``bin_ms`` after a server restart; JSON ``{}`` when there were none."""

    bin_ms: int = 100
    t_ms: tuple[int, ...] = ()
    count: tuple[int, ...] = ()
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()

    def __bool__(self) -> bool:
        return bool(self.t_ms)


@dataclass(frozen=True, slots=True)
class Reconnection:
    """Reconnects, failures, losses while away, recovery replays, restarts, the herd."""

    reconnects: int = 0
    failed: int = 0
    lost_while_away: int = 0
    replayed: int = 0
    server_restarts: int = 0
    herd: Herd = field(default_factory=Herd)
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class Generator:
    """The load generator's own health (``sections.generator``)."""

    processes: int = 1
    warnings: tuple[str, ...] = ()
    loop_lag_p99_ms: float = 0.0
    cpu_percent_mean: float = 0.0
    cpu_percent_max: float = 0.0
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class RunInfo:
    """How the run was set up (``sections.run``)."""

    clients: int = 0
    transport: str = ""
    seed: int | None = None
    processes: int = 1
    planned_duration_s: float = 0.0
    groups: Mapping[str, int] = field(default_factory=dict)
    source: str = ""
    run_id: str = ""
    oracle_partitioning: str = ""
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """The embedded server, if wsbench started one (``sections.server``)."""

    embedded: bool = False
    pid: int | None = None
    stopped: bool = True
    restarts: int = 0
    banner: str = ""
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()


@dataclass(frozen=True, slots=True)
class Threshold:
    """One judged criterion: name, limit as text, the actual value, pass/fail, why."""

    name: str
    passed: bool
    limit: str = ""
    actual: int | float | None = None
    detail: str = ""
    extra: Mapping[str, Any] = _extra()
    absent: frozenset[str] = _absent()

    _ORDER = ("name", "limit", "actual", "passed", "detail")  # the JSON key order


@dataclass(frozen=True, slots=True)
class Sections:
    """``summary.json``'s ``sections``; an absent section is ``None`` (see the module docstring)."""

    run: RunInfo | None = None
    delivery: Delivery | None = None
    connections: Connections | None = None
    reconnection: Reconnection | None = None
    generator: Generator | None = None
    server: ServerInfo | None = None
    thresholds: tuple[Threshold, ...] | None = None
    warnings: tuple[str, ...] | None = None
    messages: tuple[str, ...] | None = None
    extra: Mapping[str, Any] = _extra()  #: other producers' sections (``locust``...), as JSON

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = encode(self)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "sections") -> Sections:
        return decode(cls, data, where)


# -- the generic JSON mapping --------------------------------------------------------------


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _order(cls: type) -> tuple[str, ...]:
    order: tuple[str, ...] | None = getattr(cls, "_ORDER", None)
    if order is not None:
        return order
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _META)


def encode(obj: Any) -> Any:
    """The JSON form of a section (or any value inside one)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if isinstance(obj, Herd) and not obj and not obj.extra:
            return {}
        absent: frozenset[str] = getattr(obj, "absent", frozenset())
        out: dict[str, Any] = {}
        for name in _order(type(obj)):
            value = getattr(obj, name)
            if name in absent or (value is None and isinstance(obj, Sections)):
                continue
            out[name] = encode(value)
        for key, value in obj.extra.items():  # type: ignore[attr-defined]
            out.setdefault(key, value)
        return out
    if isinstance(obj, tuple | list):
        return [encode(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: encode(v) for k, v in obj.items()}
    return obj


_KIND = {int: "an integer", float: "a number", str: "a string", bool: "a boolean"}


def decode(cls: type[T], data: Any, where: str) -> T:
    """A section of type ``cls`` from its JSON form; ConfigError names a wrong field."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected an object, found {type(data).__name__}")
    hints = _hints(typing.cast(type, cls))
    names = _order(cls)
    values: dict[str, Any] = {}
    for name in names:
        if name in data:
            values[name] = _value(hints[name], data[name], f"{where}.{name}")
    extra = {k: v for k, v in data.items() if k not in names}
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if "absent" in fields:
        values["absent"] = frozenset(n for n in names if n not in data)
    if extra:
        values["extra"] = extra
    try:
        return cls(**values)
    except TypeError as exc:  # a required field is missing
        required = {
            f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = next((n for n in names if n in required and n not in data), "?")
        raise ConfigError(f"{where}: missing field {missing!r}") from exc


def _value(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        real = [o for o in options if o is not type(None)]
        if len(real) == 1:  # ``X | None``: X's own, precise error
            return _value(real[0], value, where)
        for option in options:
            if option is type(None):
                continue
            try:
                return _value(option, value, where)
            except ConfigError:
                continue
        kinds = " or ".join(_KIND.get(o, getattr(o, "__name__", str(o))) for o in options)
        raise ConfigError(f"{where}: expected {kinds}, found {type(value).__name__}")
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected an array, found {type(value).__name__}")
        item = typing.get_args(hint)[0]
        return tuple(_value(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected an object, found {type(value).__name__}")
        item = typing.get_args(hint)[1]
        return {k: _value(item, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return decode(hint, value, where)  # type: ignore[arg-type]
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, hint):
        return value
    raise ConfigError(f"{where}: expected {_KIND.get(hint, hint)}, found {type(value).__name__}")
