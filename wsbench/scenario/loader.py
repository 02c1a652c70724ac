"""Scenario YAML -> frozen :class:`~wsbench.scenario.model.Scenario`, with errors that point.

Theory of operation
-------------------
The text is *composed* (``yaml.compose``), not loaded: every node keeps its start mark,
so each error names ``FILE:LINE``, the key path (``groups[1].flow[3].emit.ack_timeout``)
and what was expected. A :class:`_Node` wraps a YAML node with its key path and offers
typed readers (``text()``, ``integer()``, ``duration()``, ``mapping(allowed)``...);
scalars are built by PyYAML's safe constructor. Unknown keys are errors with a "did you
mean" suggestion; duplicate keys are errors (YAML would silently keep the last).

Durations are a number of seconds or a string ``500ms``, ``30s``, ``2m``, ``1h``.
Overrides from the command line (``clients``, ``duration``, ``target``, ``seed``) are
applied by :func:`apply_overrides` with the same validation.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from wsbench.exceptions import ScenarioError
from wsbench.oracle import Semantics, ViolationKind
from wsbench.scenario import model as m

__all__ = ["load_scenario", "loads_scenario", "Overrides", "apply_overrides", "parse_duration"]

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_URL = re.compile(r"^(https?|wss?)://[^\s/]+(/\S*)?$")
_LATENCY_METRICS = ("delivery", "ack", "connect", "fanout_first", "fanout_last", "reconnect")
_LATENCY_STATS = ("p50", "p90", "p95", "p99", "p999", "max", "mean")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a ``"500ms"``/``"30s"``/``"2m"``/``"1h"`` string; ValueError else."""
    if isinstance(value, bool):
        raise ValueError("a duration, not a boolean")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f"a duration like 500ms, 30s, 2m or a number of seconds, got {value!r}")


class _Node:
    """A YAML node plus where it is."""

    def __init__(self, node: yaml.Node, path: str, source: str, ctor: yaml.SafeLoader) -> None:
        self.node, self.path, self.source, self._ctor = node, path, source, ctor

    def error(self, message: str, key_path: str | None = None) -> ScenarioError:
        return ScenarioError(
            message, self.source, self.node.start_mark.line + 1, key_path or self.path or "(top)"
        )

    def child(self, node: yaml.Node, suffix: str) -> _Node:
        sep = "" if not self.path or suffix.startswith("[") else "."
        return _Node(node, f"{self.path}{sep}{suffix}", self.source, self._ctor)

    def value(self) -> Any:
        return self._ctor.construct_object(self.node, deep=True)

    def is_mapping(self) -> bool:
        return isinstance(self.node, yaml.MappingNode)

    def is_scalar(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode)

    def mapping(self, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, _Node]:
        if not self.is_mapping():
            raise self.error(f"expected a mapping with keys {', '.join(allowed)}")
        out: dict[str, _Node] = {}
        for key_node, value_node in self.node.value:
            key = self._ctor.construct_object(key_node)
            where = self.child(value_node, str(key))
            if not isinstance(key, str):
                raise where.error(f"keys must be strings, got {key!r}")
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = (
                    f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
                )
                raise where.error(f"unknown key {key!r}{hint}")
            if key in out:
                raise where.error(f"duplicate key {key!r}")
            out[key] = where
        for key in required:
            if key not in out:
                raise self.error(f"missing required key {key!r}")
        return out

    def items(self) -> list[_Node]:
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.error("expected a list")
        return [self.child(n, f"[{i}]") for i, n in enumerate(self.node.value)]

    def text(self, choices: tuple[str, ...] = ()) -> str:
        v = self.value()
        if not isinstance(v, str) or not v:
            raise self.error(f"expected a non-empty string, got {v!r}")
        choices = tuple(str(c) for c in choices)
        if choices and v not in choices:
            close = difflib.get_close_matches(v, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.error(f"expected one of {', '.join(choices)}, got {v!r}{hint}")
        return v

    def namespace(self) -> str:
        v = self.text()
        if not v.startswith("/"):
            raise self.error(f"a namespace starts with '/', got {v!r}")
        return v

    def integer(self, minimum: int | None = None) -> int:
        v = self.value()
        if not isinstance(v, int) or isinstance(v, bool):
            raise self.error(f"expected an integer, got {v!r}")
        if minimum is not None and v < minimum:
            raise self.error(f"expected an integer >= {minimum}, got {v}")
        return v

    def number(self, minimum: float | None = None, maximum: float | None = None) -> float:
        v = self.value()
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise self.error(f"expected a number, got {v!r}")
        if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
            raise self.error(f"expected a number in [{minimum}, {maximum}], got {v}")
        return float(v)

    def boolean(self) -> bool:
        v = self.value()
        if not isinstance(v, bool):
            raise self.error(f"expected true or false, got {v!r}")
        return v

    def duration(self, positive: bool = False) -> float:
        try:
            d = parse_duration(self.value())
        except ValueError as exc:
            raise self.error(f"expected {exc}" if "got" not in str(exc) else str(exc)) from None
        if positive and d <= 0:
            raise self.error("expected a positive duration")
        return d

    def template(self) -> m.Template | str:
        v = self.value()
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str) or not v:
            raise self.error(f"expected a non-empty string, got {v!r}")
        return _template(self, v)

    def payload(self) -> Any:
        """Any JSON value; strings with placeholders become Templates."""
        return _payload(self, self.value())


