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


DISTRIBUTED = Path(__file__).with_name("distributed.yaml")  # one group: members on both workers


def _distributed(tmp_path: Path, url: str, skews: tuple[int, int] = (0, 0),
                 master_exit: int = 0, scenario: Path = DISTRIBUTED) -> dict:
    """Master + 2 workers on loopback; worker k's wsbench clock runs ``skews[k]`` ns ahead."""
    port = free_port()
    master = wsbench_locust(
        [str(scenario), "--host", url, "--master", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--expect-workers", "2", "--expect-workers-max-wait", "30",
         *HEADLESS, "--csv", "out", "--wsbench-report-dir", "rep"], tmp_path)
    workers: list[subprocess.Popen] = []
    try:
        for skew in skews:
            workers.append(wsbench_locust(
                [str(scenario), "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                tmp_path, env={"WSBENCH_TEST_CLOCK_SKEW_NS": str(skew)}))
        assert wait(master, 90, tmp_path) == master_exit, (
            (tmp_path / "locust-0.log").read_text()[-3000:])
        for w in workers:
            assert wait(w, 30, tmp_path) == 0
    finally:
        for p in (master, *workers):
            stop(p)
    return _summary(tmp_path)


def test_distributed_run_merges_worker_histograms_exactly(tmp_path: Path, reference_server) -> None:
    summary = _distributed(tmp_path, reference_server(), scenario=SHORT)
    generator = summary["sections"]["generator"]
    sources = generator["sources"]
    workers = {k: s for k, s in sources.items() if k != "master"}
    assert len(workers) == 2 and all(s["deliveries"] > 0 for s in workers.values()), sources
    # one oracle on the master judged every delivery: its histogram is the run's
    merged = summary["metrics"]["histograms"]["delivery"]["count"]
    assert merged == sum(s["judged"] for s in sources.values()) == sources["master"]["judged"] > 0
    assert generator["received"] == sum(s["deliveries"] for s in sources.values())
    # Locust's own totals (summed over workers by Locust) agree with wsbench's
    stats = read_csv(tmp_path / "out_stats.csv")
    recv_requests = sum(int(r["Request Count"]) for r in stats if r["Type"] == "sio-recv")
    assert recv_requests == generator["received"]
    assert summary["sections"]["delivery"]["violations"]["total"] == 0
    assert summary["sections"]["locust"]["runner"] == "MasterRunner"
    assert summary["sections"]["locust"]["workers"] == 2


SKEW_NS = 2_000_000_000


def _clocks(summary: dict) -> list[dict]:
    clocks = summary["sections"]["generator"]["clocks"]
    assert len(clocks) == 2 and all(c["complete"] for c in clocks), clocks
    return sorted(clocks, key=lambda c: c["offset_ms"])


def test_distributed_workers_are_judged_by_one_oracle_across_a_2s_clock_skew(
    tmp_path: Path, reference_server
) -> None:
    """Every delivery is judged (no "foreign" copies) by the master's oracle, on the master's
    clock: worker 2's clock runs 2 s ahead, its offset is estimated and corrected."""
    summary = _distributed(tmp_path, reference_server(), skews=(0, SKEW_NS))
    delivery = summary["sections"]["delivery"]
    assert delivery["violations"]["total"] == 0, delivery["violations"]
    generator = summary["sections"]["generator"]
    assert generator["received_foreign"] == 0
    assert delivery["delivered"] == delivery["expected"] > 0
    # every stamped delivery was judged: received = judged + optional + unstamped
    assert generator["received"] == (delivery["delivered"] + delivery["optional_deliveries"]
                                     + generator["received_unstamped"])
    plain, skewed = _clocks(summary)
    for clock, truth in ((plain, 0.0), (skewed, SKEW_NS / 1e6)):
        assert clock["samples"] >= 1 and clock["error_bound_ms"] is not None
        assert abs(clock["offset_ms"] - truth) <= clock["error_bound_ms"] + 0.001, clock
        assert clock["error_bound_ms"] < 1000, clock
    # latency on one clock: the 2 s skew is in neither wsbench's histogram nor Locust's entries
    # (a skewed latency is >= 2,000 ms; 1,000 leaves a loaded CI machine room for a slow copy)
    assert summary["metrics"]["histograms"]["delivery"]["max_ms"] < 1000
    recv = [r for r in read_csv(tmp_path / "out_stats.csv") if r["Type"] == "sio-recv"]
    assert recv and all(float(r["Max Response Time"]) < 1000 for r in recv), recv
    from wsbench.report.data import schema_errors

    assert schema_errors(summary) == []
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "clock offset" in html and skewed["run"] in html


def test_distributed_room_leak_is_caught_and_attributed_to_its_emit(
    tmp_path: Path, reference_server
) -> None:
    summary = _distributed(tmp_path, reference_server("--fault", "room-leak"),
                           skews=(SKEW_NS, 0), master_exit=1)
    violations = summary["sections"]["delivery"]["violations"]
    assert set(violations["counts"]) == {"leak"} and violations["counts"]["leak"] > 0, violations
    runs = {c["run"] for c in _clocks(summary)}
    assert violations["samples"]
    for sample in violations["samples"]:
        run, sender, _seq = sample["stamp"].split(".")
        # the stamp names the emit: the worker that sent it (run id) and the sending client
        assert run in runs and int(sender) == sample["sender"], sample
        assert run.startswith(f"w{sample['sender'] // 1_000_000}p"), sample
    # leaks from each worker's emits to the other worker's clients: judged across workers
    pairs = summary["sections"]["generator"]["violations_by_worker"]["leak"]
    assert pairs.get("w0 -> w1", 0) > 0 and pairs.get("w1 -> w0", 0) > 0, pairs
    assert sum(pairs.values()) == violations["counts"]["leak"]
    failures = read_csv(tmp_path / "out_failures.csv")
    assert failures and all(f["Error"].startswith("leak:") for f in failures), failures
    assert sum(int(f["Occurrences"]) for f in failures) == violations["counts"]["leak"]


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
