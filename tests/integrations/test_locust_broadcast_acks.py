"""``wsbench locust`` runs groups' ``answer_acks`` on the gevent shell (issue 13 #3): room
members answer the server's ``broadcast with ack`` requests after ``answer_acks.delay`` and the
sender's ``expect_ack: {answers: all}`` passes; with ``answer_acks: false`` on one member the
aggregated ack misses its answer and the run reports ``ack_mismatch``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integrations.support import read_csv, wait, wsbench_locust

SCENARIO = """
name: locust-broadcast-acks
target: embedded
server:
  app_heartbeat_interval: 0s
clients: 4
duration: 6s
groups:
  - name: members
    count: 2
    answer_acks: {delay: 50ms}
    flow:
      - connect: /
      - join: {room: lobby}
  - name: third
    count: 1
    answer_acks: THIRD
    flow:
      - connect: /
      - join: {room: lobby}
  - name: sender
    count: 1
    flow:
      - connect: /
      - think: 2s
      - emit: {event: broadcast with ack, data: {room: lobby, data: hi, timeout: 800},
               expect_ack: {answers: all}, ack_timeout: 3s, stamp: false}
"""


def _run(tmp_path: Path, third: str) -> tuple[int, dict]:
    (tmp_path / "s.yaml").write_text(SCENARIO.replace("THIRD", third))
    proc = wsbench_locust(["s.yaml", "--headless", "-t", "5s", "-u", "4", "-r", "20",
                           "--only-summary", "--csv", "out", "--wsbench-report-dir", "rep"],
                          tmp_path)
    code = wait(proc, 60, tmp_path)
    log = (tmp_path / "locust-0.log").read_text()[-3000:]
    assert (tmp_path / "rep" / "summary.json").exists(), log
    stats = {(r["Type"], r["Name"]): r for r in read_csv(tmp_path / "out_stats.csv")}
    # all three members had joined before the sender's emit (its flow thinks 2 s first)
    assert int(stats[("sio-recv", "ack request")]["Request Count"]) == 3, log
    return code, json.loads((tmp_path / "rep" / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_delayed_answers_from_every_recipient_pass_under_locust(tmp_path: Path) -> None:
    code, summary = _run(tmp_path, "{delay: 50ms}")
    delivery = summary["sections"]["delivery"]
    assert code == 0, delivery["violations"]
    assert delivery["violations"]["total"] == 0, delivery["violations"]
    metrics = summary["metrics"]
    assert metrics["counters"]["acks"] == metrics["counters"]["emits"] == 1, metrics["counters"]
    ack = metrics["histograms"]["ack"]
    assert ack["count"] == 1 and ack["min_ms"] >= 50, ack  # the members answered after the delay
    assert read_csv(tmp_path / "out_failures.csv") == []


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_silent_recipient_is_an_ack_mismatch_under_locust(tmp_path: Path) -> None:
    code, summary = _run(tmp_path, "false")
    violations = summary["sections"]["delivery"]["violations"]
    assert code == 1, violations
    assert violations["counts"] == {"ack_mismatch": 1}, violations  # the sender emits once
    assert "2 of 3 recipients answered" in violations["samples"][0]["detail"], violations
    failures = read_csv(tmp_path / "out_failures.csv")
    assert failures and all("ack_mismatch" in f["Error"] for f in failures), failures
