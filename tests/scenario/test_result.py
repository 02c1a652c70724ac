"""The runner maps the oracle's verdict into the summary's typed Delivery without losing a field."""

from __future__ import annotations

from wsbench.metrics.sections import Delivery, encode
from wsbench.oracle import DeliveryOracle, Semantics, Stamp
from wsbench.scenario.processes import delivery_section

MS = 1_000_000


def test_delivery_section_is_the_verdict_field_for_field() -> None:
    oracle = DeliveryOracle()
    for c in range(4):
        oracle.membership.connected(c, "/", f"sid{c}")
    oracle.membership.joined(1, "/", "r")
    for seq in range(3):  # to room r: client 1 gets seq 0 and 1, seq 2 goes missing; the ack times out
        stamp = Stamp.new("run", 0, seq, seq * MS)
        oracle.expect_emit(stamp, 0, "/", Semantics.ROOM, rooms=("r",), deadline_ns=50 * MS)
        if seq < 2:
            oracle.observe_delivery(stamp, 1, "/", seq * MS + 2 * MS, "message")
    oracle.expect_ack(("k", 1), 0, "/", 0, 10 * MS, "ack")
    oracle.sweep(None)
    verdict = oracle.verdict()
    section = delivery_section(verdict)
    assert isinstance(section, Delivery)
    encoded = encode(section)
    retries = encoded.pop("retries")  # from the run's metrics, with the oracle's retry copies
    assert encoded == verdict.to_dict()
    assert retries["retry_duplicates"] == verdict.retry_duplicates == 0
    assert section.violations.counts["missing"] == 1 and section.violations.counts["ack_timeout"] == 1
    assert section.violations.samples[0].kind == verdict.violations.samples[0].kind
    assert section.acks.expected == 1 and section.fanout[0].audience == verdict.fanout[0].label
