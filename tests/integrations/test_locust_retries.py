"""``wsbench locust`` runs at-least-once emits (``retries``) on the gevent shell's retry queue
(issue 13 #4): against ``--fault drop-some-acks`` the lost ACKs' emits are re-sent, the
oracle accepts the second copies, and the summary reports the retry rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_retries import RETRYING
from tests.integrations.support import wait, wsbench_locust


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_retries_under_locust_recover_lost_acks(tmp_path: Path) -> None:
    # thresholds: a join whose ACK the fault dropped (see below) may time out
    (tmp_path / "s.yaml").write_text(RETRYING.replace("FAULT", "drop-some-acks")
                                     + "thresholds: {ack_timeouts: 2}\n")
    proc = wsbench_locust(["s.yaml", "--headless", "-t", "6s", "-u", "6", "-r", "6",
                           "--only-summary", "--wsbench-report-dir", "rep"], tmp_path)
    code = wait(proc, 90, tmp_path)  # Locust exits 1 on any failure: a dropped join ACK is one
    assert code in (0, 1), (tmp_path / "locust-0.log").read_text()[-3000:]
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    delivery = summary["sections"]["delivery"]
    # the fault drops every 10th ACK of the server, and cannot tell a join's from an emit's:
    # a dropped join ACK (6 clients x 2 joins) is an ack_timeout of that join, nothing else
    v = delivery["violations"]
    kinds = {k: n for k, n in v.get("counts", {}).items() if n}
    assert set(kinds) <= {"ack_timeout"}, v
    assert all("join" in json.dumps(sample) for sample in v.get("samples", [])), v
    assert code == 0 or kinds, (tmp_path / "locust-0.log").read_text()[-3000:]
    r = delivery["retries"]
    assert r["emits"] > 0 and r["emits_retried"] > 0, r
    assert r["retry_duplicates"] > 0 and 0 < r["retry_rate"] < 0.3, r
    assert 0 < r["retried"]["count"] <= r["emits_retried"]
    assert r["retried"]["p50_ms"] >= 300 > r["first_try"]["p50_ms"]
