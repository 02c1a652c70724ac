"""The client's ACK fast path (``receive_ack``) answers exactly as the strict path would.

Issue 14 (acked emits) inlined its depth and ack-id checks; these cases pin what it takes
and what it leaves to the strict path ("not that": ``None``, nothing consumed), which then
accepts the ACK or records the violation, on the root namespace and on ``/chat``.
"""

from __future__ import annotations

import pytest

from tests.protocol.test_bounds import DEEP, HUGE, connected
from wsbench.protocol.events import ProtocolViolation
from wsbench.protocol.socketio import MAX_ACK_ID, MAX_JSON_DEPTH


def _pending(s, namespace: str, ack_id: int) -> None:
    s._namespaces[namespace].pending[ack_id] = None


@pytest.mark.parametrize("prefix", ["", "/chat,"])
def test_it_takes_a_plain_ack_and_forgets_its_id(prefix: str) -> None:
    s = connected("websocket")
    ns = "/chat" if prefix else "/"
    ids = [s.emit(ns, "echo", {"k": 1}, ack=True) for _ in range(3)]
    s.messages_to_send()
    assert s.receive_ack(f'43{prefix}{ids[1]}[{{"k":1}}]') == (ns, ids[1], [{"k": 1}])
    assert s.receive_ack(f"43{prefix}{ids[1]}[]") is None  # answered: the strict path counts it
    assert s.receive_ack(f"43{prefix}{ids[0]}[]") == (ns, ids[0], [])
    assert s.receive_ack(f'43{prefix}{ids[2]}[1,[2,{{"a":null}}]]') == (
        ns,
        ids[2],
        [1, [2, {"a": None}]],
    )


def test_the_largest_id_is_taken_one_above_is_left_to_the_strict_path() -> None:
    s = connected("websocket")
    _pending(s, "/", MAX_ACK_ID)
    assert s.receive_ack(f"43{MAX_ACK_ID}[]") == ("/", MAX_ACK_ID, [])
    assert s.receive_ack(f"43{MAX_ACK_ID + 1}[]") is None
    assert s.receive_ack(f"43{HUGE}[]") is None
    assert s.receive_ack(f"430{MAX_ACK_ID}[]") is None  # 17 digits, even if the value fits


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
        " []",
        "[] ",
        "[1,",
        '{"a":1}',
        "",
    ],
)
def test_what_it_does_not_read_exactly_goes_to_the_strict_path(body: str) -> None:
    s = connected("websocket")
    _pending(s, "/", 7)
    assert s.receive_ack(f"437{body}") is None
    assert 7 in s._namespaces["/"].pending  # nothing consumed


def test_an_ack_nested_to_the_limit_is_taken() -> None:
    s = connected("websocket")
    _pending(s, "/", 7)
    depth = MAX_JSON_DEPTH // 2
    body = "[" + "[" * (depth - 1) + "]" * (depth - 1) + "]"
    got = s.receive_ack(f"437{body}")
    assert got is not None and got[1] == 7


def test_the_strict_path_then_judges_what_the_fast_path_left() -> None:
    s = connected("websocket")
    _pending(s, "/", 7)
    s.cancel_ack("/", 7)  # timed out: a late ACK is counted, not a violation
    assert s.receive_ack("437[1]") is None
    s.receive_message("437[1]", 0.0)
    assert s.events_received() == [] and s.late_acks == 1
    for bad in ("437 [1]", f"43{MAX_ACK_ID + 1}[]"):
        s = connected("websocket")
        _pending(s, "/", 7)
        s.receive_message(bad, 0.0)
        events = s.events_received()
        assert events and isinstance(events[0], ProtocolViolation), (bad, events)


@pytest.mark.parametrize("prefix", ["", "/chat,"])
@pytest.mark.parametrize(
    "head",
    ["43", "43٣", "437٣", "43²", "43 7", "437 ", "437a", "43a7", "43+7", "43-7", "437]"],
)
def test_only_ascii_digits_before_the_first_bracket_are_an_id(prefix: str, head: str) -> None:
    # wave 2e reads the id with find("[") and isascii/isdigit instead of a loop per digit:
    # Unicode digits (str.isdigit accepts them), signs, spaces and a missing id stay "not that"
    s = connected("websocket")
    ns = "/chat" if prefix else "/"
    _pending(s, ns, 7)
    message = head[:2] + prefix + head[2:] + "[1]"
    assert s.receive_ack(message) is None, message
    assert 7 in s._namespaces[ns].pending  # nothing consumed


def test_brackets_are_counted_only_in_a_message_longer_than_the_depth_limit() -> None:
    s = connected("websocket")
    _pending(s, "/", 7)
    short = '437["' + "[" * (MAX_JSON_DEPTH - 8) + '"]'  # <= the limit in all: cannot be deep
    assert len(short) <= MAX_JSON_DEPTH
    assert s.receive_ack(short) == ("/", 7, ["[" * (MAX_JSON_DEPTH - 8)])
    _pending(s, "/", 8)
    many = '438["' + "[" * (MAX_JSON_DEPTH + 1) + '"]'  # shallow, but the count must judge it
    assert s.receive_ack(many) is None  # left to the strict path, as before
    s.receive_message(many, 0.0)
    assert [type(e).__name__ for e in s.events_received()] == ["AckReceived"]


@pytest.mark.parametrize("prefix", ["", "/chat,"])
def test_the_strict_entry_takes_a_waited_ack_and_leaves_every_other_to_the_decoder(
    prefix: str,
) -> None:
    # wave 2e: _fast_ack goes through receive_ack (its decode no longer has a function of
    # its own); ids it does not wait for reach the strict decoder, which judges them as before
    ns = "/chat" if prefix else "/"
    s = connected("websocket")
    ack_id = s.emit(ns, "echo", 1, ack=True)
    late = s.emit(ns, "echo", 2, ack=True)
    s.messages_to_send()
    s.cancel_ack(ns, late)
    s.receive_message(f"43{prefix}{ack_id}[1]", 0.0)
    s.receive_message(f"43{prefix}{late}[2]", 0.0)  # timed out: counted, not a violation
    s.receive_message(f"43{prefix}{ack_id}[1]", 0.0)  # answered twice: unknown now
    s.receive_message("43/nope,5[]", 0.0)  # a namespace never joined
    events = s.events_received()
    assert [type(e).__name__ for e in events] == [
        "AckReceived",
        "ProtocolViolation",
        "ProtocolViolation",
    ]
    assert (events[0].namespace, events[0].id, events[0].args) == (ns, ack_id, [1])
    assert s.late_acks == 1
    assert "unknown id" in events[1].detail
