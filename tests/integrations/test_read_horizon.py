"""The Locust judge closes deadlines only up to when the process has read its sockets.

A process that did not run for a while (a loaded machine) wakes with copies in its sockets'
buffers; gevent's hub may then run the judge's timer before the shared poller, and a sweep
to *now* judged those copies missing though they arrived in time. The poller says how far
it has read (:meth:`Poller.read_horizon`), and :meth:`Judge.tick` sweeps only that far.
Real sockets and a real epoll; the poller's passes are run one at a time."""

from __future__ import annotations

import select
import socket

import pytest

from tests.integrations.test_locust_units import MS, _emit, _judge_with_room
from wsbench.integrations.frames import Poller


class _OnePass(Exception):
    """Ends the poller's loop after one pass (the test decides when the poller runs)."""


def _poller(clock: list[int]) -> tuple[Poller, list]:
    spawned: list = []
    calls = [0]

    def wait_read(fd: int) -> None:
        calls[0] += 1
        if calls[0] % 2 == 0:
            raise _OnePass

    poller = Poller(wait_read, select.epoll, spawned.append, lambda: clock[0])
    return poller, spawned


def _one_pass(spawned: list) -> None:
    with pytest.raises(_OnePass):
        spawned[0]()


def test_the_horizon_is_now_unless_a_socket_holds_unread_data() -> None:
    clock = [50]
    poller, spawned = _poller(clock)
    mine, theirs = socket.socketpair()
    got: list[bytes] = []
    try:
        mine.setblocking(False)
        poller.add(mine.fileno(), lambda data: got.append(data) or True)
        assert poller.read_horizon(200) == 200  # nothing unread
        theirs.send(b"copy")
        assert poller.read_horizon(300) == 50  # unread since before the last pass
        clock[0] = 400
        _one_pass(spawned)
        assert got == [b"copy"]
        assert poller.read_horizon(500) == 500
        theirs.send(b"next")
        assert poller.read_horizon(700) == 400  # the pass that started at 400 read all before it
    finally:
        poller.remove(mine.fileno())
        mine.close()
        theirs.close()


def test_a_copy_left_unread_by_a_stall_is_judged_not_missing() -> None:
    judge = _judge_with_room("a", [])
    read_to = [0]
    judge.read_horizon = lambda now: min(now, read_to[0])
    args = _emit(judge, 1, 10 * MS)  # deadline 1,010 ms; both room members owe it
    judge.delivery(0, "/", "message", args, 12 * MS, 10)
    read_to[0] = 900 * MS  # the process stalled from 900 ms on; client 1's copy is unread
    judge.tick(5000 * MS)
    assert judge.oracle.open_emits == 1  # not closed on the copy still in the buffer
    judge.delivery(1, "/", "message", args, 5001 * MS, 10)  # read when the poller ran
    read_to[0] = 5002 * MS
    judge.tick(5002 * MS)
    assert judge.oracle.open_emits == 0
    verdict = judge.oracle.verdict()
    assert (verdict.expected, verdict.delivered) == (2, 2)
    assert judge.oracle.violations.summary().to_dict()["counts"] == {}


def test_without_a_horizon_the_sweep_is_to_now() -> None:
    judge = _judge_with_room("a", [])
    _emit(judge, 1, 10 * MS)
    judge.tick(5000 * MS)
    assert judge.oracle.open_emits == 0
    assert judge.oracle.violations.summary().to_dict()["counts"] == {"missing": 2}