def _template(where: _Node, text: str) -> m.Template | str:
    if "{" not in text and "}" not in text:
        return text
    try:
        return m.Template.parse(text)
    except ValueError as exc:
        raise where.error(f"bad template {text!r}: {exc}") from None


def _payload(where: _Node, v: Any) -> Any:
    if isinstance(v, str):
        return _template(where, v)
    if isinstance(v, list):
        return [_payload(where, x) for x in v]
    if isinstance(v, dict):
        return {str(k): _payload(where, x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float)):
        return v
    raise where.error(f"expected a JSON value, got a {type(v).__name__}")


# -- sections -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Defaults:
    namespace: str = "/"
    within: float = 2.0
    ack_timeout: float = 5.0


def _server(n: _Node) -> m.ServerSettings:
    keys = (
        "ping_interval",
        "ping_timeout",
        "max_payload",
        "jwt_secret",
        "recovery",
        "app_heartbeat_interval",
        "max_rooms",
        "faults",
    )
    k = n.mapping(keys)
    faults = tuple(f.text() for f in k["faults"].items()) if "faults" in k else ()
    for i, f in enumerate(faults):
        if not re.fullmatch(r"[a-z][a-z0-9-]*", f):
            raise k["faults"].items()[i].error(f"a fault name like room-leak, got {f!r}")
    return m.ServerSettings(
        ping_interval=k["ping_interval"].duration(True) if "ping_interval" in k else None,
        ping_timeout=k["ping_timeout"].duration(True) if "ping_timeout" in k else None,
        max_payload=k["max_payload"].integer(1) if "max_payload" in k else None,
        jwt_secret=k["jwt_secret"].text() if "jwt_secret" in k else None,
        recovery=k["recovery"].boolean() if "recovery" in k else False,
        app_heartbeat_interval=(
            k["app_heartbeat_interval"].duration() if "app_heartbeat_interval" in k else None
        ),
        max_rooms=k["max_rooms"].integer(1) if "max_rooms" in k else None,
        faults=faults,
    )


