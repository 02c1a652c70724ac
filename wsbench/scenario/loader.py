"""Scenario YAML -> frozen :class:`~wsbench.scenario.model.Scenario`, with errors that point.

Theory of operation
-------------------
The text is *composed* (``yaml.compose``), not loaded: every node keeps its start mark,
so each error names ``FILE:LINE``, the key path (``groups[1].flow[3].emit.ack_timeout``)
and what was expected. A :class:`~wsbench.scenario.yamlnode.Node` wraps a YAML node with
its key path and offers typed readers (``text()``, ``integer()``, ``duration()``,
``mapping(allowed)``...); scalars are built by PyYAML's safe constructor. Unknown keys are
errors with a "did you mean" suggestion; duplicate keys are errors (YAML would silently
keep the last). This module reads the sections; :mod:`wsbench.scenario.steps` the flows.

Durations are a number of seconds or a string ``500ms``, ``30s``, ``2m``, ``1h``.
Overrides from the command line (``clients``, ``duration``, ``target``, ``seed``) are
applied by :func:`apply_overrides` with the same validation; a bad one is an
:class:`~wsbench.exceptions.OptionError` (usage, exit 2) naming the option, not the file.
On the command line a bare number is seconds too (``--duration 15``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from wsbench.exceptions import OptionError, ScenarioError, ScenarioErrors
from wsbench.oracle import ViolationKind
from wsbench.protocol.parser import PARSER_NAMES
from wsbench.scenario import model as m
from wsbench.scenario.steps import answer_acks, read_steps
from wsbench.scenario.yamlnode import Defaults, Node, parse_duration

__all__ = [
    "load_scenario",
    "loads_scenario",
    "Overrides",
    "apply_overrides",
    "option_duration",
    "parse_duration",
    "valid_target",
]

_URL = re.compile(r"^(https?|wss?)://[^\s/]+(/\S*)?$")
_LATENCY_METRICS = ("delivery", "ack", "connect", "fanout_first", "fanout_last", "reconnect")
_LATENCY_STATS = ("p50", "p90", "p95", "p99", "p999", "max", "mean")


# -- sections -------------------------------------------------------------------


def _server(n: Node) -> m.ServerSettings:
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


def _arrival(n: Node) -> m.Arrival:
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


def _auth(n: Node) -> m.Auth:
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


def _thresholds(n: Node) -> m.Thresholds:
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


def _limits(metric: str, n: Node) -> tuple[m.LatencyLimit, ...]:
    return tuple(
        m.LatencyLimit(metric, stat, node.duration())
        for stat, node in n.mapping(_LATENCY_STATS).items()
    )


def _group(n: Node, index: int, d: Defaults) -> m.Group:
    k = n.mapping(("name", "weight", "count", "namespace", "on_finish", "answer_acks", "flow"),
                  required=("flow",))
    if "weight" in k and "count" in k:
        raise k["count"].error("a group has 'weight' or 'count', not both")
    if "namespace" in k:
        d = Defaults(k["namespace"].recover(k["namespace"].namespace, d.namespace), d.within,
                     d.ack_timeout)

    def read(key: str, reader: Any, default: Any) -> Any:
        return k[key].recover(lambda: reader(k[key]), default) if key in k else default

    answer, ack_delay = read("answer_acks", answer_acks, (True, 0.0))
    return m.Group(
        name=read("name", lambda x: x.text(), f"group{index}"),
        flow=read("flow", lambda x: read_steps(x, d), ()),
        weight=read("weight", lambda x: x.number(0.0), None),
        count=read("count", lambda x: x.integer(0), None),
        on_finish=read("on_finish", lambda x: x.text(("hold", "disconnect")), "hold"),
        answer_acks=answer,
        ack_delay=ack_delay,
    )


_TOP = (
    "name",
    "description",
    "target",
    "server",
    "transport",
    "parser",
    "path",
    "clients",
    "arrival",
    "duration",
    "seed",
    "auth",
    "defaults",
    "groups",
    "thresholds",
    "app",
)


def loads_scenario(text: str, source: str = "<scenario>") -> m.Scenario:
    """Parse scenario YAML text.

    Raises:
        ScenarioErrors: every mistake found (a :class:`ScenarioError` naming ``source``,
            line and key path, first in line order, and all of them in ``.errors``).
    """
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioErrors([ScenarioError(f"not valid YAML: {problem}", source, line)]) from None
    if root is None:
        raise ScenarioErrors([ScenarioError("the scenario is empty", source, 1)])
    errors: list[ScenarioError] = []
    top = Node(root, "", source, yaml.SafeLoader(""), errors)
    scenario = top.recover(lambda: _read(top), None)
    if errors or scenario is None:
        raise ScenarioErrors(errors)
    return scenario


def _defaults(n: Node) -> Defaults:
    d = Defaults()
    dk = n.mapping(("namespace", "within", "ack_timeout"))
    return Defaults(
        dk["namespace"].recover(dk["namespace"].namespace, d.namespace)
        if "namespace" in dk
        else d.namespace,
        dk["within"].recover(lambda: dk["within"].duration(True), d.within)
        if "within" in dk
        else d.within,
        dk["ack_timeout"].recover(lambda: dk["ack_timeout"].duration(True), d.ack_timeout)
        if "ack_timeout" in dk
        else d.ack_timeout,
    )


def _read(top: Node) -> m.Scenario | None:
    """Read every section, recording each section's mistakes and going on with the next."""
    k = top.mapping(_TOP, required=("groups",))

    def read(key: str, reader: Any, default: Any) -> Any:
        return k[key].recover(lambda: reader(k[key]), default) if key in k else default

    d = read("defaults", _defaults, Defaults())
    group_nodes = k["groups"].recover(k["groups"].items, None)
    read_groups = (
        n.recover(lambda n=n, i=i: _group(n, i, d), None) for i, n in enumerate(group_nodes or ())
    )
    groups = tuple(g for g in read_groups if g is not None)
    if group_nodes is not None and not group_nodes:
        top.record(k["groups"].error("expected at least one group"))
    clients = read("clients", lambda n: n.integer(1), None)
    auth = read("auth", _auth, m.Auth())
    server = read("server", _server, m.ServerSettings())
    fields = dict(
        name=read("name", lambda n: n.text(), Path(top.source).stem),
        description=read("description", lambda n: n.text(), ""),
        target=read("target", lambda n: _target_of(n)[0], "embedded"),
        transport=read("transport", lambda n: m.Transport(n.text(tuple(m.Transport))),
                       m.Transport.WEBSOCKET),
        parser=read("parser", lambda n: n.text(PARSER_NAMES), "default"),
        path=read("path", lambda n: n.text(), "/socket.io/"),
        arrival=read("arrival", _arrival, m.Arrival()),
        duration=read("duration", lambda n: n.duration(True), 30.0),
        seed=read("seed", lambda n: n.integer(), 0),
        thresholds=read("thresholds", _thresholds, m.Thresholds()),
    )
    app, app_path = read("app", _app, (None, ""))
    if top.errors:
        return None  # cross-checks on half-read sections would only add noise
    if clients is None:
        clients = sum(g.count or 0 for g in groups) or 1
    if auth.jwt is not None and server.jwt_secret is None:
        server = m.ServerSettings(**{**_fields(server), "jwt_secret": auth.jwt.secret})
    cluster, nodes, node_kind = read("target", lambda n: _target_of(n)[1:], (0, (), "python"))
    if node_kind == "node" and server.faults:
        top.record(k["server"].error(
            "server faults exist on the Python reference nodes only; a cluster of kind: node "
            "has none (kind: mixed or python)"))
        return None
    scenario = m.Scenario(
        **fields, server=server, clients=clients, auth=auth, groups=groups, source=top.source,
        app=app, app_path=app_path, cluster=cluster, nodes=nodes, cluster_kind=node_kind,
    )
    _check_groups(scenario, k["groups"])
    if app is not None:
        _check_app(scenario, k["groups"])
    return scenario


