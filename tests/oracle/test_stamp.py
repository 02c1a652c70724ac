from __future__ import annotations

import pytest

from wsbench.oracle.stamp import STAMP_KEY, Stamp, embed_stamp, find_stamp

S = Stamp.new("r1", 17, 42, 1_234_567_890_123)


def test_stamp_id_shape():
    assert S.id == "r1.17.42"
    assert S.to_json() == {"id": "r1.17.42", "s": 17, "q": 42, "t": 1_234_567_890_123}


def test_object_payload_gets_key_and_input_is_untouched():
    payload = {"text": "hi", "n": 1}
    out = embed_stamp(payload, S, key=None)
    assert out[STAMP_KEY] == S.to_json()
    assert STAMP_KEY not in payload
    assert find_stamp([out]) == S


@pytest.mark.parametrize("carrier", ["data", "message", "changes"])
def test_auto_stamps_the_carrier_the_server_echoes(carrier):
    payload = {"room": "r", carrier: {"x": 1}}
    out = embed_stamp(payload, S)
    assert STAMP_KEY in out[carrier]
    # the server re-emits only the carrier value (broadcast triggers) ...
    assert find_stamp([out[carrier]]) == S
    # ... or wraps it in its own object (room message -> message {room, from, message})
    assert find_stamp([{"room": "r", "from": "sid", carrier: out[carrier]}]) == S


def test_string_payload_survives_verbatim_echo_inside_text():
    out = embed_stamp("hello", S)
    assert out.startswith("hello ~wsb:")
    echoed = {"id": 1, "username": "bob", "text": out, "timestamp": "2024-01-01T00:00:00.000Z"}
    assert find_stamp([echoed]) == S
    assert find_stamp(out) == S


def test_string_carrier_and_none_and_list():
    assert find_stamp([embed_stamp({"data": "x"}, S)["data"]]) == S
    assert embed_stamp(None, S) == {STAMP_KEY: S.to_json()}
    assert find_stamp([embed_stamp([1, 2], S)]) == S


def test_numbers_cannot_carry_a_stamp():
    with pytest.raises(ValueError):
        embed_stamp(3, S)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["plain"],
        [{"a": 1}],
        [{STAMP_KEY: {"id": 1, "s": 1, "q": 1, "t": 1}}],  # id not a string
        [{STAMP_KEY: {"id": "x", "s": True, "q": 1, "t": 1}}],  # bool is not an int
        ["~wsb:x:1:2~"],  # too few fields
        ["~wsb:x:a:2:3~"],  # not numbers
        ["~wsb:x:1:2:3"],  # unterminated
    ],
)
def test_malformed_or_absent_stamps_are_none(args):
    assert find_stamp(args) is None


def test_find_does_not_walk_deep_payloads():
    deep = {"a": {"b": {"c": {STAMP_KEY: S.to_json()}}}}
    assert find_stamp([deep]) is None
    big = [{"data": list(range(100_000))}]
    assert find_stamp(big) is None


def test_only_the_first_arguments_are_scanned():
    args = ["a", "b", "c", "d", {STAMP_KEY: S.to_json()}]
    assert find_stamp(args) is None
    assert find_stamp(args[1:]) == S


def test_copies_of_one_emit_share_one_parsed_stamp():
    """Every copy of a broadcast carries equal stamp fields: the parse keeps the stamps it
    built last and hands the copies one immutable object (the Locust worker's per-copy
    cost, bench/README.md "Locust worker, wave 2e"); a fresh parse per copy fails this."""
    stamp = Stamp.new("rshare", 3, 7, 99)
    copies = [[embed_stamp({"data": {}}, stamp)["data"]] for _ in range(3)]  # decoded apart
    found = [find_stamp(c) for c in copies]
    assert found[0] == stamp and found[0] is found[1] is found[2]
    assert Stamp.from_json(stamp.to_json()) is found[0]


@pytest.mark.parametrize("field, value", [("t", 100), ("q", 8), ("s", 4)])
def test_a_kept_stamp_is_not_given_to_a_copy_with_other_fields(field, value):
    stamp = Stamp.new("rdiffer", 3, 7, 99)
    assert find_stamp([{STAMP_KEY: stamp.to_json()}]) == stamp
    other = {**stamp.to_json(), field: value}
    got = find_stamp([{STAMP_KEY: other}])
    assert got is not None and got != stamp and getattr(got, {"t": "sent_ns", "q": "seq",
                                                             "s": "sender"}[field]) == value


@pytest.mark.parametrize("field, value", [("t", 99.0), ("q", True), ("s", "3"), ("id", 5)])
def test_a_kept_stamp_does_not_make_a_malformed_copy_well_formed(field, value):
    stamp = Stamp.new("rmalformed", 1, 1, 99)
    assert find_stamp([{STAMP_KEY: stamp.to_json()}]) == stamp
    bad = {**stamp.to_json(), field: value}
    assert Stamp.from_json(bad) is None
    assert find_stamp([{STAMP_KEY: bad}]) is None


def test_a_malformed_stamp_in_the_first_argument_still_lets_a_carrier_name_the_emit():
    stamp = Stamp.new("rcarrier", 2, 5, 42)
    copy = [{STAMP_KEY: {"id": "x"}, "data": {STAMP_KEY: stamp.to_json()}}]
    assert find_stamp(copy) == stamp
