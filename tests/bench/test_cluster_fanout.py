"""Smoke test of bench/cluster_fanout.py (the benchmark itself is not a test): it runs end to
end on a 1-node reference cluster for one second and writes a consistent row; bad sizes are
usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.conftest import needs_redis
from tests.conftest import scaled

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "cluster_fanout.py"


@needs_redis
def test_runs_one_node_for_one_second(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--nodes", "1", "--rounds", "1", "--kinds", "python",
         "--clients", "20", "--duration", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=scaled(60),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [row] = json.loads(out.read_text())
    assert (row["kind"], row["nodes"], row["round"]) == ("python", 1, 1)
    assert row["sent"] == 25 and row["expected"] == 25 * 20
    assert row["received"] == row["expected"] and row["all_delivered"] and row["extra"] == 0
    assert len(row["node_cpu_s"]) == 1 and row["server_cpu_s"] > 0
    assert row["deliveries_per_cpu_s"] == pytest.approx(
        row["received"] / row["server_cpu_s"], rel=1e-3
    )
    assert "lag_p50_ms" not in row  # one node: no other-node recipients
    assert "| 1 | 1 | python | 500 / 500 |" in done.stdout


def test_bad_sizes_are_usage_errors() -> None:
    for bad in (["--nodes", "0"], ["--nodes", "x"], ["--kinds", "java"], ["--rounds", "0"]):
        done = subprocess.run([sys.executable, str(SCRIPT), *bad], capture_output=True,
                              text=True, timeout=scaled(30))  # fmt: skip
        assert done.returncode == 2, (bad, done.stderr)
        assert "error:" in done.stderr
