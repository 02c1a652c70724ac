"""The JSON Schema of app files, for editors; generates ``schema.json``.

The loader (:mod:`wsbench.app.loader`) is the authority: it gives FILE:LINE errors and
checks what a schema cannot (paths parse, a push's namespace is declared, confirmed_by
names a push that reaches the sender). This schema mirrors its keys and types. A test
checks that ``schema.json`` equals :func:`build_schema` and that every bundled app file
and the example of docs/apps.md pass both.

Regenerate with ``python -m wsbench.app.schema > wsbench/app/schema.json``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from wsbench.app.model import ConditionKind, Semantics, Who
from wsbench.protocol.parser import PARSER_NAMES

__all__ = ["build_schema", "schema_path"]

NAMESPACE = {"type": "string", "pattern": "^/"}
TEXT = {"type": "string", "minLength": 1}
PATH = {
    "description": "a path: $args[0].room, $sender.sid, $connect.token, $event",
    "type": "string",
    "pattern": r"^\$(args|sender|connect|event)",
}
TEMPLATE = {"description": "a JSON value; strings may be paths, $any/$string/$bytes/..., or {$path} splices"}
ARGS = {
    "description": "the pushed/acked arguments: a list of templates, or $args (the event's own)",
    "oneOf": [{"type": "array", "items": TEMPLATE}, {"const": "$args"}],
}


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def build_schema() -> dict[str, Any]:
    push = _obj(
        {
            "event": TEXT,
            "to": {"enum": [str(s) for s in Semantics]},
            "namespace": NAMESPACE,
            "room": TEMPLATE,
            "rooms": TEMPLATE,
            "socket": TEMPLATE,
            "payload": TEMPLATE,
            "args": ARGS,
            "volatile": {"type": "boolean"},
            "repeat": {
                "oneOf": [
                    {"type": "integer", "minimum": 0},
                    PATH,
                    _obj({"from": PATH, "default": {"type": "integer", "minimum": 0}}, ("from",)),
                ]
            },
            "present": PATH,
            "absent": PATH,
            "if_sent": TEXT,
            "wants_ack": {"type": "boolean"},
        },
        ("event", "to"),
    )
    body = {
        "oneOf": [
            PATH,
            _obj(
                {
                    "path": PATH,
                    "max": {"type": "integer", "minimum": 1},
                    "keys": {"type": "array", "items": TEXT},
                    "prefixes": {"type": "array", "items": TEXT},
                },
                ("path",),
            ),
        ]
    }
    condition = {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": False,
        "properties": {str(k): body for k in ConditionKind},
    }
    ack = {
        "oneOf": [
            {"const": "none"},
            {"type": "null"},
            _obj({"payload": TEMPLATE, "args": ARGS, "after_pushes": {"type": "boolean"}}),
        ]
    }
    event = {
        "oneOf": [
            {"type": "null"},
            _obj(
                {
                    "description": TEXT,
                    "join": TEMPLATE,
                    "leave": TEMPLATE,
                    "confirmed_by": TEXT,
                    "refuse": {"type": "array", "items": _ref("condition")},
                    "push": {"type": "array", "items": _ref("push")},
                    "ack": ack,
                    "binary": {
                        "description": "the argument paths that carry bytes ($args[0].data)",
                        "oneOf": [PATH, {"type": "array", "items": PATH, "minItems": 1}],
                    },
                    "never": {
                        "type": "array",
                        "items": _obj(
                            {"event": TEXT, "who": {"enum": [str(w) for w in Who]}},
                            ("event", "who"),
                        ),
                    },
                }
            ),
        ]
    }
    namespace = {
        "oneOf": [
            {"type": "null"},
            _obj(
                {
                    "auth": {"type": "boolean"},
                    "require_claims": {"type": "object"},
                    "unauthorized": TEXT,
                    "connect": {"type": "array", "items": _ref("push")},
                    "disconnect": {"type": "array", "items": _ref("push")},
                    "unsolicited": {"type": "array", "items": TEXT},
                    "events": {"type": "object", "additionalProperties": _ref("event")},
                }
            ),
        ]
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://wsbench.dev/schema/app.json",
        "title": "wsbench app file",
        "description": "A Socket.IO server's events and their semantics (docs/apps.md).",
        **_obj(
            {
                "app": TEXT,
                "description": TEXT,
                "parser": {"enum": list(PARSER_NAMES)},
                "room_max": {"type": "integer", "minimum": 1},
                "auth": _obj(
                    {
                        "token": PATH,
                        "algorithms": {"type": "array", "items": TEXT},
                        "user_claim": TEXT,
                        "missing": TEXT,
                        "invalid": TEXT,
                        "expiry": {"type": "boolean"},
                    },
                    ("token",),
                ),
                "unknown_namespace": TEXT,
                "refusal": _obj({"ack": TEMPLATE, "push": _ref("push")}),
                "namespaces": {
                    "type": "object",
                    "propertyNames": NAMESPACE,
                    "additionalProperties": _ref("namespace"),
                },
            },
            ("app", "namespaces"),
        ),
        "$defs": {"push": push, "condition": condition, "event": event, "namespace": namespace},
    }


def schema_path() -> Path:
    """Where the published schema lives (package data)."""
    return Path(str(resources.files("wsbench.app") / "schema.json"))


def render() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
