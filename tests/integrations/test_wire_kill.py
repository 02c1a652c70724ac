"""Locust kills the users' green threads when a run stops; an emit already counted as sent must
still leave (issue 13: msgpack over polling under Locust, "missing" deliveries and unanswered
acks at the end of a run). The write of a flush runs in a green thread of its own, so a kill
of the user while it waits for the write cannot drop the messages it had taken from the
session. Real reference server, real gevent (monkey-patched, in a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.integrations.support import scaled
from wsbench.launch import Server, reference_server

HELPER = ROOT / "tests" / "integrations" / "kill_mid_write.py"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("parser", ["default", "msgpack"])
@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_a_user_killed_inside_flush_still_sends_its_emit(transport: str, parser: str) -> None:
    with Server(reference_server("--app-heartbeat-interval", "0", "--parser", parser)) as server:
        out = subprocess.run(
            [sys.executable, str(HELPER), server.url, transport, parser, str(scaled(5))],
            capture_output=True, text=True, timeout=scaled(30), cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"delivered": True}
