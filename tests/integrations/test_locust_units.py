"""Fast tests of the Locust integration's parts that need no Locust process.

Nothing here imports locust or gevent into the test process (they monkey-patch the
standard library); the one check that needs Locust's stats runs in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integrations.support import ROOT, SHORT, scaled
from wsbench.integrations.aggregate import Aggregate
from wsbench.integrations.judge import Judge
from wsbench.integrations.launch import (
    locust_command,
    locust_env,
    render_locustfile,
    run_locust,
    server_spec,
)
from wsbench.launch import ServerStartFailed
from wsbench.metrics import LatencyHistogram
from wsbench.oracle import Semantics, Stamp, embed_stamp
from wsbench.scenario import load_scenario

MS = 1_000_000


def _judge_with_room(run: str, reports: list) -> Judge:
    judge = Judge(run, lambda *a: reports.append(a))
    judge.judged_events.add("message")
    m = judge.oracle.membership
    for client in range(3):
        assert judge.new_client() == client
        m.connected(client, "/", f"sid{client}", 0)
    m.joined(0, "/", "r", 0)
    m.joined(1, "/", "r", 0)
    return judge


def _emit(judge: Judge, seq: int, sent: int) -> list:
    stamp = Stamp.new(judge.run_id, 0, seq, sent)
    judge.oracle.expect_emit(stamp, 0, "/", Semantics.ROOM, rooms=["r"],
                             deadline_ns=sent + 1000 * MS, event="message")
    return [embed_stamp({"message": {"text": "hi"}}, stamp)]


def test_judge_reports_deliveries_and_names_violations_by_kind() -> None:
    reports: list = []
    judge = _judge_with_room("a", reports)
    args = _emit(judge, 1, 10 * MS)  # sent after every membership change
    judge.delivery(0, "/", "message", args, 12 * MS, 10)
    judge.delivery(2, "/", "message", args, 13 * MS, 10)  # not in the room: a leak
    judge.delivery(1, "/chat", "users", [[]], 3 * MS, 5)  # unstamped: counted, not judged
    judge.tick(5000 * MS)  # client 1 never got it: missing
    assert ("sio-recv", "message", 2.0, 10, None) in reports
    errors = sorted(r[4] for r in reports if r[4])
    assert [e.split(":")[0] for e in errors] == ["leak", "missing"]
    assert ("sio-recv", "/chat users", None, 5, None) in reports
    payload = judge.drain(5000 * MS)
    counters = payload["metrics"]["counters"]
    assert counters["violations.leak"] == counters["violations.missing"] == 1
    assert counters["oracle.expected"] == 2 and counters["oracle.delivered"] == 1


def test_deliveries_after_a_drain_are_recorded_in_the_fresh_store() -> None:
    """The judge binds the delivery histogram's recorder to its store; each drain hands the
    store out and starts a new one, which the next delivery must be recorded in."""
    judge = _judge_with_room("a", [])
    counts = []
    for seq in range(1, 4):
        args = _emit(judge, seq, seq * 10 * MS)
        judge.delivery(0, "/", "message", args, seq * 10 * MS + 2 * MS, 10)
        judge.delivery(1, "/", "message", args, seq * 10 * MS + 3 * MS, 10)
        payload = judge.drain(seq * 10 * MS + 4 * MS)
        counts.append(payload["metrics"]["histograms"]["delivery"]["count"])
    assert counts == [2, 2, 2]
    assert judge.oracle.violations.total == 0


def test_foreign_stamps_are_counted_not_judged() -> None:
    reports: list = []
    mine, other = _judge_with_room("a", reports), _judge_with_room("b", [])
    mine.delivery(0, "/", "message", _emit(other, 1, 0), MS, 0)
    assert mine.metrics.counter("recv.foreign") == 1
    assert mine.oracle.violations.total == 0 and reports[-1][2] is None


@pytest.mark.parametrize("encode", [True, False])  # False: the local runner's own judge
def test_aggregate_merges_process_histograms_exactly(encode: bool) -> None:
    everything = LatencyHistogram()
    aggregate = Aggregate()
    for run, latencies in (("a", [1, 2, 3, 50]), ("b", [7, 8, 900])):
        judge = _judge_with_room(run, [])
        for seq, latency_ms in enumerate(latencies, 1):
            args = _emit(judge, seq, 0)
            for client in (0, 1):
                judge.delivery(client, "/", "message", args, latency_ms * MS + client * 1000, 0)
                everything.record_ns(latency_ms * MS + client * 1000)
            if seq == 2:
                aggregate.add(judge.drain(10 * MS, encode=encode))  # several payloads each
        aggregate.add(judge.drain(2000 * MS, encode=encode))
    merged = aggregate.metrics.histogram("delivery")
    assert merged == everything
    view = aggregate.view()
    assert view["processes"] == 2 and view["delivered"] == view["expected"] == 14
    assert view["delivery_ratio"] == 1.0 and view["violations"] == {}
    assert view["audiences"][0]["audience"] == "2-10" and view["audiences"][0]["emits"] == 7
    assert sum(s["judged"] for s in aggregate.sources.values()) == merged.count
    rows = aggregate.rows()
    assert rows[0]["section"] == "delivery" and rows[0]["delivered"] == 14
    sections = aggregate.summary_sections()
    assert sections["delivery"]["fanout"][0]["completion"] == 1.0
    json.dumps(sections)


def test_a_local_drain_aggregates_as_its_snapshot_does() -> None:
    """Judge.drain(encode=False) hands this process's aggregate the store itself; the
    aggregate must end as the encoded payloads leave it (sources, metrics, samples)."""
    aggregates = {True: Aggregate(), False: Aggregate()}
    for encode, aggregate in aggregates.items():
        judge = _judge_with_room("a", [])
        for seq in range(1, 6):
            args = _emit(judge, seq, seq * 100 * MS)
            judge.delivery(0, "/", "message", args, seq * 100 * MS + seq * MS, 10)
            judge.delivery(2, "/", "message", args, seq * 100 * MS + 2 * MS, 10)  # a leak
            judge.tick(seq * 100 * MS + 1100 * MS)  # client 1's copy: missing
            aggregate.add(judge.drain(seq * 100 * MS + 1200 * MS, encode=encode))
    encoded, local = aggregates[True], aggregates[False]
    assert local.sources == encoded.sources
    assert local.samples == encoded.samples and local.payloads == encoded.payloads
    snapshots = [agg.metrics.snapshot() for agg in (local, encoded)]
    for snap in snapshots:  # the two judges' own: their start and the CPU they used
        del snap["origin_wall"], snap["counters"]["process.cpu_ns"]
        del snap["series"]["counters"]["process.cpu_ns"]
    assert snapshots[0] == snapshots[1]
    views = [agg.view() for agg in (local, encoded)]
    for view in views:
        del view["generator"]  # the CPU each judge's process used
    assert views[0] == views[1]


def test_launch_passes_locust_options_through_with_scenario_defaults() -> None:
    scenario = load_scenario(SHORT)
    cmd = locust_command(["--headless", "-u", "5"], "http://127.0.0.1:1")
    assert cmd[1:4] == ["-m", "locust", "-f"] and cmd[-5:] == ["--host", "http://127.0.0.1:1",
                                                               "--headless", "-u", "5"]
    assert "--host" not in locust_command(["-H", "http://x"], "http://y")[4:-2]
    env = locust_env(str(SHORT), scenario, ["--headless"])
    assert env["WSBENCH_SCENARIO"] == str(SHORT.resolve())
    assert env["LOCUST_USERS"] == "20" and env["LOCUST_RUN_TIME"] == "8s"
    faulty = scenario.replace(server=scenario.server.__class__(faults=("room-leak",)))
    assert server_spec(faulty).args[-2:] == ("--fault", "room-leak")
    compile(render_locustfile(str(SHORT), scenario), "generated_locustfile.py", "exec")


def test_an_embedded_server_that_does_not_start_stops_wsbench_locust_with_its_stderr() -> None:
    scenario = load_scenario(SHORT)
    assert scenario.embedded
    broken = scenario.replace(server=scenario.server.__class__(faults=("no-such-fault",)))
    with pytest.raises(ServerStartFailed) as err:  # before Locust is started
        run_locust(str(SHORT), broken, ["--headless"])
    text = str(err.value)
    assert "embedded reference server did not start" in text
    assert "exited with code 2 before its start line" in text
    assert "no-such-fault" in text.split("stderr:", 1)[1]


def test_cli_writes_a_locustfile_and_help_loads_no_locust(tmp_path: Path) -> None:
    from wsbench.cli import cli

    out = tmp_path / "lf.py"
    result = CliRunner().invoke(cli, ["locust", str(SHORT), "--write-locustfile", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "users_from_scenario" in text and "roomers = _users['roomers']" in text
    bad = CliRunner().invoke(cli, ["locust", str(tmp_path / "missing.yaml")])
    assert bad.exit_code == 2
    probe = "import sys; from wsbench.cli import cli; print('locust' in sys.modules, 'gevent' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                            timeout=scaled(30))
    assert loaded.stdout.split() == ["False", "False"]


def test_batched_push_stats_equal_one_by_one_logging() -> None:
    """PushStats.flush adds a batch as StatsEntry.log would one by one, bucketing each value
    once for both entries; a bucketing function installed at runtime (which Locust documents
    as customizable) is honoured, as Locust's own one-by-one logging honours it."""
    code = textwrap.dedent("""
        import json
        import locust.stats
        from locust.stats import RequestStats
        from wsbench.integrations.locust import PushStats
        times = [0.4, 0.5, 1.5, 1.5, 2.5, 7.2, 99.4, 99.5, 99.6, 100.0, 104.9, 105.0, 130.0,
                 999.9, 2400.0, 12345.0]
        def compare():
            a, b, pushes = RequestStats(), RequestStats(), PushStats()
            for t in times:
                a.log_request("sio-recv", "event", t, 10)
                pushes.add("event", t, 10)
            a.log_request("sio-recv", "event", None, 10)
            pushes.add("event", None, 10)
            pushes.flush(b)
            def view(e):
                return [e.num_requests, e.num_none_requests, dict(e.response_times),
                        e.total_response_time, e.min_response_time, e.max_response_time,
                        e.total_content_length, sum(e.num_reqs_per_sec.values())]
            return [view(a.total) == view(b.total),
                    view(a.get("event", "sio-recv")) == view(b.get("event", "sio-recv"))]
        stock = compare()
        locust.stats.bucket_response_time = lambda ms: int(ms // 5) * 5  # a plugin's bucketing
        custom = compare()
        print(json.dumps(stock + custom))
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=scaled(60))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [True, True, True, True]