def _app(n: Node) -> tuple[Any, str]:
    """``app: FILE`` (relative to the scenario file): the loaded app file, and its path.

    The app file's own mistakes are reported with its file, line and key path."""
    from wsbench.app import load_app

    rel = n.text()
    base = Path(n.source).parent if n.source and not n.source.startswith("<") else Path.cwd()
    path = Path(rel) if Path(rel).is_absolute() else base / rel
    if not path.is_file():
        raise n.error(f"app file {rel!r} not found (looked for {path})")
    try:
        return load_app(path), str(path)
    except ScenarioErrors as exc:
        for e in exc.errors:
            n.record(e)
        raise n.error(f"the app file {rel!r} is invalid (its mistakes are listed)") from None
    except ScenarioError as exc:
        raise n.error(f"app file {rel!r}: {exc.message}") from None


def _check_app(s: m.Scenario, where: Node) -> None:
    """Every emit that derives its expectations, and every join/leave, names an event the
    app file declares; an ``ack: true`` on an event the file never acks is a mistake
    (an ack is never invented)."""
    from wsbench.scenario.steps import walk_steps as walk

    app = s.app
    assert app is not None
    for g in s.groups:
        for step in walk(g.flow):
            if isinstance(step, (m.Emit, m.Join, m.Leave)):
                spec = app.event(step.namespace, step.event)
                label = f"{type(step).__name__.lower()} {step.event!r}"
                loc, _, key_path = step.where.partition(" ")
                file, _, line = loc.rpartition(":")

                def error(text: str, file: str = file, line: str = line,
                          key_path: str = key_path) -> ScenarioError:
                    if not line.isdigit():
                        return where.error(text)
                    return ScenarioError(text, file, int(line), key_path)

                if spec is None:
                    if isinstance(step, m.Emit) and step.expect:
                        continue  # explicit expectations: the file is not consulted
                    ns = app.namespace(step.namespace)
                    known = ", ".join(e.name for e in ns.events) if ns is not None else ""
                    raise error(
                        f"{label}: the app file {s.app_path} declares no event {step.event!r} "
                        f"in namespace {step.namespace!r}"
                        + (f" (declared: {known})" if known else " (no such namespace)")
                    )
                if isinstance(step, m.Emit) and step.ack and not step.expect and spec.ack is None:
                    raise error(
                        f"{label}: ack: true, but the app file {s.app_path} says the server "
                        f"never acks {step.event!r} (line {spec.line})"
                    )
                if isinstance(step, m.Join) and spec.join is None:
                    raise error(f"{label}: the app file says {step.event!r} joins no room")
                if isinstance(step, m.Leave) and spec.leave is None:
                    raise error(f"{label}: the app file says {step.event!r} leaves no room")


