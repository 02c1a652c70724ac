"""RetryQueue: socket.io-client's retries/ackTimeout queue (lib/socket.ts _addToQueue,
_drainQueue), step by step."""

from __future__ import annotations

import pytest

from wsbench.protocol.retry import RetryQueue, SendTry, Settled


def sends(actions):
    return [(a.entry.event, a.attempt) for a in actions if isinstance(a, SendTry)]


def settled(actions):
    return [(a.token, a.args, a.attempts, a.error) for a in actions if isinstance(a, Settled)]


def test_one_at_a_time_in_order():
    q = RetryQueue(connected=True)
    assert sends(q.push("a", [1], 2, 1.0, "A")) == [("a", 1)]
    assert q.push("b", [2], 2, 1.0, "B") == []  # waits behind the head
    out = q.answered(1, 1, ["ok-a"])
    assert settled(out) == [("A", ["ok-a"], 1, "")] and sends(out) == [("b", 1)]
    assert settled(q.answered(2, 1, ["ok-b"])) == [("B", ["ok-b"], 1, "")]
    assert len(q) == 0


def test_a_timeout_resends_then_discards_after_retries_plus_one_tries():
    q = RetryQueue(connected=True)
    q.push("a", [1], 2, 1.0, "A")
    q.push("b", [2], 0, 1.0, "B")
    assert sends(q.failed(1, 1, "timeout")) == [("a", 2)]
    assert sends(q.failed(1, 2, "timeout")) == [("a", 3)]
    out = q.failed(1, 3, "timeout")
    assert settled(out) == [("A", None, 3, "timeout")] and sends(out) == [("b", 1)]
    # retries 0: one try only
    assert settled(q.failed(2, 1, "timeout")) == [("B", None, 1, "timeout")]


def test_a_retry_answered_settles_with_its_tries():
    q = RetryQueue(connected=True)
    q.push("a", [1], 3, 1.0, "A")
    q.failed(1, 1, "timeout")
    assert settled(q.answered(1, 2, ["late-but-ok"])) == [("A", ["late-but-ok"], 2, "")]


def test_stale_outcomes_are_ignored():
    q = RetryQueue(connected=True)
    q.push("a", [1], 3, 1.0, "A")
    q.failed(1, 1, "timeout")  # try 2 is out
    assert q.answered(1, 1, ["old"]) == []  # the ACK of try 1: not the current try
    assert q.failed(7, 1, "timeout") == []
    assert q.head is not None and q.head.tries == 2


def test_disconnect_holds_the_queue_and_reconnect_resends_the_head():
    q = RetryQueue(connected=True)
    q.push("a", [1], 5, 1.0, "A")
    q.disconnected()
    assert q.failed(1, 1, "socket has been disconnected") == []  # nothing sent while down
    assert q.push("b", [2], 5, 1.0, "B") == []
    assert sends(q.connected()) == [("a", 2)]
    # a reconnect while the head is pending sends it again (socket.io-client: _drainQueue(true))
    assert sends(q.connected()) == [("a", 3)]


def test_not_connected_at_first_sends_on_connect():
    q = RetryQueue()
    assert q.push("a", [1], 1, 1.0, "A") == []
    assert sends(q.connected()) == [("a", 1)]


def test_clear_settles_everything_and_bad_arguments_are_refused():
    q = RetryQueue(connected=True)
    q.push("a", [1], 1, 1.0, "A")
    q.push("b", [1], 1, 1.0, "B")
    assert [s[0] for s in settled(q.clear("closed"))] == ["A", "B"]
    with pytest.raises(ValueError, match="retries"):
        q.push("a", [], -1, 1.0)
    with pytest.raises(ValueError, match="timeout"):
        q.push("a", [], 1, 0)
