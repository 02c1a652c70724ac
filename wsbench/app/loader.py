"""App file YAML -> frozen :class:`~wsbench.app.model.App`, with errors that point.

Theory of operation
-------------------
Same machinery as the scenario loader (:mod:`wsbench.yamlnode`): the text is composed,
every node keeps its line, unknown keys get a "did you mean", duplicate keys are errors,
and every mistake of the file is collected and raised at the end as one
:class:`~wsbench.exceptions.ScenarioErrors` (``FILE:LINE: key path: message``, in line
order). Cross-references are checked after the whole file is read: a push's
``namespace`` must be declared, ``confirmed_by`` must name a push of the same event that
reaches the sender, ``if_sent`` must name an event of the namespace, and a template may
only read what its place has (``$connect`` on connect, ``$args`` in events).

An app file is recognised by its top-level ``app:`` key (:func:`is_app_text`), so
``wsbench validate`` takes scenarios and app files alike. The format is docs/apps.md.
"""

from __future__ import annotations

import re
from pathlib import Path as FsPath

import yaml

from wsbench.app import model as m
from wsbench.app.paths import Path, Template, compile_template, parse_path
from wsbench.exceptions import ScenarioError, ScenarioErrors
from wsbench.protocol.parser import PARSER_NAMES
from wsbench.yamlnode import AlreadyReported, Node

__all__ = ["is_app_file", "is_app_text", "load_app", "loads_app"]

_TOP = (
    "app",
    "description",
    "parser",
    "room_max",
    "auth",
    "unknown_namespace",
    "refusal",
    "namespaces",
)
_NS = (
    "auth",
    "require_claims",
    "unauthorized",
    "connect",
    "disconnect",
    "unsolicited",
    "events",
)
_EVENT = ("description", "join", "leave", "confirmed_by", "refuse", "push", "ack", "never",
          "binary")
_PUSH = (
    "event",
    "to",
    "namespace",
    "room",
    "rooms",
    "socket",
    "payload",
    "args",
    "volatile",
    "repeat",
    "present",
    "absent",
    "if_sent",
    "wants_ack",
)
_TARGET_KEY = {
    m.Semantics.ROOM: "room",
    m.Semantics.ROOM_OTHERS: "room",
    m.Semantics.ROOMS: "rooms",
    m.Semantics.ROOMS_OTHERS: "rooms",
    m.Semantics.SOCKET: "socket",
}
#: which path roots a template may read, by where it is
_ROOTS = {
    "event": ("args", "sender", "event"),
    "connect": ("sender", "connect"),
    "disconnect": ("sender",),
    "refusal": ("args", "sender", "event"),
}


def _template(n: Node, place: str) -> Template:
    try:
        t = compile_template(n.value())
    except ValueError as exc:
        raise n.error(str(exc)) from None
    for _, path in t.refs():
        if path.root not in _ROOTS[place]:
            allowed = ", ".join("$" + r for r in _ROOTS[place])
            raise n.error(f"{path} cannot be read here ({place}: {allowed})")
    return t


def _path(n: Node, place: str) -> Path:
    text = n.text()
    try:
        p = parse_path(text)
    except ValueError as exc:
        raise n.error(str(exc)) from None
    if p.root not in _ROOTS[place]:
        raise n.error(f"{p} cannot be read here ({place}: {', '.join('$' + r for r in _ROOTS[place])})")
    return p


def _args(k: dict[str, Node], place: str) -> tuple[tuple[Template, ...] | None, bool]:
    """``payload: T`` (one argument) or ``args: [T...]`` / ``args: $args`` (the event's)."""
    if "payload" in k and "args" in k:
        raise k["args"].error("give either 'payload' (one argument) or 'args' (a list), not both")
    if "payload" in k:
        return (_template(k["payload"], place),), False
    if "args" in k:
        a = k["args"]
        if a.is_scalar() and a.value() == "$args":
            if place != "event" and place != "refusal":
                raise a.error("$args (the event's own arguments) exists only in events")
            return None, True
        return tuple(_template(i, place) for i in a.items()), False
    return (), False