def _arrival(n: _Node) -> m.Arrival:
    k = n.mapping(("rate", "phases"))
    phases = []
    for p in k["phases"].items() if "phases" in k else []:
        pk = p.mapping(("duration", "rate", "ramp_to", "users", "pause"))
        if "pause" in pk:
            if len(pk) > 1:
                raise p.error("a pause phase has no other keys")
            phases.append(m.Phase(pk["pause"].duration(True)))
            continue
        if "duration" not in pk:
            raise p.error("missing required key 'duration'")
        if ("rate" in pk) == ("users" in pk):
            raise p.error("a phase has exactly one of 'rate' or 'users' (or is a 'pause')")
        if "ramp_to" in pk and "rate" not in pk:
            raise pk["ramp_to"].error("'ramp_to' needs 'rate'")
        phases.append(
            m.Phase(
                pk["duration"].duration(True),
                rate=pk["rate"].number(0.0) if "rate" in pk else None,
                ramp_to=pk["ramp_to"].number(0.0) if "ramp_to" in pk else None,
                users=pk["users"].integer(1) if "users" in pk else None,
            )
        )
    return m.Arrival(k["rate"].number(0.001) if "rate" in k else None, tuple(phases))


def _auth(n: _Node) -> m.Auth:
    k = n.mapping(("jwt", "static"))
    jwt = None
    if "jwt" in k:
        j = k["jwt"].mapping(("secret", "claims", "expires_in"), required=("secret",))
        claims = j["claims"].payload() if "claims" in j else {}
        if not isinstance(claims, dict):
            raise j["claims"].error("expected a mapping of claims")
        jwt = m.JwtAuth(
            j["secret"].text(),
            claims,
            j["expires_in"].duration(True) if "expires_in" in j else 3600.0,
        )
    static = k["static"].payload() if "static" in k else None
    if static is not None and not isinstance(static, dict):
        raise k["static"].error("expected a mapping (the CONNECT payload)")
    return m.Auth(jwt, static)


def _thresholds(n: _Node) -> m.Thresholds:
    k = n.mapping(
        (
            "delivery_ratio",
            "violations",
            "latency",
            "ack_timeouts",
            "reconnect_time",
            "connect_errors",
        )
    )
    total, by_kind = None, {}
    if "violations" in k:
        v = k["violations"]
        if v.is_mapping():
            kinds = (*(str(x) for x in ViolationKind), "total")
            for key, node in v.mapping(kinds).items():
                if key == "total":
                    total = node.integer(0)
                else:
                    by_kind[key] = node.integer(0)
        else:
            total = v.integer(0)
    latency: list[m.LatencyLimit] = []
    if "latency" in k:
        for metric, node in k["latency"].mapping(_LATENCY_METRICS).items():
            latency.extend(_limits(metric, node))
    return m.Thresholds(
        delivery_ratio=k["delivery_ratio"].number(0.0, 1.0) if "delivery_ratio" in k else None,
        violations=total,
        violations_by_kind=by_kind,
        latency=tuple(latency),
        ack_timeouts=k["ack_timeouts"].integer(0) if "ack_timeouts" in k else None,
        reconnect_time=_limits("reconnect", k["reconnect_time"]) if "reconnect_time" in k else (),
        connect_errors=k["connect_errors"].integer(0) if "connect_errors" in k else None,
    )


def _limits(metric: str, n: _Node) -> tuple[m.LatencyLimit, ...]:
    return tuple(
        m.LatencyLimit(metric, stat, node.duration())
        for stat, node in n.mapping(_LATENCY_STATS).items()
    )


Reader = Callable[["_Node | None", _Defaults, str], m.Step]


# -- steps ----------------------------------------------------------------------


def _steps(n: _Node, d: _Defaults) -> tuple[m.Step, ...]:
    items = n.items()
    if not items:
        raise n.error("expected at least one step")
    return tuple(_step(s, d) for s in items)


_NO_ARG_STEPS = ("disconnect", "reconnect")


