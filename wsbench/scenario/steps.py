"""Flow steps: one reader per step kind, from a YAML node to a frozen model step.

Theory of operation
-------------------
A step is a one-key mapping (``emit: {...}``) or, for ``disconnect`` and ``reconnect``,
a bare word. :func:`read_steps` reads a list of them; :data:`STEPS` maps each key to
its reader ``(node | None, defaults, where) -> Step``, where ``where`` is
``FILE:LINE key.path`` kept on the step for messages at run time. Defaults
(namespace, ``within``, ``ack_timeout``) come from the scenario's ``defaults`` and the
group's ``namespace``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import yaml

from wsbench.app.engine import expected_ack
from wsbench.app.loader import ack_spec
from wsbench.oracle import Semantics
from wsbench.scenario import model as m
from wsbench.scenario.yamlnode import AlreadyReported, Defaults, Node

__all__ = ["STEPS", "MAX_RETRIES", "read_steps", "answer_acks"]


Reader = Callable[["Node | None", Defaults, str], m.Step]


def read_steps(n: Node, d: Defaults) -> tuple[m.Step, ...]:
    items = n.items()
    if not items:
        raise n.error("expected at least one step")
    steps = (s.recover(lambda s=s: _step(s, d), None) for s in items)  # type: ignore[misc]
    return tuple(s for s in steps if s is not None)


_NO_ARGSTEPS = ("disconnect", "reconnect")


def _step(n: Node, d: Defaults) -> m.Step:
    kinds = tuple(STEPS)
    if n.is_scalar():
        name = n.text(kinds)
        if name not in _NO_ARGSTEPS:
            raise n.error(f"step {name!r} needs settings: write '{name}: ...'")
        return STEPS[name](None, d, f"{n.source}:{n.node.start_mark.line + 1}")
    k = n.mapping(kinds)
    if not k and n.node.value:
        raise AlreadyReported()  # its only key was unknown, and said so
    if len(k) != 1:
        raise n.error(f"a step has exactly one key (one of {', '.join(kinds)}), got {', '.join(k)}")
    ((name, body),) = k.items()
    where = f"{n.source}:{n.node.start_mark.line + 1} {body.path}"
    if body.value() is None:
        if name not in _NO_ARGSTEPS:
            raise body.error(f"step {name!r} needs settings")
        return STEPS[name](None, d, where)
    return STEPS[name](body, d, where)


def _ns(k: dict[str, Node], d: Defaults) -> str:
    return k["namespace"].namespace() if "namespace" in k else d.namespace


def _connect(n: Node | None, d: Defaults, where: str) -> m.Connect:
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


def _expect(n: Node, d: Defaults, default_event: str, namespace: str) -> m.Expect:
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


def _emit(n: Node | None, d: Defaults, where: str) -> m.Emit:
    assert n is not None
    k = n.mapping(
        (
            "event", "namespace", "data", "args", "ack", "ack_timeout", "expect", "stamp",
            "peer", "must_not", "retries", "expect_ack",
        ),
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
    retries = k["retries"].recover(lambda: _retries(k["retries"]), 0) if "retries" in k else 0
    expect_ack = (
        k["expect_ack"].recover(lambda: _expect_ack(k["expect_ack"]), None)
        if "expect_ack" in k else None
    )
    ack = k["ack"].boolean() if "ack" in k else (retries > 0 or expect_ack is not None)
    if not ack and (retries or expect_ack is not None):
        raise k["ack"].error("'retries' and 'expect_ack' need an ack: drop 'ack: false'")
    data = k["data"].payload() if "data" in k else None
    args = tuple(a.payload() for a in k["args"].items()) if "args" in k else None
    if expect_ack is not None and expect_ack.ack is not None:
        # a path of the expected ack that the emit's arguments do not have is a load error
        sent = list(args) if args is not None else ([] if data is None else [data])
        got = expected_ack(expect_ack.ack, ns, "", event, sent)
        if isinstance(got, str):
            raise k["expect_ack"].error(f"{got.removeprefix('ack: ')} (the emit sends "
                                        f"{len(sent)} argument(s))")
    return m.Emit(
        event,
        namespace=ns,
        data=data,
        args=args,
        ack=ack,
        ack_timeout=k["ack_timeout"].duration(True) if "ack_timeout" in k else d.ack_timeout,
        expect=tuple(_expect(x, d, event, ns) for x in expects),
        stamp=stamp,
        peer=k["peer"].text(("random", "next", "previous")) if "peer" in k else None,
        must_not=tuple(_must_not(x, ns) for x in _one_or_many(k["must_not"]))
        if "must_not" in k
        else (),
        within=d.within,
        retries=retries,
        expect_ack=expect_ack,
        where=where,
    )


#: The most re-sends one emit may ask for (socket.io-client has no bound; this keeps a typo
#: from turning one emit into a flood).
MAX_RETRIES = 100


def _retries(n: Node) -> int:
    v = n.integer(0)
    if v > MAX_RETRIES:
        raise n.error(f"expected at most {MAX_RETRIES} retries, got {v}")
    return v


def _expect_ack(n: Node) -> m.AckExpect:
    """``expect_ack: {payload: T | args: [T...] | $args}`` (what the ack carries, in the app
    file's value language) and/or ``{answers: all | N, timed_out: bool}`` (the ack of
    broadcast with ack)."""
    k = n.mapping(("answers", "timed_out", "payload", "args"))
    if not any(key in k for key in ("answers", "payload", "args")):
        raise n.error("expect_ack needs 'payload' or 'args' (what the ack carries) "
                      "and/or 'answers' (a broadcast with ack)")
    if "timed_out" in k and "answers" not in k:
        raise k["timed_out"].error("'timed_out' judges a broadcast with ack: give 'answers' too")
    ack = ack_spec(k, n.node.start_mark.line + 1) if "payload" in k or "args" in k else None
    if "answers" not in k:
        return m.AckExpect(ack=ack, broadcast=False)
    raw = k["answers"].value()
    answers = None if raw == "all" else k["answers"].integer(0)
    timed_out = k["timed_out"].boolean() if "timed_out" in k else None
    return m.AckExpect(answers, timed_out, ack=ack)


def answer_acks(n: Node) -> tuple[bool, float]:
    """A group's ``answer_acks``: ``false`` (never answer), or ``{delay: D}``."""
    if n.value() is False or n.value() is True:
        return bool(n.value()), 0.0
    k = n.mapping(("delay",), required=("delay",))
    return True, k["delay"].duration()


