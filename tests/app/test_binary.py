"""Binary events in app files (issue 13 #2): ``binary:`` on an event, ``$bytes``, byte-for-byte
payload expectations in the engine, and the stamped blobs conform sends there."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from wsbench.app import Sock, View, load_app, loads_app, outcome, traits
from wsbench.app.paths import Context, compile_template
from wsbench.app.schema import schema_path
from wsbench.conformance.checks.app_traffic import (
    BLOB_LARGE,
    BLOB_LARGE_EVERY,
    BLOB_SMALL,
    blob,
    build_args,
    plan_args,
    text,
)
from wsbench.exceptions import ScenarioErrors

ROOT = Path(__file__).resolve().parents[2]
REF = load_app(ROOT / "scenarios/apps/reference.yaml")
VALIDATOR = jsonschema.Draft202012Validator(json.loads(schema_path().read_text()))

APP = """\
app: blobs
namespaces:
  /:
    events:
      upload:
        binary: ["$args[0].data", "$args[1]"]
        push:
          - {event: file, to: others, payload: {name: "$args[0].name", data: "$args[0].data"}}
          - {event: thumb, to: sender, payload: $bytes}
        ack: {args: ["$args[1]"]}
      echo:
        binary: "$args[0]"
        push: [{event: echo, to: sender, args: $args}]
"""


def test_binary_declaration_is_read_as_paths_and_validates_against_the_schema() -> None:
    app = loads_app(APP, "blobs.yaml")
    up = app.event("/", "upload")
    assert up is not None and [str(p) for p in up.binary] == ["$args[0].data", "$args[1]"]
    echo = app.event("/", "echo")
    assert echo is not None and [str(p) for p in echo.binary] == ["$args[0]"]
    assert {t.event: t.binary for t in traits(app)} == {"upload": True, "echo": True}
    VALIDATOR.validate(yaml.safe_load(APP))
    ref = REF.event("/", "broadcast room")
    assert ref is not None and [str(p) for p in ref.binary] == ["$args[0].data"]


@pytest.mark.parametrize(("decl", "message"), [
    ('"$sender.sid"', "binary names an argument ($args[0], $args[0].data), got $sender.sid"),
    ('"$args"', "binary names an argument"),
    ('"$args[0].room"', "$args[0].room is a push's room, a string: it cannot carry bytes"),
    ('"$args[0]"', "$args[0] carries bytes, but the event reads $args[0].room inside it"),
    ('["$args[0].data", "$args[0].data"]', "$args[0].data is listed twice"),
    ("[]", "binary: give the path of an argument that carries bytes"),
    ('"args[0]"', "a path starts with one of"),
])
def test_a_bad_binary_declaration_is_an_error_with_file_line_and_key_path(decl: str,
                                                                          message: str) -> None:
    text_ = (
        "app: x\nnamespaces:\n  /:\n    events:\n      send:\n"
        f"        binary: {decl}\n"
        "        push:\n"
        '          - {event: e, to: room, room: "$args[0].room", payload: "$args[0].data"}\n'
    )
    with pytest.raises(ScenarioErrors) as err:
        loads_app(text_, "bad.yaml")
    shown = str(err.value)
    assert "bad.yaml:6" in shown and "binary" in shown and message in shown, shown


def test_a_copy_of_the_senders_bytes_is_compared_byte_for_byte() -> None:
    data = bytes(range(256)) * 256  # 64 KiB, every byte value
    view = View([Sock("/", "A"), Sock("/", "B")])
    o = outcome(loads_app(APP), view, "/", "A", "upload", [{"name": "f", "data": data}, b"\x00"])
    file_push = next(p for p in o.pushes if p.event == "file")
    assert file_push.recipients == {"B"}
    assert file_push.mismatch([{"name": "f", "data": data}]) is None
    assert file_push.mismatch([{"name": "f", "data": bytearray(data)}]) is None
    flipped = data[:-1] + bytes([data[-1] ^ 1])
    why = file_push.mismatch([{"name": "f", "data": flipped}])
    assert why == ("[0].data: 65536 bytes, differing first at byte 65535 "
                   "(expected 0xff, got 0xfe)"), why
    assert "65536 bytes, got 65535" in str(file_push.mismatch([{"name": "f", "data": data[:-1]}]))
    # the same content as text is not the bytes; a reason never prints the blob
    why = file_push.mismatch([{"name": "f", "data": data.decode("latin-1")}])
    assert why is not None and why.startswith("[0].data: expected 65536 bytes, got '") and len(why) < 200
    # $bytes: any blob the server makes up, but a blob
    thumb = next(p for p in o.pushes if p.event == "thumb")
    assert thumb.mismatch([b"whatever"]) is None
    assert thumb.mismatch(["text"]) == "[0]: expected $bytes, got 'text'"
    assert o.ack is not None and o.ack.mismatch([b"\x00"]) is None
    assert o.ack.mismatch([b"\x01"]) is not None
    echo = outcome(loads_app(APP), view, "/", "A", "echo", [data])
    assert echo.pushes[0].mismatch([data]) is None
    assert "differing first at byte 0" in str(echo.pushes[0].mismatch([b"\x01" + data[1:]]))


def test_a_non_bytes_mismatch_reason_stays_short() -> None:
    e = compile_template({"data": "$args[0]"}).resolve(Context((b"x" * 70000,)))
    assert not isinstance(e, str)
    why = e.mismatch({"data": [b"y" * 70000]})
    assert why is not None and len(why) < 200, why


def test_conform_puts_a_stamped_blob_where_the_file_declares_bytes() -> None:
    spec = REF.event("/", "broadcast room")
    assert spec is not None
    plan = plan_args(spec)
    assert plan.binary and plan.roles["$args[0].data"] == "blob"
    small, large = blob("wsb~0123abcd~6", 6), blob("wsb~0123abcd~7", 7)
    assert (len(small), len(large)) == (BLOB_SMALL, BLOB_LARGE) and BLOB_LARGE_EVERY == 8
    assert large.startswith(b"wsb~0123abcd~7~") and b"~" not in large[15:]
    assert len(set(large[15:])) == 255  # the filler: every byte value but "~"
    assert blob("wsb~0123abcd~7", 7) == large  # seeded: the same send, the same bytes
    args = build_args(plan, {"room": "r1", "rooms": ["r1"], "sid": "s", "key": "k",
                             "stamp": "wsb~0123abcd~7", "blob": large})
    assert args == [{"room": "r1", "data": large}]
    # the stamp is found in a copy's text; the blob's filler never looks like a stamp
    assert text([{"data": large}]).count("wsb~0123abcd~7~") == 1
    o = outcome(REF, View([Sock("/", "A", frozenset({"r1"})), Sock("/", "B", frozenset({"r1"}))]),
                "/", "A", "broadcast room", args)
    assert o.pushes[0].recipients == {"A", "B"} and o.pushes[0].mismatch([large]) is None
    # a caller that sizes no blob (the refusal check) still gets bytes carrying its stamp
    assert build_args(plan, {"room": "r1", "rooms": [], "sid": "", "key": "",
                             "stamp": "wsb~x~1"}) == [{"room": "r1", "data": b"wsb~x~1~"}]
