"""``wsbench locust`` on ``parser: msgpack``: the gevent shell's connections speak the scenario's
parser (real Locust, headless, against the embedded reference server started with it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integrations.support import wait, wsbench_locust

SCENARIO = ROOT / "scenarios" / "msgpack.yaml"


@pytest.mark.slow
@pytest.mark.timeout(120)
# polling once lost the emits of users Locust killed mid-write at the stop (see test_wire_kill.py)
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_msgpack_scenario_with_binary_payloads_under_locust(
    transport: str, tmp_path: Path
) -> None:
    text = SCENARIO.read_text().replace("parser: msgpack\n", f"parser: msgpack\ntransport: {transport}\n")
    # the copy lives in tmp_path: its app: path is made absolute so it still resolves
    text = text.replace("app: apps/", f"app: {SCENARIO.parent / 'apps'}/")
    (tmp_path / "s.yaml").write_text(text)
    proc = wsbench_locust(["s.yaml", "--headless", "-t", "6s", "-u", "16", "-r", "16",
                           "--only-summary", "--wsbench-report-dir", "rep"], tmp_path)
    assert wait(proc, 90, tmp_path) == 0, (tmp_path / "locust-0.log").read_text()[-3000:]
    delivery = json.loads((tmp_path / "rep" / "summary.json").read_text())["sections"]["delivery"]
    assert delivery["violations"]["total"] == 0, delivery["violations"]
    assert delivery["expected"] > 0 and delivery["delivered"] == delivery["expected"], delivery