def _push(n: Node, place: str) -> m.PushSpec:
    k = n.mapping(_PUSH, required=("event", "to"))
    event = k["event"].text()
    to = m.Semantics(k["to"].text(m.TO_CHOICES))
    needs = _TARGET_KEY.get(to)
    # socket.to(sid) / io.to(sid): a room kind whose room is the socket id a field names
    by_sid = to in (m.Semantics.ROOM, m.Semantics.ROOM_OTHERS) and "socket" in k
    if by_sid and "room" in k:
        raise k["socket"].error(f"to: {to} takes 'room' (a room) or 'socket' (the room of a "
                                "socket's id), not both")
    for key in ("room", "rooms", "socket"):
        if key in k and key != needs and not (by_sid and key == "socket"):
            raise k[key].error(f"'{key}' is for to: " + " or ".join(
                str(s) for s, v in _TARGET_KEY.items() if v == key) + f", not {to}")
    if needs and needs not in k and not by_sid:
        raise n.error(f"to: {to} needs '{needs}' (a path or template naming the target)")
    args, spread = _args(k, place)
    namespace = k["namespace"].namespace() if "namespace" in k else None
    if namespace is not None and to in (m.Semantics.ALL_NAMESPACES, m.Semantics.SENDER):
        raise k["namespace"].error(f"to: {to} takes no 'namespace'")
    repeat, repeat_default = None, 1
    if "repeat" in k:
        r = k["repeat"]
        if r.is_mapping():
            rk = r.mapping(("from", "default"), required=("from",))
            repeat = Template("ref", _path(rk["from"], place))
            repeat_default = rk["default"].integer(minimum=0) if "default" in rk else 1
        elif isinstance(r.value(), int) and not isinstance(r.value(), bool):
            repeat_default = r.integer(minimum=0)
        else:
            repeat = Template("ref", _path(r, place))
    if "if_sent" in k and place != "disconnect":
        raise k["if_sent"].error("'if_sent' is for disconnect pushes")
    return m.PushSpec(
        event=event,
        to=to,
        args=args,
        spread=spread,
        namespace=namespace,
        room=_template(k["room" if "room" in k else "socket"], place)
        if "room" in k or by_sid else None,
        rooms=_template(k["rooms"], place) if "rooms" in k else None,
        socket=_template(k["socket"], place) if "socket" in k else None,
        volatile=k["volatile"].boolean() if "volatile" in k else False,
        repeat=repeat,
        repeat_default=repeat_default,
        present=_path(k["present"], place) if "present" in k else None,
        absent=_path(k["absent"], place) if "absent" in k else None,
        if_sent=k["if_sent"].text() if "if_sent" in k else None,
        wants_ack=k["wants_ack"].boolean() if "wants_ack" in k else False,
        line=n.node.start_mark.line + 1,
    )


def _pushes(n: Node, place: str) -> tuple[m.PushSpec, ...]:
    return tuple(
        p for p in (i.recover(lambda i=i: _push(i, place), None) for i in n.items()) if p
    )


def _ack(n: Node) -> m.AckSpec | None:
    if n.is_scalar() and n.value() in ("none", None):
        return None
    k = n.mapping(("payload", "args", "after_pushes"))
    args, spread = _args(k, "event")
    return m.AckSpec(
        args=args,
        spread=spread,
        after_pushes=k["after_pushes"].boolean() if "after_pushes" in k else False,
        line=n.node.start_mark.line + 1,
    )


def ack_spec(k: dict[str, Node], line: int = 0) -> m.AckSpec:
    """``payload: T`` (the ack's one argument) or ``args: [T...] | $args`` in the file's value
    language (``$args...`` paths of the event's arguments, ``$sender.sid``, ``$any``...), read
    as an event's ack: a scenario's ``expect_ack`` states what an ack must carry with it."""
    args, spread = _args(k, "event")
    return m.AckSpec(args=args, spread=spread, line=line)


def _condition(n: Node, room_max: int) -> m.Condition:
    kinds = tuple(str(c) for c in m.ConditionKind)
    if not n.is_mapping() or len(n.node.value) != 1:
        raise n.error(f"expected one condition: {{KIND: PATH}} with KIND one of {', '.join(kinds)}")
    k = n.mapping(kinds)
    if not k:
        raise AlreadyReported()
    (kind_name, body), = k.items()
    kind = m.ConditionKind(kind_name)
    line = n.node.start_mark.line + 1
    if body.is_scalar():
        path = _path(body, "event")
        if kind is m.ConditionKind.RESERVED:
            raise body.error("reserved needs {path, prefixes: [...]}")
        limit = room_max if kind is m.ConditionKind.NOT_ROOM else 100
        return m.Condition(kind, path, max=limit, line=line)
    extra = {
        m.ConditionKind.NOT_ROOM: ("max",),
        m.ConditionKind.NOT_ROOMS: ("max",),
        m.ConditionKind.NOT_OBJECT: ("keys",),
        m.ConditionKind.RESERVED: ("prefixes",),
    }.get(kind, ())
    required = ("path", "prefixes") if kind is m.ConditionKind.RESERVED else ("path",)
    bk = body.mapping(("path", *extra), required=required)
    path = _path(bk["path"], "event")
    default_max = room_max if kind is m.ConditionKind.NOT_ROOM else 100
    return m.Condition(
        kind,
        path,
        max=bk["max"].integer(minimum=1) if "max" in bk else default_max,
        keys=tuple(i.text() for i in bk["keys"].items()) if "keys" in bk else (),
        prefixes=tuple(i.text() for i in bk["prefixes"].items()) if "prefixes" in bk else (),
        line=line,
    )


