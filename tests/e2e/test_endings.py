"""Runs that end early: the embedded server dies, or Ctrl-C. Partial report, exit status.

Each test starts ``wsbench run`` as a subprocess (a real signal, a real dead server), waits
until its progress line shows deliveries flowing (not a fixed time), then ends it, with one
and with two driver processes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, scaled

SCENARIO = """
name: endings
clients: 10
duration: 60s
groups:
  - flow:
      - connect: /
      - every:
          interval: 100ms
          steps:
            - emit: {event: broadcast all, data: {data: {}}, ack: true, expect: [{event: event, to: all}]}
"""


def _start(tmp_path, processes: int) -> tuple[subprocess.Popen[str], int]:  # noqa: ANN001
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    argv = [sys.executable, "-m", "wsbench", "run", str(path), "--no-plots"]
    argv += ["--out", str(tmp_path / "out"), "--processes", str(processes)]
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, as a shell job would have
    )  # fmt: skip
    assert proc.stderr is not None
    deadline = time.monotonic() + scaled(30)
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"embedded reference server \(pid (\d+)\)", line)
        if found:
            return proc, int(found.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"no server line; exit {proc.poll()}")


def _flowing(proc: subprocess.Popen[str]) -> None:
    """Wait until a progress line (stderr, one every few seconds when not a terminal) shows
    messages delivered."""
    assert proc.stderr is not None
    deadline = time.monotonic() + scaled(30)
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"\s([\d,]+) msg/s", line)
        if found and int(found.group(1).replace(",", "")) > 0:
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"no progress line with deliveries; exit {proc.poll()}")


def _summary(tmp_path) -> dict:  # noqa: ANN001
    return json.loads((tmp_path / "out" / "summary.json").read_text())


def _finish(proc: subprocess.Popen[str]) -> int:
    try:
        proc.communicate(timeout=scaled(60))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return proc.returncode


@pytest.mark.timeout(120)
@pytest.mark.parametrize("processes", [1, 2])
def test_a_server_that_dies_mid_run_gives_a_partial_report_and_exit_1(processes, tmp_path) -> None:
    proc, server = _start(tmp_path, processes)
    _flowing(proc)
    os.kill(server, signal.SIGKILL)
    assert _finish(proc) == 1
    s = _summary(tmp_path)
    assert s["partial"] is True and s["exit_status"] == 1
    assert "exited" in s["partial_reason"], s["partial_reason"]
    assert s["sections"]["delivery"]["emits"] > 0  # what was measured is kept
    assert s["sections"]["run"]["processes"] == processes


@pytest.mark.timeout(120)
@pytest.mark.parametrize("processes", [1, 2])
def test_ctrl_c_writes_a_partial_report_and_exits_130(processes, tmp_path) -> None:
    proc, server = _start(tmp_path, processes)
    _flowing(proc)
    os.killpg(proc.pid, signal.SIGINT)  # the whole job, as a terminal's Ctrl-C does
    assert _finish(proc) == 130
    s = _summary(tmp_path)
    assert s["partial"] is True and s["exit_status"] == 130
    assert "SIGINT" in s["partial_reason"]
    d = s["sections"]["delivery"]
    assert d["emits"] > 0 and d["delivered"] > 0
    assert d["violations"]["total"] == 0, d["violations"]  # with samples: stamp, sender, receiver
    assert s["sections"]["server"]["stopped"]
    with pytest.raises(ProcessLookupError):  # the runner stopped the server it started
        os.kill(server, 0)
