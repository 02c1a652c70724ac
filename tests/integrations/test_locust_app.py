"""``wsbench locust --headless`` of a scenario that names an app file (issue 11 #3 item 3):
expectations, acks and ``must_not`` derived from scenarios/apps/reference.yaml, judged by the Locust judge exactly as ``wsbench run`` does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integrations.support import read_csv, wait, wsbench_locust

pytestmark = pytest.mark.slow

HEADLESS = ["--headless", "-u", "12", "-r", "12", "-t", "5s", "--only-summary"]

SCENARIO = """
name: locust-app
app: {app}
target: embedded
server:
  app_heartbeat_interval: 0s
clients: 12
duration: 5s
defaults:
  within: 2s
  ack_timeout: 3s
groups:
  - name: roomers
    weight: 1
    flow:
      - connect: /
      - join: "room-{{rand:3}}"
      - think: 500ms
      - every:
          interval: 0.5s
          count: 6
          steps:
            - emit:
                event: room message
                data: {{room: "{{room}}", message: {{text: "hi from {{client}}"}}}}
                must_not: {{event: message, to: non_members}}
  - name: chatters
    weight: 1
    namespace: /chat
    flow:
      - connect: {{namespaces: [/chat]}}
      - emit: {{event: join, data: "user-{{client}}"}}
      - think: {{uniform: [500ms, 1500ms]}}
      - emit: {{event: message, data: "hello from {{client}}"}}
      - think: 2s
"""


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(SCENARIO.format(app=ROOT / "scenarios" / "apps" / "reference.yaml"))
    return path


def _summary(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "rep" / "summary.json").read_text())


def test_an_app_derived_scenario_passes_on_the_reference_server(tmp_path: Path) -> None:
    proc = wsbench_locust([str(_scenario(tmp_path)), *HEADLESS, "--csv", "out",
                           "--wsbench-report-dir", "rep"], tmp_path)
    assert wait(proc, 60, tmp_path) == 0, (tmp_path / "locust-0.log").read_text()[-3000:]
    assert read_csv(tmp_path / "out_failures.csv") == []
    stats = {(r["Type"], r["Name"]): r for r in read_csv(tmp_path / "out_stats.csv")}
    for key in [("sio-recv", "message"), ("sio-recv", "/chat user joined"),
                ("sio-recv", "/chat message"), ("sio-ack", "room message")]:
        assert key in stats and int(stats[key]["Request Count"]) > 0, sorted(stats)
    delivery = _summary(tmp_path)["sections"]["delivery"]
    assert delivery["violations"]["total"] == 0
    assert delivery["delivery_ratio"] == 1.0 and delivery["delivered"] > 0


def test_room_leak_is_caught_as_forbidden_delivery_or_leak(tmp_path: Path, reference_server) -> None:
    url = reference_server("--fault", "room-leak")
    proc = wsbench_locust([str(_scenario(tmp_path)), "--host", url, *HEADLESS, "--csv", "out",
                           "--wsbench-report-dir", "rep"], tmp_path)
    assert wait(proc, 60, tmp_path) == 1  # Locust's exit code on failures
    failures = read_csv(tmp_path / "out_failures.csv")
    assert failures and all(f["Error"].split(":")[0] in ("forbidden_delivery", "leak")
                            for f in failures), failures
    counts = _summary(tmp_path)["sections"]["delivery"]["violations"]["counts"]
    assert set(counts) <= {"forbidden_delivery", "leak"} and counts, counts
