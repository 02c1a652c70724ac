"""At-least-once emits in scenarios (issue 13 #4): ``retries`` + ``ack_timeout`` per emit.

Against the reference server with ``--fault drop-some-acks`` (every 10th ACK is not sent)
the lost ACKs' emits are re-sent with the same stamped payload: the recipients get a second
copy, which the oracle accepts as a retry duplicate (0 violations), and the summary reports
the retry rate and the latency of first-try vs retried emits. With ``multi-room-duplicate``
and no lost ACK nothing is retried, so the server's extra copies stay ``duplicate``.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import run_text, violations

RETRYING = """
name: retries
clients: 6
duration: 4s
server: {faults: [FAULT]}
groups:
  - name: chat
    flow:
      - connect: /
      - join: {room: "r"}
      - join: {room: "s"}
      - every:
          interval: 100ms
          count: 20
          steps:
            - emit:
                event: broadcast rooms
                data: {rooms: ["r", "s"], data: "m{seq}"}
                retries: 3
                ack_timeout: 300ms
                expect:
                  - {event: event, to: rooms, rooms: ["r", "s"], within: 2s}
"""


def _run(fault: str, tmp_path, **kw):  # noqa: ANN001, ANN202
    return run_text(RETRYING.replace("FAULT", fault), tmp_path, **kw)


@pytest.mark.timeout(90)
def test_retries_recover_lost_acks_and_duplicates_are_accepted(tmp_path) -> None:  # noqa: ANN001
    outcome = _run("drop-some-acks", tmp_path)
    s = outcome.summary
    assert not s.partial, s.partial_reason
    assert violations(s) == {}, s.sections.delivery.violations.samples[:3]
    counters = s.metrics["counters"]
    d = s.sections.delivery
    emits = d.emits  # a client whose join ACK was the lost one joins late and sends fewer
    assert emits >= 60 and counters["emits_at_least_once"] == emits
    # every 10th ACK of the server is lost (joins included): about a tenth of the emits retried
    assert 3 <= counters["emits_retried"] <= emits // 4, counters
    assert counters.get("emits_retries_exhausted", 0) == 0
    assert d.acks.ok == d.acks.expected == emits and d.acks.timeouts == 0
    assert d.delivery_ratio == 1.0
    r = d.retries
    assert r.emits_retried == counters["emits_retried"] and r.retries >= r.emits_retried
    assert r.retry_duplicates > 0  # the recipients got the re-sent copy, accepted
    assert 0 < r.retry_rate < 0.25
    assert r.first_try.count + r.retried.count == emits
    # a retried emit waited out at least one ack timeout
    assert r.retried.min_ms >= 300 > r.first_try.p50_ms
    assert outcome.exit_status == 0
    _reported(s, tmp_path)


def _reported(s, out) -> None:  # noqa: ANN001
    """The console summary and the HTML report show the retry rate; the summary is valid."""
    import json

    import jsonschema

    from wsbench.metrics import schema
    from wsbench.report.console import render_summary
    from wsbench.report.html import render_html

    rate = f"{s.sections.delivery.retries.retry_rate * 100:.2f}%"
    assert "retry rate" in render_summary(s) and rate in render_summary(s)
    page = render_html(s, {})
    assert "retry rate" in page and rate in page and "settled after a re-send" in page
    jsonschema.validate(json.loads((out / "summary.json").read_text()), schema(),
                        cls=jsonschema.Draft202012Validator)


@pytest.mark.timeout(90)
def test_without_lost_acks_server_duplicates_stay_violations(tmp_path) -> None:  # noqa: ANN001
    outcome = _run("multi-room-duplicate", tmp_path, duration="3s")
    s = outcome.summary
    assert s.metrics["counters"].get("emits_retried", 0) == 0
    assert violations(s).get("duplicate", 0) > 0
    assert s.sections.delivery.retries.retry_duplicates == 0
    assert outcome.exit_status != 0
