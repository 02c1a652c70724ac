"""The JSON Schema of scenario files, for editors; generates ``schema.json``.

The loader is the authority (it gives FILE:LINE errors and checks what a schema cannot,
like group counts against ``clients``); this schema mirrors its keys and types so editors
can complete and flag files as they are typed. A test checks that ``schema.json`` equals
:func:`build_schema` and that every example scenario passes both.

Regenerate with ``python -m wsbench.scenario.schema > wsbench/scenario/schema.json``.
"""

from __future__ import annotations

import json
from typing import Any

from wsbench.oracle import Semantics, ViolationKind
from wsbench.protocol.parser import PARSER_NAMES
from wsbench.scenario.model import MAX_BINARY, FaultKind, ThinkKind, TokenMode, Transport
from wsbench.scenario.steps import MUST_NOT_TO

__all__ = ["build_schema"]

DURATION: dict[str, Any] = {
    "description": "seconds, or a string like 500ms, 30s, 2m, 1h",
    "oneOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m|h)\s*$"},
    ],
}
NAMESPACE = {"type": "string", "pattern": "^/"}
TEXT = {"type": "string", "minLength": 1}
ROOM = {"description": "a room name; may use {placeholders}", "type": ["string", "number"]}


def _obj(props: dict[str, Any], required: tuple[str, ...] = (), /, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    out.update(extra)
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _step(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return _obj({name: body}, (name,))


BINARY: dict[str, Any] = {
    "description": "binary value: {bytes: N} random bytes, {bytes: N, fill: text} the text "
    "repeated to N bytes (placeholders allowed in fill)",
    "type": "object",
    "properties": {
        "bytes": {"type": "integer", "minimum": 1, "maximum": MAX_BINARY},
        "fill": {"type": "string", "minLength": 1},
    },
    "required": ["bytes"],
    "additionalProperties": False,
}
PAYLOAD: dict[str, Any] = {
    "description": "any JSON value; an object with a 'bytes' key is a binary value",
    "anyOf": [
        _ref("binary"),
        {
            "type": "object",
            "not": {"required": ["bytes"]},
            "additionalProperties": _ref("payload"),
        },
        {"type": "array", "items": _ref("payload")},
        {"type": ["string", "number", "boolean", "null"]},
    ],
}


def build_schema() -> dict[str, Any]:
    expect = {
        "oneOf": [
            TEXT,
            _obj(
                {
                    "event": TEXT,
                    "to": {"enum": [str(s) for s in Semantics]},
                    "room": ROOM,
                    "rooms": {"type": "array", "items": ROOM},
                    "namespace": NAMESPACE,
                    "within": DURATION,
                    "volatile": {"type": "boolean"},
                }
            ),
        ]
    }
    must_not = {
        "description": "a negative expectation: the event (carrying this emit's stamp or "
        "correlated to it) must not reach 'to' (default others)",
        "oneOf": [
            TEXT,
            _obj(
                {
                    "event": TEXT,
                    "to": {"enum": list(MUST_NOT_TO)},
                    "namespace": NAMESPACE,
                    "room": ROOM,
                    "rooms": {"type": "array", "items": ROOM},
                },
                ("event",),
            ),
        ],
    }
    limits = _obj({s: DURATION for s in ("p50", "p90", "p95", "p99", "p999", "max", "mean")})
    room_step = {
        "oneOf": [
            ROOM,
            _obj(
                {"room": ROOM, "namespace": NAMESPACE, "event": TEXT, "ack_timeout": DURATION},
                ("room",),
            ),
        ]
    }
    steps = {
        "connect": _step(
            "connect",
            {
                "oneOf": [
                    {"type": "null"},
                    NAMESPACE,
                    _obj(
                        {
                            "namespace": NAMESPACE,
                            "namespaces": {"type": "array", "items": NAMESPACE, "minItems": 1},
                            "token": {"enum": [str(t) for t in TokenMode]},
                            "auth": {"type": "object"},
                            "refused": TEXT,
                            "timeout": DURATION,
                        }
                    ),
                ]
            },
        ),
        "emit": _step(
            "emit",
            _obj(
                {
                    "event": TEXT,
                    "namespace": NAMESPACE,
                    "data": _ref("payload"),
                    "args": {"type": "array", "items": _ref("payload")},
                    "ack": {"type": "boolean"},
                    "ack_timeout": DURATION,
                    "expect": {"type": "array", "items": expect},
                    "stamp": {"oneOf": [TEXT, {"const": False}]},
                    "peer": {"enum": ["random", "next", "previous"]},
                    "retries": {"type": "integer", "minimum": 0, "maximum": 100},
                    "expect_ack": _obj(
                        {
                            "answers": {
                                "oneOf": [{"const": "all"}, {"type": "integer", "minimum": 0}]
                            },
                            "timed_out": {"type": "boolean"},
                            "payload": {
                                "description": "the ack's argument, in the app file's value "
                                "language ($args[0].data, $any, ...)"
                            },
                            "args": {
                                "oneOf": [{"type": "array"}, {"const": "$args"}],
                                "description": "the ack's arguments (app file value language)",
                            },
                        },
                        anyOf=[{"required": ["answers"]}, {"required": ["payload"]},
                               {"required": ["args"]}],
                        **{"not": {"required": ["payload", "args"]}},
                    ),
                    "must_not": {
                        "oneOf": [_ref("must_not"), {"type": "array", "items": _ref("must_not")}]
                    },
                },
                ("event",),
            ),
        ),
        "expect": None,
        "listen": None,
        "notify": _step(
            "notify",
            _obj(
                {"user": ROOM, "type": TEXT, "message": {}, "within": DURATION},
                ("user",),
            ),
        ),
        "join": _step("join", room_step),
        "leave": _step("leave", room_step),
        "think": _step(
            "think",
            {
                "oneOf": [
                    DURATION,
                    _obj({"fixed": DURATION}, ("fixed",)),
                    _obj(
                        {
                            "uniform": {
                                "type": "array",
                                "items": DURATION,
                                "minItems": 2,
                                "maxItems": 2,
                            }
                        },
                        ("uniform",),
                    ),
                    _obj({"poisson": DURATION}, ("poisson",)),
                ]
            },
        ),
        "loop": _step(
            "loop",
            _obj(
                {
                    "count": {"type": "integer", "minimum": 1},
                    "duration": DURATION,
                    "steps": _ref("steps"),
                },
                ("steps",),
            ),
        ),
        "every": _step(
            "every",
            _obj(
                {
                    "interval": DURATION,
                    "count": {"type": "integer", "minimum": 1},
                    "duration": DURATION,
                    "steps": _ref("steps"),
                },
                ("interval", "steps"),
            ),
        ),
        "disconnect": _step(
            "disconnect", {"oneOf": [{"type": "null"}, _obj({"namespace": NAMESPACE})]}
        ),
        "reconnect": _step(
            "reconnect",
            {"oneOf": [{"type": "null"}, _obj({"after": DURATION, "within": DURATION})]},
        ),
        "fault": _step(
            "fault",
            {
                "oneOf": [
                    {"enum": [str(f) for f in FaultKind]},
                    _obj(
                        {
                            "kind": {"enum": [str(f) for f in FaultKind]},
                            "downtime": DURATION,
                            "reconnect_within": DURATION,
                        },
                        ("kind",),
                    ),
                ]
            },
        ),
        "stall": _step("stall", {"oneOf": [DURATION, _obj({"duration": DURATION}, ("duration",))]}),
    }
    listen_body = {
        "oneOf": [
            TEXT,
            _obj(
                {
                    "event": TEXT,
                    "namespace": NAMESPACE,
                    "within": DURATION,
                    "count": {"type": "integer", "minimum": 1},
                },
                ("event",),
            ),
        ]
    }
    steps["expect"] = _step("expect", listen_body)
    steps["listen"] = _step("listen", listen_body)
    assert set(ThinkKind) == {"fixed", "uniform", "poisson"}
    step = {"oneOf": [{"enum": ["disconnect", "reconnect"]}, *steps.values()]}
    group = _obj(
        {
            "name": TEXT,
            "weight": {"type": "number", "minimum": 0},
            "count": {"type": "integer", "minimum": 0},
            "namespace": NAMESPACE,
            "on_finish": {"enum": ["hold", "disconnect"]},
            "answer_acks": {
                "oneOf": [{"type": "boolean"}, _obj({"delay": DURATION}, ("delay",))]
            },
            "flow": _ref("steps"),
        },
        ("flow",),
    )
    phase = {
        "oneOf": [
            _obj({"pause": DURATION}, ("pause",)),
            _obj(
                {
                    "duration": DURATION,
                    "rate": {"type": "number", "minimum": 0},
                    "ramp_to": {"type": "number", "minimum": 0},
                },
                ("duration", "rate"),
            ),
            _obj(
                {"duration": DURATION, "users": {"type": "integer", "minimum": 1}},
                ("duration", "users"),
            ),
        ]
    }
    kinds = {str(k): {"type": "integer", "minimum": 0} for k in ViolationKind}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://wsbench.dev/schema/scenario.json",
        "title": "wsbench scenario",
        "description": "A wsbench load/delivery scenario (docs/scenarios.md).",
        "type": "object",
        "additionalProperties": False,
        "required": ["groups"],
        "properties": {
            "name": TEXT,
            "description": TEXT,
            "app": {
                "description": "an app file (docs/apps.md), relative to the scenario file: "
                "emits without expect derive theirs from it",
                "type": "string",
                "minLength": 1,
            },
            "target": {
                "description": "embedded (the reference server), a URL, a list of node URLs "
                "(clients spread over them), or {embedded: {nodes: N, kind: python|node|mixed}} (an "
                "embedded cluster)",
                "oneOf": [
                    {"const": "embedded"},
                    {"type": "string", "pattern": "^(https?|wss?)://"},
                    {"type": "array", "minItems": 1, "uniqueItems": True,
                     "items": {"type": "string", "pattern": "^(https?|wss?)://"}},
                    {"type": "object", "additionalProperties": False, "required": ["embedded"],
                     "properties": {"embedded": {
                         "type": "object", "additionalProperties": False, "required": ["nodes"],
                         "properties": {"nodes": {"type": "integer", "minimum": 1,
                                                  "maximum": 16},
                                        "kind": {"enum": ["python", "node", "mixed"],
                                                 "description": "python: reference servers; "
                                                 "node: Node twins (@socket.io/redis-adapter); "
                                                 "mixed: python, node, python..."}}}}},
                ]
            },
            "server": _obj(
                {
                    "ping_interval": DURATION,
                    "ping_timeout": DURATION,
                    "max_payload": {"type": "integer", "minimum": 1},
                    "jwt_secret": TEXT,
                    "recovery": {"type": "boolean"},
                    "app_heartbeat_interval": DURATION,
                    "max_rooms": {"type": "integer", "minimum": 1},
                    "faults": {
                        "type": "array",
                        "items": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
                    },
                }
            ),
            "transport": {"enum": [str(t) for t in Transport]},
            "parser": {"enum": list(PARSER_NAMES)},
            "path": TEXT,
            "clients": {"type": "integer", "minimum": 1},
            "arrival": _obj(
                {
                    "rate": {"type": "number", "exclusiveMinimum": 0},
                    "phases": {"type": "array", "items": phase},
                }
            ),
            "duration": DURATION,
            "seed": {"type": "integer"},
            "auth": _obj(
                {
                    "jwt": _obj(
                        {"secret": TEXT, "claims": {"type": "object"}, "expires_in": DURATION},
                        ("secret",),
                    ),
                    "static": {"type": "object"},
                }
            ),
            "defaults": _obj({"namespace": NAMESPACE, "within": DURATION, "ack_timeout": DURATION}),
            "groups": {"type": "array", "items": group, "minItems": 1},
            "thresholds": _obj(
                {
                    "delivery_ratio": {"type": "number", "minimum": 0, "maximum": 1},
                    "violations": {
                        "oneOf": [
                            {"type": "integer", "minimum": 0},
                            _obj({**kinds, "total": {"type": "integer", "minimum": 0}}),
                        ]
                    },
                    "latency": _obj(
                        {
                            m: limits
                            for m in (
                                "delivery",
                                "ack",
                                "connect",
                                "fanout_first",
                                "fanout_last",
                                "reconnect",
                            )
                        }
                    ),
                    "ack_timeouts": {"type": "integer", "minimum": 0},
                    "reconnect_time": limits,
                    "connect_errors": {"type": "integer", "minimum": 0},
                }
            ),
        },
        "$defs": {
            "steps": {"type": "array", "items": _ref("step"), "minItems": 1},
            "step": step,
            "payload": PAYLOAD,
            "binary": BINARY,
            "must_not": must_not,
        },
    }


def render() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
