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
    (tmp_path / "s.yaml").write_text(RETRYING.replace("FAULT", "drop-some-acks"))
    proc = wsbench_locust(["s.yaml", "--headless", "-t", "6s", "-u", "6", "-r", "6",
                           "--only-summary", "--wsbench-report-dir", "rep"], tmp_path)
    assert wait(proc, 90, tmp_path) == 0, (tmp_path / "locust-0.log").read_text()[-3000:]
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    delivery = summary["sections"]["delivery"]
    assert delivery["violations"]["total"] == 0, delivery["violations"]
    r = delivery["retries"]
    assert r["emits"] > 0 and r["emits_retried"] > 0, r
    assert r["retry_duplicates"] > 0 and 0 < r["retry_rate"] < 0.3, r
    assert 0 < r["retried"]["count"] <= r["emits_retried"]
    assert r["retried"]["p50_ms"] >= 300 > r["first_try"]["p50_ms"]
