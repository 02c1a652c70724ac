"""The CLI's own behaviour: ``wsbench serve`` starts the reference server and answers a handshake."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

from tests.conftest import ROOT, scaled


def test_serve_starts_the_reference_server_and_answers_a_handshake() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsbench", "serve", "--port", "0", "--ping-interval", "5000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("wsbench reference server listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        with urllib.request.urlopen(
            f"{url}/socket.io/?EIO=4&transport=polling", timeout=scaled(5)
        ) as resp:
            body = resp.read().decode()
        assert body.startswith("0{")
        info = json.loads(body[1:])
        assert info["pingInterval"] == 5000
        assert info["upgrades"] == ["websocket"]
    finally:
        proc.terminate()
        proc.wait(timeout=scaled(10))
    assert proc.returncode == 0


def test_serve_rejects_unknown_options_with_usage_status() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "wsbench", "serve", "--no-such-option"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )
    assert out.returncode == 2
    assert "--no-such-option" in out.stderr
