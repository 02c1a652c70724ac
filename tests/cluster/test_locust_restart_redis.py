"""``fault: restart_redis`` under real Locust (headless): the Locust process asks ``wsbench
locust`` (which owns the embedded cluster) over the control channel, inside the judging
oracle's outage window; summary.json carries ``delivery.redis_restart``. Against a target that
is not a cluster the step is skipped, counted and warned once (it used to crash the user:
the gevent shell had no ``redis_restarted``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cluster.conftest import needs_haproxy, needs_redis
from tests.cluster.test_restart_redis_fault import FAULT_GROUP
from tests.integrations.support import scaled, wait, wsbench_locust
from wsbench.integrations.control import ControlServer

PATH = Path(__file__).resolve().parents[2] / "scenarios" / "cluster.yaml"
#: its app: file by absolute path, so the copy in tmp_path finds it
TEXT = PATH.read_text().replace("app: apps/", f"app: {PATH.parent}/apps/", 1)


def _scenario(tmp_path: Path, target: str = "{embedded: {nodes: 3}}") -> Path:
    text = TEXT.replace("clients: 150", "clients: 46", 1).replace("duration: 15s", "duration: 12s", 1)
    text = text.replace("groups:\n", "groups:\n" + FAULT_GROUP, 1)
    text = text.replace("{embedded: {nodes: 3}}", target, 1)
    assert f"app: {PATH.parent}/apps/" in text and "clients: 46" in text and "redis-restarter" in text and target in text
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    return path


def _run(tmp_path: Path, scenario: Path) -> tuple[dict, str]:
    proc = wsbench_locust([str(scenario), "--headless", "-u", "46", "-r", "46", "-t", "12s",
                           "--only-summary", "--wsbench-report-dir", "rep"], tmp_path)
    log = tmp_path / "locust-0.log"
    assert wait(proc, scaled(150), tmp_path) == 0, log.read_text()[-3000:]
    return json.loads((tmp_path / "rep" / "summary.json").read_text()), log.read_text()


@needs_redis
@needs_haproxy
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_headless_locust_restarts_the_clusters_redis(tmp_path: Path) -> None:
    summary, log = _run(tmp_path, _scenario(tmp_path))
    assert "restarting the cluster's Redis (2 s down)" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    delivery = summary["sections"]["delivery"]
    assert delivery["violations"]["total"] == 0, delivery["violations"]
    r = delivery["redis_restart"]
    assert len(r["outages"]) == 1, r
    o = r["outages"][0]
    assert o["back_at_s"] >= o["down_at_s"] + 2.0 and o["resubscribed_at_s"] >= o["back_at_s"], r
    assert r["lost_during_outage"] > 0 and r["lost_samples"], r
    assert r["resumed"] and r["resumed_copies"] > 0 and r["resumed_at_s"] > o["resubscribed_at_s"]
    counters = summary["metrics"]["counters"]
    assert counters.get("redis_restarts") == 1, counters
    assert "faults.restart_redis.skipped" not in counters, counters


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_restart_redis_against_a_single_server_is_skipped_counted_and_warned_once(
        tmp_path: Path) -> None:
    summary, log = _run(tmp_path, _scenario(tmp_path, "embedded"))
    assert log.count("restart_redis skipped") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert summary["metrics"]["counters"].get("faults.restart_redis.skipped") == 1
    delivery = summary["sections"]["delivery"]
    assert "redis_restart" not in delivery
    assert delivery["violations"]["total"] == 0, delivery["violations"]


class _One:
    """A launchable that is no cluster (the control channel's restart_redis refuses it)."""

    pid = 1
    restarts = 0
    banner = ""


def test_control_restart_redis_refuses_a_single_server() -> None:
    ctl = ControlServer(_One())  # type: ignore[arg-type]
    try:
        reply = ctl.handle(b'{"op": "restart_redis", "downtime": 1}')
        assert reply == {"ok": False,
                         "error": "restart_redis: the embedded target is not a cluster"}
        assert not ctl.handle(b'{"op": "restart_redis", "downtime": -1}')["ok"]
    finally:
        ctl.close()