def _step(n: _Node, d: _Defaults) -> m.Step:
    kinds = tuple(_STEPS)
    if n.is_scalar():
        name = n.text(kinds)
        if name not in _NO_ARG_STEPS:
            raise n.error(f"step {name!r} needs settings: write '{name}: ...'")
        return _STEPS[name](None, d, f"{n.source}:{n.node.start_mark.line + 1}")
    k = n.mapping(kinds)
    if len(k) != 1:
        raise n.error(f"a step has exactly one key (one of {', '.join(kinds)}), got {', '.join(k)}")
    ((name, body),) = k.items()
    where = f"{n.source}:{n.node.start_mark.line + 1} {body.path}"
    if body.value() is None:
        if name not in _NO_ARG_STEPS:
            raise body.error(f"step {name!r} needs settings")
        return _STEPS[name](None, d, where)
    return _STEPS[name](body, d, where)


def _ns(k: dict[str, _Node], d: _Defaults) -> str:
    return k["namespace"].namespace() if "namespace" in k else d.namespace


def _connect(n: _Node | None, d: _Defaults, where: str) -> m.Connect:
    if n is None:
        return m.Connect((d.namespace,), where=where)
    if n.is_scalar():
        return m.Connect((n.namespace(),), where=where)
    k = n.mapping(("namespace", "namespaces", "token", "auth", "refused", "timeout"))
    if "namespace" in k and "namespaces" in k:
        raise k["namespaces"].error("use 'namespace' or 'namespaces', not both")
    nss = (
        tuple(x.namespace() for x in k["namespaces"].items()) if "namespaces" in k else (_ns(k, d),)
    )
    if not nss:
        raise k["namespaces"].error("expected at least one namespace")
    auth = k["auth"].payload() if "auth" in k else None
    if auth is not None and not isinstance(auth, dict):
        raise k["auth"].error("expected a mapping (the CONNECT payload)")
    return m.Connect(
        nss,
        token=m.TokenMode(k["token"].text(tuple(m.TokenMode)))
        if "token" in k
        else m.TokenMode.DEFAULT,
        auth=auth,
        refused=k["refused"].text() if "refused" in k else None,
        timeout=k["timeout"].duration(True) if "timeout" in k else 10.0,
        where=where,
    )


_ROOM_TO = (Semantics.ROOM, Semantics.ROOMS, Semantics.ROOM_OTHERS, Semantics.ROOMS_OTHERS)


def _expect(n: _Node, d: _Defaults, default_event: str, namespace: str) -> m.Expect:
    if n.is_scalar():
        return m.Expect(n.text(), within=d.within, namespace=namespace)
    k = n.mapping(("event", "to", "room", "rooms", "namespace", "within", "volatile"))
    to = Semantics(k["to"].text(tuple(Semantics))) if "to" in k else Semantics.ALL
    if "room" in k and "rooms" in k:
        raise k["rooms"].error("use 'room' or 'rooms', not both")
    rooms: tuple[m.Template | str, ...] = ()
    if "room" in k:
        rooms = (k["room"].template(),)
    elif "rooms" in k:
        rooms = tuple(r.template() for r in k["rooms"].items())
    if rooms and to not in _ROOM_TO:
        raise (k.get("room") or k["rooms"]).error(f"rooms only apply to to: {', '.join(_ROOM_TO)}")
    return m.Expect(
        k["event"].text() if "event" in k else default_event,
        to=to,
        namespace=_ns(k, d) if "namespace" in k else namespace,
        rooms=rooms,
        within=k["within"].duration(True) if "within" in k else d.within,
        volatile=k["volatile"].boolean() if "volatile" in k else False,
    )


