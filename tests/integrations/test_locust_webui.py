"""The Locust web UI's Fan-out tab, checked in a real headless Chromium.

Chromium is driven over the DevTools protocol with websocket-client (no browser
download, no playwright). Skipped with a reason when ``/usr/bin/chromium`` is absent
(CI: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integrations.support import SHORT, free_port, scaled, stop, wsbench_locust

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium)"),
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage"]


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 - loopback only
        return reply.read()


def _wait_http(url: str, seconds: float) -> None:
    until = time.monotonic() + scaled(seconds)
    while time.monotonic() < until:
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {scaled(seconds):g}s")


class DevTools:
    """The smallest DevTools-protocol client: evaluate JavaScript in one page."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=scaled(10), suppress_origin=True)
        self.next_id = 0

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                return reply

    def text(self, selector: str = "body") -> str:
        expr = f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText || ''"
        reply = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return reply.get("result", {}).get("result", {}).get("value", "")

    def close(self) -> None:
        self.ws.close()


def test_fanout_tab_renders_with_numbers(tmp_path: Path, reference_server) -> None:
    url = reference_server()
    port = free_port()
    locust = wsbench_locust(
        [str(SHORT), "--host", url, "--web-host", "127.0.0.1", "--web-port", str(port),
         "--autostart", "-u", "10", "-r", "10", "-t", "30s", "--wsbench-report-dir", "rep"],
        tmp_path)
    browser = None
    try:
        _wait_http(f"http://127.0.0.1:{port}/", 30)
        # measurements arrive: the JSON view the tab is built from has delivered emits
        until = time.monotonic() + scaled(20)
        view: dict = {}
        while time.monotonic() < until:
            view = json.loads(_get(f"http://127.0.0.1:{port}/wsbench/fanout.json"))
            if view["delivered"] and view["audiences"]:
                break
            time.sleep(0.5)
        assert view["delivered"] > 0 and view["delivery_ratio"] == 1.0, view

        debug_port = free_port()
        browser = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--remote-debugging-port={debug_port}",
             f"--user-data-dir={tmp_path / 'chromium'}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_http(f"http://127.0.0.1:{debug_port}/json/version", 20)
        pages = json.loads(_get(f"http://127.0.0.1:{debug_port}/json/list"))
        page = next(p for p in pages if p.get("type") == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        try:
            tools.call("Page.navigate", url=f"http://127.0.0.1:{port}/?tab=wsbench-fanout")
            until = time.monotonic() + scaled(20)
            text = ""
            while time.monotonic() < until:
                text = tools.text()
                if "time to last recipient" in text and "audience 2-10" in text:
                    break
                time.sleep(0.5)
            tabs = tools.text("[role=tablist]")
        finally:
            tools.close()
    finally:
        if browser is not None:
            stop(browser)
        stop(locust)
    assert "fan-out" in tabs.lower(), tabs
    assert "time to last recipient" in text, text[-2000:]
    row = next(line for line in text.splitlines() if "audience 2-10" in line)
    numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", row.split("audience 2-10", 1)[1])]
    # emits, expected, delivered, ratio, then p50/p95/p99/max time to last recipient (ms)
    assert len(numbers) >= 8 and numbers[0] > 0 and numbers[3] == 1.0, row
    assert 0 < numbers[4] <= numbers[7], row
    assert "violation" in text and "none" in text
