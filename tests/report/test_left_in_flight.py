"""The oracle's ``left_in_flight`` (copies not owed: the recipient asked to leave the emit's
room after the emit was sent and never got it) reaches ``summary.json``'s delivery section,
the schema, the console summary and the HTML report, from the scenario runner and from the
Locust judge alike (h49). Before, the oracle counted it and every artifact dropped it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jsonschema
import pytest

from tests.report.conftest import build_summary
from wsbench.integrations.aggregate import Aggregate
from wsbench.integrations.judge import Judge
from wsbench.metrics import RunSummary
from wsbench.metrics.summary import schema
from wsbench.oracle import DeliveryOracle, Semantics, Stamp
from wsbench.report.console import render_summary
from wsbench.report.html import render_html
from wsbench.scenario.processes import delivery_section

MS = 1_000_000


def left_during(o: DeliveryOracle, leavers: int) -> None:
    """Client 0 sends a room message to 'r'; ``leavers`` members ask to leave after it and
    never get it (their node applied the leave first); client 1 gets its copy."""
    for c in range(2 + leavers):
        o.membership.connected(c, "/", f"sid{c}", 1 * MS)
        o.membership.joined(c, "/", "r", 2 * MS)
    stamp = Stamp.new("run", 0, 1, 10 * MS)
    o.expect_emit(stamp, 0, "/", Semantics.ROOM, rooms=("r",), at_ns=10 * MS,
                  deadline_ns=3010 * MS, event="message")  # fmt: skip
    for c in range(2, 2 + leavers):
        o.membership.leave_requested(c, "/", "r", 11 * MS)
        o.membership.left(c, "/", "r", 12 * MS)
    o.observe_delivery(stamp, 0, "/", 13 * MS, "message")
    o.observe_delivery(stamp, 1, "/", 13 * MS, "message")
    o.sweep()


def test_the_runners_summary_carries_left_in_flight(tmp_path: Path) -> None:
    o = DeliveryOracle()
    left_during(o, 3)
    verdict = o.verdict()
    assert verdict.ok and verdict.left_in_flight == 3 and verdict.to_dict()["left_in_flight"] == 3
    delivery = delivery_section(verdict)
    assert delivery.left_in_flight == 3
    base = build_summary()
    summary = dataclasses.replace(base, sections=dataclasses.replace(base.sections,
                                                                     delivery=delivery))
    data = summary.to_dict()
    assert data["sections"]["delivery"]["left_in_flight"] == 3
    jsonschema.validate(data, schema())
    loaded = RunSummary.load(summary.write(tmp_path / "summary.json"))
    assert loaded.sections.delivery is not None and loaded.sections.delivery.left_in_flight == 3
    # next to the other delivery counters, in the console and the HTML report
    text = render_summary(loaded)
    [row] = [line for line in text.splitlines() if "left in flight" in line]
    assert row.split()[-1] == "3", row
    assert text.index("lost while away") < text.index("left in flight")
    page = render_html(loaded)
    assert "left in flight" in page
    assert page.index("optional deliveries") < page.index("left in flight")


def test_the_schema_types_left_in_flight() -> None:
    data = build_summary().to_dict()
    data["sections"]["delivery"]["left_in_flight"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema())
    data["sections"]["delivery"]["left_in_flight"] = "2"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema())


def test_the_locust_summary_sums_left_in_flight_over_its_workers() -> None:
    aggregate = Aggregate()
    for run, leavers in (("a", 2), ("b", 5)):
        judge = Judge(run, lambda *a: None)
        judge.judged_events.add("message")
        for _ in range(2 + leavers):
            judge.new_client()
        left_during(judge.oracle, leavers)
        aggregate.add(judge.drain(5000 * MS))
    assert aggregate.view()["left_in_flight"] == 7
    assert aggregate.summary_sections()["delivery"]["left_in_flight"] == 7