def _emit(n: _Node | None, d: _Defaults, where: str) -> m.Emit:
    assert n is not None
    k = n.mapping(
        ("event", "namespace", "data", "args", "ack", "ack_timeout", "expect", "stamp", "peer"),
        required=("event",),
    )
    if "data" in k and "args" in k:
        raise k["args"].error("use 'data' (one argument) or 'args' (a list), not both")
    event, ns = k["event"].text(), _ns(k, d)
    stamp: str | None = "auto"
    if "stamp" in k:
        raw = k["stamp"].value()
        stamp = None if raw is False or raw == "none" else k["stamp"].text()
    expects = k["expect"].items() if "expect" in k else []
    return m.Emit(
        event,
        namespace=ns,
        data=k["data"].payload() if "data" in k else None,
        args=tuple(a.payload() for a in k["args"].items()) if "args" in k else None,
        ack=k["ack"].boolean() if "ack" in k else False,
        ack_timeout=k["ack_timeout"].duration(True) if "ack_timeout" in k else d.ack_timeout,
        expect=tuple(_expect(x, d, event, ns) for x in expects),
        stamp=stamp,
        peer=k["peer"].text(("random", "next", "previous")) if "peer" in k else None,
        where=where,
    )


def _listen(wait: bool) -> Reader:
    def read(n: _Node | None, d: _Defaults, where: str) -> m.Listen:
        assert n is not None
        if n.is_scalar():
            return m.Listen(n.text(), d.namespace, None if not wait else d.within, 1, wait, where)
        k = n.mapping(("event", "namespace", "within", "count"), required=("event",))
        within = k["within"].duration(True) if "within" in k else (d.within if wait else None)
        count = k["count"].integer(1) if "count" in k else 1
        return m.Listen(k["event"].text(), _ns(k, d), within, count, wait, where)

    return read


def _notify(n: _Node | None, d: _Defaults, where: str) -> m.Notify:
    assert n is not None
    k = n.mapping(("user", "type", "message", "within"), required=("user",))
    return m.Notify(
        k["user"].template(),
        k["type"].text() if "type" in k else "message",
        k["message"].payload() if "message" in k else None,
        k["within"].duration(True) if "within" in k else d.within,
        where,
    )


def _room_step(cls: type, default_event: str, events: tuple[str, ...]) -> Reader:
    def read(n: _Node | None, d: _Defaults, where: str) -> m.Step:
        assert n is not None
        if n.is_scalar():
            return cls(n.template(), d.namespace, default_event, d.ack_timeout, where)
        k = n.mapping(("room", "namespace", "event", "ack_timeout"), required=("room",))
        return cls(
            k["room"].template(),
            _ns(k, d),
            k["event"].text(events) if "event" in k else default_event,
            k["ack_timeout"].duration(True) if "ack_timeout" in k else d.ack_timeout,
            where,
        )

    return read


def _think(n: _Node | None, d: _Defaults, where: str) -> m.Think:
    assert n is not None
    if n.is_scalar():
        return m.Think(m.ThinkKind.FIXED, n.duration(), where=where)
    k = n.mapping(tuple(m.ThinkKind))
    if len(k) != 1:
        raise n.error("think has one of fixed, uniform, poisson")
    ((kind, body),) = k.items()
    if kind == "uniform":
        bounds = body.items()
        if len(bounds) != 2:
            raise body.error("expected [low, high]")
        low, high = bounds[0].duration(), bounds[1].duration()
        if high < low:
            raise body.error("expected low <= high")
        return m.Think(m.ThinkKind.UNIFORM, low, high, where)
    return m.Think(m.ThinkKind(kind), body.duration(kind == "poisson"), where=where)


def _loop(every: bool) -> Reader:
    def read(n: _Node | None, d: _Defaults, where: str) -> m.Step:
        assert n is not None
        keys = (
            ("interval", "count", "duration", "steps") if every else ("count", "duration", "steps")
        )
        k = n.mapping(keys, required=("interval", "steps") if every else ("steps",))
        if "count" in k and "duration" in k:
            raise k["duration"].error("use 'count' or 'duration', not both")
        count = k["count"].integer(1) if "count" in k else None
        duration = k["duration"].duration(True) if "duration" in k else None
        steps = _steps(k["steps"], d)
        if every:
            return m.Every(k["interval"].duration(True), steps, count, duration, where)
        return m.Loop(steps, count, duration, where)

    return read


