"""Real Locust runs of a shortened scenario against the reference server, on loopback.

Each test starts ``wsbench locust`` as a subprocess (headless, ``--csv``) and reads what
Locust and wsbench wrote: the stats CSV, the failures CSV and ``summary.json``.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.integrations.support import SHORT, free_port, read_csv, stop, wait, wsbench_locust

pytestmark = pytest.mark.slow

HEADLESS = ["--headless", "-u", "12", "-r", "12", "-t", "5s", "--only-summary"]


def _summary(path: Path) -> dict:
    return json.loads((path / "rep" / "summary.json").read_text())


def test_headless_run_reports_the_scenario_events_with_no_failures(tmp_path: Path) -> None:
    # target: embedded -> wsbench starts (and stops) the reference server itself
    proc = wsbench_locust([str(SHORT), *HEADLESS, "--csv", "out", "--wsbench-report-dir", "rep"],
                          tmp_path)
    assert wait(proc, 60, tmp_path) == 0, (tmp_path / "locust-0.log").read_text()[-3000:]
    stats = {(r["Type"], r["Name"]): r for r in read_csv(tmp_path / "out_stats.csv")}
    for key in [("sio-connect", "/"), ("sio-connect", "/chat"), ("sio-ack", "join"),
                ("sio-ack", "room message"), ("sio-recv", "message"), ("sio-ack", "/chat join"),
                ("sio-ack", "/chat message"), ("sio-recv", "/chat message")]:
        assert key in stats, sorted(stats)
        assert int(stats[key]["Request Count"]) > 0
    # sub-ms precision lives in wsbench's histograms; Locust keeps an honest non-zero average
    assert float(stats[("sio-recv", "message")]["Average Response Time"]) > 0
    assert read_csv(tmp_path / "out_failures.csv") == []
    assert int(stats[("", "Aggregated")]["Failure Count"]) == 0
    summary = _summary(tmp_path)
    delivery = summary["sections"]["delivery"]
    assert delivery["violations"]["total"] == 0
    assert delivery["delivery_ratio"] == 1.0 and delivery["delivered"] > 0
    assert summary["metrics"]["histograms"]["delivery"]["count"] == delivery["delivered"]
    assert summary["exit_status"] == 0
    assert (tmp_path / "rep" / "report.html").exists()


@pytest.mark.parametrize(("fault", "kind"), [("room-leak", "leak"), ("drop-acks", "ack_timeout")])
def test_a_server_fault_fails_requests_named_by_the_violation(
    tmp_path: Path, reference_server, fault: str, kind: str
) -> None:
    url = reference_server("--fault", fault)
    proc = wsbench_locust([str(SHORT), "--host", url, *HEADLESS, "--csv", "out",
                           "--wsbench-report-dir", "rep"], tmp_path)
    assert wait(proc, 60, tmp_path) == 1  # Locust's exit code on failures
    failures = read_csv(tmp_path / "out_failures.csv")
    assert failures, "the fault went unnoticed"
    assert all(f["Error"].startswith(f"{kind}:") for f in failures), failures
    summary = _summary(tmp_path)
    counts = summary["sections"]["delivery"]["violations"]["counts"]
    assert set(counts) == {kind} and counts[kind] == sum(int(f["Occurrences"]) for f in failures)
    assert summary["exit_status"] == 1


def test_distributed_run_merges_worker_histograms_exactly(tmp_path: Path, reference_server) -> None:
    url = reference_server()
    port = free_port()
    master = wsbench_locust(
        [str(SHORT), "--host", url, "--master", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--expect-workers", "2", "--expect-workers-max-wait", "30",
         *HEADLESS, "--csv", "out", "--wsbench-report-dir", "rep"], tmp_path)
    workers: list[subprocess.Popen] = []
    try:
        for _ in range(2):
            workers.append(wsbench_locust(
                [str(SHORT), "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                tmp_path))
        assert wait(master, 90, tmp_path) == 0
        for w in workers:
            assert wait(w, 30, tmp_path) == 0
    finally:
        for p in (master, *workers):
            stop(p)
    summary = _summary(tmp_path)
    generator = summary["sections"]["generator"]
    sources = generator["sources"]
    assert len(sources) == 2 and all(s["deliveries"] > 0 for s in sources.values()), sources
    merged = summary["metrics"]["histograms"]["delivery"]["count"]
    assert merged == sum(s["judged"] for s in sources.values()) > 0
    assert generator["received"] == sum(s["deliveries"] for s in sources.values())
    # Locust's own totals (summed over workers by Locust) agree with wsbench's
    stats = read_csv(tmp_path / "out_stats.csv")
    recv_requests = sum(int(r["Request Count"]) for r in stats if r["Type"] == "sio-recv")
    assert recv_requests == generator["received"]
    assert summary["sections"]["delivery"]["violations"]["total"] == 0
    assert summary["sections"]["locust"]["runner"] == "MasterRunner"


def test_group_counts_scale_to_users_and_the_run_verdict_is_printed(tmp_path: Path) -> None:
    """-u 10 with counts 20 + 20: both groups get users (5 + 5), not 10 + 0; the console
    ends with wsbench run's verdict (deliveries, violations, thresholds in the limit's unit);
    Locust's size column holds each packet's payload bytes (issue 9 #18, #21)."""
    counted = Path(__file__).with_name("counted.yaml")
    proc = wsbench_locust([str(counted), "--headless", "-u", "10", "-r", "10", "-t", "5s",
                           "--only-summary", "--csv", "out", "--wsbench-report-dir", "rep"],
                          tmp_path)
    assert wait(proc, 60, tmp_path) == 0, (tmp_path / "locust-0.log").read_text()[-3000:]
    log = (tmp_path / "locust-0.log").read_text()
    spawned = next(ln for ln in log.splitlines() if "All users spawned" in ln)
    assert '"talkers": 5' in spawned and '"listeners": 5' in spawned, spawned
    verdict = log[log.rindex("wsbench run 'locust-counted'"):]  # after Locust's own tables
    assert "Response time percentiles" not in verdict
    for part in ("delivery oracle", "delivered in time", "violations", "thresholds",
                 "report: rep"):
        assert part in verdict, verdict
    assert re.search(r"PASS +latency\.delivery\.p99 +<= 1 s +[0-9.]+ ms", verdict), verdict
    summary = _summary(tmp_path)
    assert {t["name"] for t in summary["sections"]["thresholds"]} == {
        "latency.delivery.p99", "violations"}
    from wsbench.report.data import schema_errors

    assert schema_errors(summary) == []
    stats = {(r["Type"], r["Name"]): r for r in read_csv(tmp_path / "out_stats.csv")}
    # 42["message",{"room":...,"message":{"text":"hi from N, a payload of some size"},...stamp}]
    assert float(stats[("sio-recv", "message")]["Average Content Size"]) > 60
    assert float(stats[("sio-ack", "room message")]["Average Content Size"]) > 2