def _event(name: str, n: Node, namespace: str, room_max: int) -> m.EventSpec:
    k = n.mapping(_EVENT) if not (n.is_scalar() and n.value() is None) else {}
    r = n.recover
    join = r(lambda: _template(k["join"], "event"), None) if "join" in k else None
    leave = r(lambda: _template(k["leave"], "event"), None) if "leave" in k else None
    if join is not None and leave is not None:
        n.record(k["leave"].error("an event either joins or leaves a room, not both"))
    push = _pushes(k["push"], "event") if "push" in k else ()
    confirmed_by = "none"
    if "confirmed_by" in k:
        c = k["confirmed_by"]
        confirmed_by = r(c.text, "none")
        if "join" not in k and "leave" not in k:
            n.record(c.error("confirmed_by is for events that join or leave a room"))
        elif confirmed_by not in ("ack", "none"):
            reach = (m.Semantics.SENDER, m.Semantics.ALL, m.Semantics.ROOM, m.Semantics.ROOMS)
            ok = [p.event for p in push if p.to in reach]
            if confirmed_by not in ok:
                hint = f" (pushes that reach the sender: {', '.join(ok)})" if ok else ""
                n.record(c.error(f"confirmed_by is ack, none or a push of this event that "
                                 f"reaches the sender, got {confirmed_by!r}{hint}"))
        if confirmed_by == "ack" and "ack" in k and k["ack"].is_scalar():
            n.record(c.error("confirmed_by: ack, but the event has no ack"))
        if confirmed_by == "ack" and "ack" not in k:
            n.record(c.error("confirmed_by: ack, but the event has no ack"))
    refuse = tuple(
        x
        for x in (
            i.recover(lambda i=i: _condition(i, room_max), None)
            for i in (k["refuse"].items() if "refuse" in k else ())
        )
        if x
    )
    never = []
    for i in k["never"].items() if "never" in k else ():
        def read(i: Node = i) -> m.NeverSpec:
            nk = i.mapping(("event", "who"), required=("event", "who"))
            who = m.Who(nk["who"].text(tuple(str(w) for w in m.Who)))
            return m.NeverSpec(nk["event"].text(), who, i.node.start_mark.line + 1)
        v = i.recover(read, None)
        if v:
            never.append(v)
    binary = r(lambda: _binary(k["binary"], join, leave, push, refuse), ()) if "binary" in k else ()
    return m.EventSpec(
        name=name,
        namespace=namespace,
        description=r(k["description"].text, "") if "description" in k else "",
        join=join,
        leave=leave,
        confirmed_by=confirmed_by,
        refuse=refuse,
        push=push,
        ack=r(lambda: _ack(k["ack"]), None) if "ack" in k else None,
        never=tuple(never),
        binary=binary,
        line=n.node.start_mark.line + 1,
    )