def _disconnect(n: _Node | None, d: _Defaults, where: str) -> m.Disconnect:
    if n is None:
        return m.Disconnect(where=where)
    k = n.mapping(("namespace",))
    return m.Disconnect(_ns(k, d), where)


def _reconnect(n: _Node | None, d: _Defaults, where: str) -> m.Reconnect:
    if n is None:
        return m.Reconnect(where=where)
    k = n.mapping(("after", "within"))
    return m.Reconnect(
        k["after"].duration() if "after" in k else 0.0,
        k["within"].duration(True) if "within" in k else 10.0,
        where,
    )


def _fault(n: _Node | None, d: _Defaults, where: str) -> m.Fault:
    assert n is not None
    if n.is_scalar():
        return m.Fault(m.FaultKind(n.text(tuple(m.FaultKind))), where=where)
    k = n.mapping(("kind", "downtime", "reconnect_within"), required=("kind",))
    return m.Fault(
        m.FaultKind(k["kind"].text(tuple(m.FaultKind))),
        k["downtime"].duration() if "downtime" in k else 1.0,
        k["reconnect_within"].duration(True) if "reconnect_within" in k else 15.0,
        where,
    )


def _stall(n: _Node | None, d: _Defaults, where: str) -> m.Stall:
    assert n is not None
    if n.is_scalar():
        return m.Stall(n.duration(True), where)
    k = n.mapping(("duration",), required=("duration",))
    return m.Stall(k["duration"].duration(True), where)


_STEPS: dict[str, Callable[[_Node | None, _Defaults, str], m.Step]] = {
    "connect": _connect,
    "emit": _emit,
    "expect": _listen(True),
    "listen": _listen(False),
    "notify": _notify,
    "join": _room_step(m.Join, "join", ("join", "join room", "subscribe document")),
    "leave": _room_step(m.Leave, "leave", ("leave", "leave room", "unsubscribe document")),
    "think": _think,
    "loop": _loop(False),
    "every": _loop(True),
    "disconnect": _disconnect,
    "reconnect": _reconnect,
    "fault": _fault,
    "stall": _stall,
}


def _group(n: _Node, index: int, d: _Defaults) -> m.Group:
    k = n.mapping(("name", "weight", "count", "namespace", "on_finish", "flow"), required=("flow",))
    if "weight" in k and "count" in k:
        raise k["count"].error("a group has 'weight' or 'count', not both")
    if "namespace" in k:
        d = _Defaults(k["namespace"].namespace(), d.within, d.ack_timeout)
    return m.Group(
        name=k["name"].text() if "name" in k else f"group{index}",
        flow=_steps(k["flow"], d),
        weight=k["weight"].number(0.0) if "weight" in k else None,
        count=k["count"].integer(0) if "count" in k else None,
        on_finish=k["on_finish"].text(("hold", "disconnect")) if "on_finish" in k else "hold",
    )


_TOP = (
    "name",
    "description",
    "target",
    "server",
    "transport",
    "path",
    "clients",
    "arrival",
    "duration",
    "seed",
    "auth",
    "defaults",
    "groups",
    "thresholds",
)


