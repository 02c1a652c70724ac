"""The Locust shell's wire Connection, once closed, is freed by reference counting alone.

Its codec (``FrameParser``) held the connection's bound ``_on_message`` and the poller's
callback a lambda over it: reference cycles that kept every closed connection until a full
collection. The Locust worker keeps CPython's collector (it does not run ``young_gc_only``),
so this was garbage that waited rather than a leak; the asyncio client's counterpart is
tests/client/test_closed_connections_are_freed.py. Real reference server, real gevent
(monkey-patched, in a child process: tests/integrations/wire_freed.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.integrations.support import scaled
from wsbench.launch import Server, reference_server

HELPER = ROOT / "tests" / "integrations" / "wire_freed.py"
CLIENTS = 10


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_closed_wire_connections_need_no_full_collection(transport: str) -> None:
    with Server(reference_server("--app-heartbeat-interval", "0")) as server:
        out = subprocess.run(
            [sys.executable, str(HELPER), server.url, transport, str(scaled(5)), str(CLIENTS)],
            capture_output=True, text=True, timeout=scaled(30), cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # a full collection frees nothing more: no closed connection waits in a cycle (the
    # shared poller's green thread may still hold the last callback it ran: one, not a cycle)
    assert got["alive"] == got["after_full_collection"] <= 1, got