def _binary(n: Node, join: Template | None, leave: Template | None,
            push: tuple[m.PushSpec, ...], refuse: tuple[m.Condition, ...]) -> tuple[Path, ...]:
    """``binary: PATH`` or ``[PATH, ...]``: the arguments that carry bytes.

    A path names a part of ``$args``; it cannot also be a room, a socket id or an object the
    event reads keys of (bytes have neither text nor keys)."""
    items = n.items() if isinstance(n.node, yaml.SequenceNode) else [n]
    if not items:
        raise n.error("binary: give the path of an argument that carries bytes, or a list of them")
    textual: dict[str, str] = {}  # path text -> what the event needs it to be
    for what, t in (("the joined room", join), ("the left room", leave)):
        for _, p in t.refs() if t is not None else ():
            textual[str(p)] = what
    for p in push:
        for what, t in (("a push's room", p.room), ("a push's rooms", p.rooms),
                        ("a push's socket", p.socket), ("a push's repeat count", p.repeat)):
            for _, path in t.refs() if t is not None else ():
                textual[str(path)] = what
    for c in refuse:
        if c.kind is not m.ConditionKind.NOT_OBJECT:
            textual.setdefault(str(c.path), f"a {c.kind} condition's value")
    read = [parse_path(t) for t in textual]  # parse_path: the texts came from paths
    read += [path for p in push for t in (p.args or ()) for _, path in t.refs()]
    read += [c.path for c in refuse]
    out: list[Path] = []
    for i in items:
        p = _path(i, "event")
        if p.root != "args" or not p.steps:
            raise i.error(f"binary names an argument ($args[0], $args[0].data), got {p}")
        if str(p) in textual:
            raise i.error(f"{p} is {textual[str(p)]}, a string: it cannot carry bytes")
        inner = next((q for q in read if q.root == "args" and len(q.steps) > len(p.steps)
                      and q.steps[: len(p.steps)] == p.steps), None)
        if inner is not None:
            raise i.error(f"{p} carries bytes, but the event reads {inner} inside it "
                          "(bytes have no keys)")
        if p in out:
            raise i.error(f"{p} is listed twice")
        out.append(p)
    return tuple(out)


def _key(name: object) -> str:
    """A name as a key-path part: ``/chat`` plain, ``['chat message']`` quoted."""
    text = str(name)
    return text if re.fullmatch(r"[A-Za-z0-9_/-]+", text) else f"[{text!r}]"


def _sep(name: str) -> str:
    part = _key(name)
    return part if part.startswith("[") else "." + part


def _named(n: Node) -> list[tuple[str, Node]]:
    """A mapping whose keys are names (events, namespaces), in file order."""
    if not n.is_mapping():
        raise n.error("expected a mapping of names")
    out, seen = [], set()
    for key_node, value_node in n.node.value:
        key = n._ctor.construct_object(key_node)
        where = n.child(value_node, _key(key))
        if not isinstance(key, str) or not key:
            n.record(where.error(f"names must be non-empty strings, got {key!r}"))
            continue
        if key in seen:
            n.record(where.error(f"duplicate name {key!r}"))
            continue
        seen.add(key)
        out.append((key, where))
    return out


def _namespace(name: str, n: Node, room_max: int) -> m.NamespaceSpec:
    k = n.mapping(_NS) if not (n.is_scalar() and n.value() is None) else {}
    r = n.recover
    events = []
    if "events" in k:
        for ev, en in _named(k["events"]):
            e = en.recover(lambda ev=ev, en=en: _event(ev, en, name, room_max), None)
            if e:
                events.append(e)
    claims: tuple[tuple[str, object], ...] = ()
    if "require_claims" in k:
        v = k["require_claims"].value()
        if not isinstance(v, dict) or not all(isinstance(x, str) for x in v):
            n.record(k["require_claims"].error("expected a mapping of claim: value"))
        else:
            claims = tuple(v.items())
    return m.NamespaceSpec(
        name=name,
        events=tuple(events),
        on_connect=_pushes(k["connect"], "connect") if "connect" in k else (),
        on_disconnect=_pushes(k["disconnect"], "disconnect") if "disconnect" in k else (),
        auth=r(k["auth"].boolean, False) if "auth" in k else False,
        require_claims=claims,
        unauthorized=r(k["unauthorized"].text, None) if "unauthorized" in k else None,
        unsolicited=tuple(r(i.text, "") for i in k["unsolicited"].items())
        if "unsolicited" in k
        else (),
        line=n.node.start_mark.line + 1,
    )


def _auth(n: Node) -> m.AuthSpec:
    k = n.mapping(("token", "algorithms", "user_claim", "missing", "invalid", "expiry"),
                  required=("token",))
    return m.AuthSpec(
        token=_path(k["token"], "connect"),
        algorithms=tuple(i.text() for i in k["algorithms"].items()) if "algorithms" in k
        else ("HS256",),
        user_claim=k["user_claim"].text() if "user_claim" in k else None,
        missing=k["missing"].text() if "missing" in k else "Authentication error",
        invalid=k["invalid"].text() if "invalid" in k else "Invalid token",
        expiry=k["expiry"].boolean() if "expiry" in k else True,
        line=n.node.start_mark.line + 1,
    )


