"""The per-copy payload check and the per-emit path walk (issue 14, h48): a matching copy is
judged without building place names or key sets, with the same verdicts as the full walk."""

from __future__ import annotations

import itertools

import pytest

from wsbench.app.paths import Context, Expect, Missing, compile_template, parse_path

EXPECTS = [
    compile_template([{"room": "r1", "from": "sid", "message": {"text": "hi"}}]).resolve(Context()),
    compile_template([{"id": "$integer", "n": "$number", "u": "$any", "t": "$string",
                       "b": "$boolean", "blob": "$bytes"}]).resolve(Context()),
    Expect("value", 1), Expect("value", 1.0), Expect("value", True), Expect("value", None),
    Expect("value", b"\x00\x01"), Expect("value", {"k": [1, 2]}), Expect("value", "s"),
    Expect("array", None, ()), Expect("object", None, ()),
]
VALUES = [
    [{"room": "r1", "from": "sid", "message": {"text": "hi"}}],
    [{"room": "r1", "from": "sid", "message": {"text": "ho"}}],
    [{"room": "r1", "from": "sid"}],
    [{"room": "r1", "from": "sid", "message": {"text": "hi"}, "extra": 1}],
    [{"room": "r1", "from": "sid", "message": {"text": "hi"}}, 2],
    [{"id": 3, "n": 2.5, "u": None, "t": "x", "b": False, "blob": bytearray(b"z")}],
    [{"id": True, "n": 2.5, "u": None, "t": "x", "b": False, "blob": b"z"}],
    [{"id": 3, "n": False, "u": None, "t": "x", "b": False, "blob": b"z"}],
    [{"id": 3.0, "n": 1, "u": [], "t": "x", "b": True, "blob": b""}],
    1, 1.0, True, 0, None, b"\x00\x01", bytearray(b"\x00\x01"), b"\x00\x02", "s", "t",
    {"k": [1, 2]}, {"k": [1, 3]}, [], {}, [1], {"a": 1}, (1,),
]


@pytest.mark.parametrize("e,got", list(itertools.product(EXPECTS, VALUES)))
def test_the_fast_check_agrees_with_the_full_walk(e, got):
    full = e._explain(got)
    assert e._ok(got) is (full is None)
    assert e.mismatch(got) == full


def test_a_matching_copy_never_takes_the_full_walk(monkeypatch):
    e = EXPECTS[0]
    monkeypatch.setattr(Expect, "_explain", lambda *a: pytest.fail("walked a matching copy"))
    assert e.mismatch([{"room": "r1", "from": "sid", "message": {"text": "hi"}}]) is None


CTX = Context(({"a": {"b c": [5, 6]}}, "two"), "sid1", "/chat", "ann", {"token": "t"}, "ev")


@pytest.mark.parametrize("path,want", [
    ("$args", [{"a": {"b c": [5, 6]}}, "two"]),
    ('$args[0].a["b c"][1]', 6),
    ("$args[1]", "two"),
    ("$sender.sid", "sid1"), ("$sender.namespace", "/chat"), ("$sender.user", "ann"),
    ("$connect.token", "t"), ("$connect", {"token": "t"}), ("$event", "ev"),
    ("$args[2]", Missing("$args[2]")),
    ("$args[0].a.x", Missing("$args[0].a.x")),
    ('$args[0].a["b c"][2]', Missing('$args[0].a["b c"][2]')),
    ("$args[1].x", Missing("$args[1].x")),
    ("$args[0][0]", Missing("$args[0][0]")),
    ("$connect.nope", Missing("$connect.nope")),
])
def test_paths_resolve_and_name_the_first_missing_step(path, want):
    got = parse_path(path).resolve(CTX)
    assert got == want and type(got) is type(want)


def test_args_resolve_to_a_fresh_list_and_tuples_inside_values_are_not_lists():
    p = parse_path("$args")
    assert p.resolve(CTX) is not p.resolve(CTX)  # the caller may not change the context
    inner = Context(((1, 2),))
    assert parse_path("$args[0][1]").resolve(inner) == Missing("$args[0][1]")