def loads_scenario(text: str, source: str = "<scenario>") -> m.Scenario:
    """Parse scenario YAML text; ScenarioError names ``source``, line and key path."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"not valid YAML: {problem}", source, line) from None
    if root is None:
        raise ScenarioError("the scenario is empty", source, 1)
    top = _Node(root, "", source, yaml.SafeLoader(""))
    k = top.mapping(_TOP, required=("groups",))
    d = _Defaults()
    if "defaults" in k:
        dk = k["defaults"].mapping(("namespace", "within", "ack_timeout"))
        d = _Defaults(
            dk["namespace"].namespace() if "namespace" in dk else d.namespace,
            dk["within"].duration(True) if "within" in dk else d.within,
            dk["ack_timeout"].duration(True) if "ack_timeout" in dk else d.ack_timeout,
        )
    groups = tuple(_group(g, i, d) for i, g in enumerate(k["groups"].items()))
    if not groups:
        raise k["groups"].error("expected at least one group")
    clients = k["clients"].integer(1) if "clients" in k else sum(g.count or 0 for g in groups) or 1
    auth = _auth(k["auth"]) if "auth" in k else m.Auth()
    server = _server(k["server"]) if "server" in k else m.ServerSettings()
    if auth.jwt is not None and server.jwt_secret is None:
        server = m.ServerSettings(**{**_fields(server), "jwt_secret": auth.jwt.secret})
    scenario = m.Scenario(
        name=k["name"].text() if "name" in k else Path(source).stem,
        description=k["description"].text() if "description" in k else "",
        target=_target(k["target"]) if "target" in k else "embedded",
        server=server,
        transport=m.Transport(k["transport"].text(tuple(m.Transport)))
        if "transport" in k
        else m.Transport.WEBSOCKET,
        path=k["path"].text() if "path" in k else "/socket.io/",
        clients=clients,
        arrival=_arrival(k["arrival"]) if "arrival" in k else m.Arrival(),
        duration=k["duration"].duration(True) if "duration" in k else 30.0,
        seed=k["seed"].integer() if "seed" in k else 0,
        auth=auth,
        groups=groups,
        thresholds=_thresholds(k["thresholds"]) if "thresholds" in k else m.Thresholds(),
        source=source,
    )
    _check_groups(scenario, k["groups"])
    return scenario


def _fields(obj: Any) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}


def _target(n: _Node) -> str:
    v = n.text()
    if v != "embedded" and not _URL.match(v):
        raise n.error(f"expected 'embedded' or a URL like http://host:3000, got {v!r}")
    return v


def _check_groups(s: m.Scenario, where: _Node) -> None:
    counted = sum(g.count or 0 for g in s.groups)
    if counted > s.clients:
        raise where.error(f"group counts add up to {counted}, more than clients ({s.clients})")
    flexible = [g for g in s.groups if g.count is None and (g.weight is None or g.weight > 0)]
    if counted < s.clients and not flexible:
        raise where.error(
            f"{s.clients - counted} of {s.clients} clients have no group: "
            "give a group a 'weight' or raise the counts"
        )


def load_scenario(path: str | Path) -> m.Scenario:
    """Load a scenario file; ScenarioError for a missing file or any invalid content."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read the scenario: {exc.strerror}", str(p)) from None
    return loads_scenario(text, str(p))


@dataclass(frozen=True, slots=True)
class Overrides:
    """Command-line values that replace the file's."""

    clients: int | None = None
    duration: str | float | None = None
    target: str | None = None
    seed: int | None = None


def apply_overrides(s: m.Scenario, o: Overrides) -> m.Scenario:
    """Return ``s`` with the overrides applied, validated like the file's values."""

    def bad(key: str, message: str) -> ScenarioError:
        return ScenarioError(message, s.source or "<scenario>", None, f"--{key}")

    changes: dict[str, Any] = {}
    if o.clients is not None:
        if o.clients < 1:
            raise bad("clients", f"expected an integer >= 1, got {o.clients}")
        changes["clients"] = o.clients
    if o.duration is not None:
        try:
            changes["duration"] = parse_duration(o.duration)
        except ValueError as exc:
            raise bad("duration", str(exc)) from None
        if changes["duration"] <= 0:
            raise bad("duration", "expected a positive duration")
    if o.target is not None:
        if o.target != "embedded" and not _URL.match(o.target):
            raise bad("target", f"expected 'embedded' or a URL, got {o.target!r}")
        changes["target"] = o.target
    if o.seed is not None:
        changes["seed"] = o.seed
    out = s.replace(**changes)
    counted = sum(g.count or 0 for g in out.groups)
    if counted > out.clients:
        raise bad("clients", f"the groups' counts need at least {counted} clients")
    return out