def _refusal(n: Node) -> m.RefusalSignal:
    k = n.mapping(("ack", "push"))
    ack = None
    if "ack" in k:
        a = k["ack"]
        ack = (
            tuple(_template(i, "refusal") for i in a.items())
            if isinstance(a.node, yaml.SequenceNode)
            else (_template(a, "refusal"),)
        )
    push = None
    if "push" in k:
        push = _push(k["push"], "refusal")
        if push.to is not m.Semantics.SENDER:
            raise k["push"].error("a refusal push goes to: sender")
    return m.RefusalSignal(ack=ack, push=push, line=n.node.start_mark.line + 1)


def _read(top: Node, source: str) -> m.App:
    k = top.mapping(_TOP, required=("app", "namespaces"))
    r = top.recover
    room_max = r(lambda: k["room_max"].integer(minimum=1), 128) if "room_max" in k else 128
    namespaces = []
    for name, nn in r(lambda: _named(k["namespaces"]), []):
        if not name.startswith("/"):
            top.record(nn.error(f"a namespace starts with '/', got {name!r}"))
            continue
        ns = nn.recover(lambda name=name, nn=nn: _namespace(name, nn, room_max), None)
        if ns:
            namespaces.append(ns)
    app = m.App(
        name=r(k["app"].text, "?"),
        source=source,
        description=r(k["description"].text, "") if "description" in k else "",
        namespaces=tuple(namespaces),
        auth=r(lambda: _auth(k["auth"]), None) if "auth" in k else None,
        unknown_namespace=r(k["unknown_namespace"].text, None)
        if "unknown_namespace" in k
        else None,
        refusal=r(lambda: _refusal(k["refusal"]), None) if "refusal" in k else None,
        room_max=room_max,
        parser=r(lambda: k["parser"].text(PARSER_NAMES), None) if "parser" in k else None,
    )
    _cross_check(app, top)
    return app


def _cross_check(app: m.App, top: Node) -> None:
    declared = {ns.name for ns in app.namespaces}

    def err(line: int, path: str, message: str) -> None:
        top.record(ScenarioError(message, app.source, line, path))

    for ns in app.namespaces:
        names = {e.name for e in ns.events}
        groups = [("connect", ns.on_connect), ("disconnect", ns.on_disconnect)]
        groups += [(f"events{_sep(e.name)}.push", e.push) for e in ns.events]
        for where, pushes in groups:
            for i, p in enumerate(pushes):
                path = f"namespaces{_sep(ns.name)}.{where}[{i}]"
                if p.namespace is not None and p.namespace not in declared:
                    err(p.line, path + ".namespace", f"namespace {p.namespace!r} is not declared")
                if p.if_sent is not None and p.if_sent not in names:
                    err(p.line, path + ".if_sent", f"{p.if_sent!r} is not an event of {ns.name}")
        if ns.auth and app.auth is None:
            err(ns.line, f"namespaces{_sep(ns.name)}.auth", "auth: true, but the app declares no 'auth'")


def loads_app(text: str, source: str = "<app>") -> m.App:
    """Parse app-file YAML text; ScenarioErrors with every mistake (file, line, key path)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioErrors([ScenarioError(f"not valid YAML: {problem}", source, line)]) from None
    if root is None:
        raise ScenarioErrors([ScenarioError("the app file is empty", source, 1)])
    errors: list[ScenarioError] = []
    top = Node(root, "", source, yaml.SafeLoader(""), errors)
    app = top.recover(lambda: _read(top, source), None)
    if errors or app is None:
        raise ScenarioErrors(errors or [ScenarioError("not an app file", source, 1)])
    return app


def load_app(path: str | FsPath) -> m.App:
    """Load an app file; ScenarioError for a missing file or any invalid content."""
    p = FsPath(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read the app file: {exc.strerror}", str(p)) from None
    return loads_app(text, str(p))


def is_app_text(text: str) -> bool:
    """True when the YAML's top level is an app file's: an ``app`` key and no ``groups``.

    A scenario may name its app file (``app: apps/seed.yaml``) but always has ``groups``;
    an app file never has them.
    """
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return False
    if not isinstance(root, yaml.MappingNode):
        return False
    keys = {k.value for k, _ in root.value if isinstance(k, yaml.ScalarNode)}
    return "app" in keys and "groups" not in keys


def is_app_file(path: str | FsPath) -> bool:
    try:
        return is_app_text(FsPath(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
