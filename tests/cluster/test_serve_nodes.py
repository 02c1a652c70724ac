"""``wsbench serve --nodes N``: Redis, N nodes and HAProxy from one command, until SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys

import aiohttp
import pytest

from tests.cluster.conftest import needs_haproxy, needs_redis
from tests.conftest import ROOT, scaled, until
from wsbench.client.api import connect

pytestmark = [needs_redis, needs_haproxy, pytest.mark.slow, pytest.mark.timeout(120)]


def start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsbench.cli", "serve", *args], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:  # the banner, then one line per process, then redis last
        lines.append(line.rstrip())
        if line.lstrip().startswith("redis "):
            break
    return proc, lines


async def test_serve_nodes_prints_the_balancer_and_node_urls_and_stops_on_sigterm() -> None:
    proc, lines = start("--nodes", "2", "--fault", "adapter-double-emit")
    try:
        text = "\n".join(lines)
        assert "wsbench embedded cluster listening on http://127.0.0.1:" in text, text
        balancer = re.search(r"balancer\s+(http://\S+)", text).group(1)
        nodes = re.findall(r"node \d+\s+(http://\S+)", text)
        assert len(nodes) == 2 and balancer not in nodes, text
        # the Python nodes took the fault: a broadcast from node 0 reaches node 1 once, and
        # node 0's own recipient twice (so the fault went to the nodes, not to the launcher)
        a, b = await connect(nodes[0]), await connect(nodes[1])
        # polling through HAProxy's cookie stickiness: a cookie jar that keeps cookies of an IP
        jar = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        via = await connect(balancer, transports="polling", http=jar)
        try:
            got: dict[str, list] = {"a": [], "b": [], "via": []}
            for name, client in (("a", a), ("b", b), ("via", via)):
                client.socket().on("event", lambda d, name=name: got[name].append(d))
            await a.socket().call("broadcast all", {"data": 7}, timeout=scaled(5))
            assert await until(lambda: got["b"] and got["via"] and len(got["a"]) == 2)
            assert got["b"] == [7]
        finally:
            for client in (a, b, via):
                await client.close()
            await jar.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(scaled(20))
    assert code == 0, proc.stderr.read() if proc.stderr else ""


def test_serve_nodes_refuses_what_the_cluster_chooses() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wsbench.cli", "serve", "--nodes", "2", "--port", "3000"],
        cwd=ROOT, capture_output=True, text=True, timeout=scaled(30),
    )  # fmt: skip
    assert done.returncode == 2
    assert "--port: is chosen by the cluster; not with --nodes" in done.stderr


async def test_serve_nodes_sigterm_right_after_start_is_a_clean_stop() -> None:
    proc, _ = start("--nodes", "1", "--stickiness", "source")
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, scaled(20)) == 0
