"""Payload checks of received copies (issue 11 #3): an emit registered with the app engine's
payload expectation judges every copy it accepts against it (``payload_mismatch`` with the
path, what was expected and what came), in one oracle and through the --processes journal
(the expectation travels with the EMIT record, the copy's args with the DELIVERY record)."""

from __future__ import annotations

from wsbench.app.paths import Context, compile_template
from wsbench.metrics import now_ns
from wsbench.oracle import DeliveryOracle, Semantics, Stamp
from wsbench.scenario.journal import (
    JournalWriter,
    RecordingOracle,
    expect_data,
    expect_of,
)
from wsbench.scenario.judge import Judge

S = 1_000_000_000


def _expect():
    """seed.yaml's room message push: {room, from: $sender.sid, message} (a resolved Expect)."""
    t = compile_template(
        [{"room": "$args[0].room", "from": "$sender.sid", "message": "$args[0].message",
          "at": "$integer"}])
    ctx = Context(({"room": "r1", "message": "hi"},), "sid-1", "/", None, None, "room message")
    return t.resolve(ctx)


def _connect(o, clients) -> None:  # noqa: ANN001
    t = now_ns()
    for c in clients:
        o.membership.connect_requested(c, "/", t)
        o.membership.connected(c, "/", f"s{c}", t)
        o.membership.joined(c, "/", "r1", t)


RIGHT = [{"room": "r1", "from": "sid-1", "message": "hi", "at": 3}]
RENAMED = [{"room": "r1", "from": "sid-1", "msg": "hi", "at": 3}]


def test_a_copy_that_differs_from_the_expectation_is_a_payload_mismatch() -> None:
    o = DeliveryOracle()
    _connect(o, (1, 2, 3))
    t = now_ns()
    stamp = Stamp.new("run", 1, 1, t)
    o.expect_emit(stamp, 1, "/", Semantics.ROOM, rooms=("r1",), deadline_ns=t + S,
                  event="message", payload=_expect())
    o.observe_delivery(stamp, 1, "/", now_ns(), "message", RIGHT)
    o.observe_delivery(stamp, 2, "/", now_ns(), "message", RENAMED)
    o.observe_delivery(stamp, 3, "/", now_ns(), "message")  # no args given: not checked
    o.sweep(None)
    v = o.verdict()
    assert v.violations.counts == {"payload_mismatch": 1}
    assert v.delivered == 3 and v.missing == 0  # delivered, but not what the file says
    sample = v.violations.samples[0]
    assert sample.receiver == (2, "/") and sample.event == "message"
    assert ".message: missing" in sample.detail and "'msg': 'hi'" in sample.detail


def test_an_emit_without_expectation_checks_nothing() -> None:
    o = DeliveryOracle()
    _connect(o, (1, 2))
    t = now_ns()
    stamp = Stamp.new("run", 1, 1, t)
    o.expect_emit(stamp, 1, "/", Semantics.ROOM, rooms=("r1",), deadline_ns=t + S)
    o.observe_delivery(stamp, 1, "/", now_ns(), "message", RENAMED)
    o.observe_delivery(stamp, 2, "/", now_ns(), "message", RENAMED)
    o.sweep(None)
    assert o.verdict().violations.counts == {}


def test_expectations_round_trip_as_builtin_data() -> None:
    e = _expect()
    assert expect_of(expect_data(e)) == e
    assert expect_of(expect_data(e)).mismatch(RENAMED) == e.mismatch(RENAMED) is not None


def test_the_judge_checks_payloads_whichever_process_received_the_copy(tmp_path) -> None:
    """The sender's process journals the expectation with the EMIT; another process the copy
    it received: the judge reports the renamed copy as one process would."""
    wa, wb = JournalWriter(tmp_path / "a.bin"), JournalWriter(tmp_path / "b.bin")
    a, b = RecordingOracle(wa), RecordingOracle(wb)
    _connect(a, (1,))
    _connect(b, (2, 3))
    t = now_ns()
    stamp = Stamp.new("run", 1, 1, t)
    a.expect_emit(stamp, 1, "/", Semantics.ROOM, rooms=("r1",), deadline_ns=t + 10 * S,
                  event="message", payload=_expect())
    a.observe_delivery(stamp, 1, "/", now_ns(), "message", RIGHT)
    b.observe_delivery(stamp, 2, "/", now_ns(), "message", RENAMED)
    b.observe_delivery(stamp, 3, "/", now_ns(), "message", RIGHT)
    wa.close()
    wb.close()
    judge = Judge([wa.path, wb.path], origin_ns=t, origin_wall=0.0)
    judge.finish(aborted=False)
    v = judge.oracle.verdict()
    assert v.violations.counts == {"payload_mismatch": 1}
    assert v.delivered == 3
    assert v.violations.samples[0].receiver == (2, "/")