MUST_NOT_TO = ("sender", "others", "all", "non_members")


def _one_or_many(n: Node) -> list[Node]:
    return n.items() if isinstance(n.node, yaml.SequenceNode) else [n]


def _must_not(n: Node, namespace: str) -> m.MustNot:
    """``must_not: {event, to: sender|others|all|non_members, room(s), namespace}``."""
    if n.is_scalar():
        return m.MustNot(n.text(), "others", namespace)
    k = n.mapping(("event", "to", "namespace", "room", "rooms"), required=("event",))
    to = k["to"].text(MUST_NOT_TO) if "to" in k else "others"
    rooms: tuple[m.Template | str, ...] = ()
    if "room" in k and "rooms" in k:
        raise k["rooms"].error("use 'room' or 'rooms', not both")
    if "room" in k:
        rooms = (k["room"].template(),)
    elif "rooms" in k:
        rooms = tuple(r.template() for r in k["rooms"].items())
    if rooms and to != "non_members":
        raise (k.get("room") or k["rooms"]).error("rooms only apply to to: non_members")
    return m.MustNot(
        k["event"].text(), to, k["namespace"].namespace() if "namespace" in k else namespace, rooms
    )


def _listen(wait: bool) -> Reader:
    def read(n: Node | None, d: Defaults, where: str) -> m.Listen:
        assert n is not None
        if n.is_scalar():
            return m.Listen(n.text(), d.namespace, None if not wait else d.within, 1, wait, where)
        k = n.mapping(("event", "namespace", "within", "count"), required=("event",))
        within = k["within"].duration(True) if "within" in k else (d.within if wait else None)
        count = k["count"].integer(1) if "count" in k else 1
        return m.Listen(k["event"].text(), _ns(k, d), within, count, wait, where)

    return read


def _notify(n: Node | None, d: Defaults, where: str) -> m.Notify:
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
    def read(n: Node | None, d: Defaults, where: str) -> m.Step:
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


def _think(n: Node | None, d: Defaults, where: str) -> m.Think:
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
    def read(n: Node | None, d: Defaults, where: str) -> m.Step:
        assert n is not None
        keys = (
            ("interval", "count", "duration", "steps") if every else ("count", "duration", "steps")
        )
        k = n.mapping(keys, required=("interval", "steps") if every else ("steps",))
        if "count" in k and "duration" in k:
            raise k["duration"].error("use 'count' or 'duration', not both")
        count = k["count"].integer(1) if "count" in k else None
        duration = k["duration"].duration(True) if "duration" in k else None
        steps = read_steps(k["steps"], d)
        if every:
            return m.Every(k["interval"].duration(True), steps, count, duration, where)
        return m.Loop(steps, count, duration, where)

    return read


def _disconnect(n: Node | None, d: Defaults, where: str) -> m.Disconnect:
    if n is None:
        return m.Disconnect(where=where)
    k = n.mapping(("namespace",))
    return m.Disconnect(_ns(k, d), where)


def _reconnect(n: Node | None, d: Defaults, where: str) -> m.Reconnect:
    if n is None:
        return m.Reconnect(where=where)
    k = n.mapping(("after", "within"))
    return m.Reconnect(
        k["after"].duration() if "after" in k else 0.0,
        k["within"].duration(True) if "within" in k else 10.0,
        where,
    )


def _fault(n: Node | None, d: Defaults, where: str) -> m.Fault:
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


def _stall(n: Node | None, d: Defaults, where: str) -> m.Stall:
    assert n is not None
    if n.is_scalar():
        return m.Stall(n.duration(True), where)
    k = n.mapping(("duration",), required=("duration",))
    return m.Stall(k["duration"].duration(True), where)


STEPS: dict[str, Callable[[Node | None, Defaults, str], m.Step]] = {
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


def walk_steps(steps: tuple[Any, ...]) -> Iterator[Any]:
    """Every step of a flow, nested ones (loop, every) after their parent."""
    for step in steps:
        yield step
        inner = getattr(step, "steps", None)
        if inner:
            yield from walk_steps(inner)