def _fields(obj: Any) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}


MAX_NODES = 16


#: ``target: {embedded: {nodes: N, kind: ...}}``: python (reference servers), node (Node twins
#: on the official @socket.io/redis-adapter) or mixed (python, node, python...)
CLUSTER_KINDS = ("python", "node", "mixed")


def _target_of(n: Node) -> tuple[str, int, tuple[str, ...], str]:
    """``target``: (target, embedded cluster size, node URLs, node kind).

    ``embedded`` / a URL; a list of node URLs (clients spread over them); or
    ``{embedded: {nodes: N, kind: python|node|mixed}}`` (Redis + N nodes + HAProxy,
    wsbench.launch.cluster).
    """
    if n.is_mapping():
        k = n.mapping(("embedded",), required=("embedded",))
        e = k["embedded"].mapping(("nodes", "kind"), required=("nodes",))
        count = e["nodes"].integer(1)
        if count > MAX_NODES:
            raise e["nodes"].error(f"at most {MAX_NODES} embedded nodes, got {count}")
        kind = e["kind"].text(CLUSTER_KINDS) if "kind" in e else "python"
        return "embedded", count, (), kind
    if not n.is_scalar():
        urls = [_target(item) for item in n.items()]
        if not urls:
            raise n.error("expected at least one node URL")
        if "embedded" in urls:
            raise n.error("a list of targets holds node URLs; an embedded cluster is "
                          "{embedded: {nodes: N}}")  # fmt: skip
        if len(set(urls)) != len(urls):
            raise n.error("the same node URL is listed twice")
        return urls[0], 0, tuple(u.rstrip("/") for u in urls), "python"
    return _target(n), 0, (), "python"


def _target(n: Node) -> str:
    v = n.text()
    if not valid_target(v):
        raise n.error(f"expected 'embedded' or a URL like http://host:3000, got {v!r}")
    return v


def _check_groups(s: m.Scenario, where: Node) -> None:
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


_NUMBER = re.compile(r"^\s*[0-9]+(?:\.[0-9]+)?\s*$")


def option_duration(value: str | float) -> float:
    """Seconds from a command-line duration: ``15``, ``1.5``, ``500ms``, ``30s``, ``2m``, ``1h``.

    A bare number is seconds, as in the YAML (``duration: 15``); on the command line it
    arrives as text. Raises ValueError (with what was expected) for anything else.
    """
    if isinstance(value, str) and _NUMBER.match(value):
        value = float(value)
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ValueError(
            f"expected a duration like 15 (seconds), 500ms, 30s or 2m, got {value!r}"
        ) from None
    if seconds <= 0:
        raise ValueError(f"expected a positive duration, got {value!r}")
    return seconds


def valid_target(value: str) -> bool:
    """True for ``embedded`` or an http(s)/ws(s) URL (what ``target:`` and ``--target`` accept)."""
    return value == "embedded" or bool(_URL.match(value))


def apply_overrides(s: m.Scenario, o: Overrides) -> m.Scenario:
    """Return ``s`` with the overrides applied, validated like the file's values.

    Raises:
        OptionError: a bad value, or one the scenario cannot take (``--clients`` fewer
            than its groups' counts). It names the option, not the scenario file: the
            file is fine, the command line is not (exit 2).
    """
    changes: dict[str, Any] = {}
    if o.clients is not None:
        if o.clients < 1:
            raise OptionError("--clients", f"expected an integer >= 1, got {o.clients}")
        changes["clients"] = o.clients
    if o.duration is not None:
        try:
            changes["duration"] = option_duration(o.duration)
        except ValueError as exc:
            raise OptionError("--duration", str(exc)) from None
    if o.target is not None:
        if not valid_target(o.target):
            raise OptionError(
                "--target", f"expected 'embedded' or a URL like http://127.0.0.1:3000, got {o.target!r}"
            )
        changes["target"] = o.target
    if o.seed is not None:
        changes["seed"] = o.seed
    out = s.replace(**changes)
    counted = sum(g.count or 0 for g in out.groups)
    if counted > out.clients:
        raise OptionError(
            "--clients",
            f"{out.clients} is fewer than the {counted} clients the groups' counts of "
            f"{s.source or 'the scenario'} need",
        )
    return out
