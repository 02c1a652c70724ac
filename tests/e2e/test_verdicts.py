"""The driver reports what happened: non-Socket.IO targets, failed connects, violations.

Real servers on loopback: ``python3 -m http.server``, the tiny rogue servers of
:mod:`tests.e2e.rogue`, and the embedded reference server with a fault.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time

import jsonschema
import pytest
from click.testing import CliRunner

from tests.conftest import scaled
from tests.e2e.conftest import run_text, violations
from tests.e2e.rogue import (
    Rogue,
    big_polling_body,
    closes_with,
    mid_frame,
    never_connects,
    open_packet,
    stops_pinging,
)
from wsbench.cli import cli
from wsbench.exceptions import ConnectFailed
from wsbench.metrics import RunSummary, schema
from wsbench.scenario.preflight import NotSocketIO, preflight

TINY = "clients: 3\nduration: 2s\ngroups:\n  - flow:\n      - connect: {CONNECT}\n"


def _http_server() -> tuple[subprocess.Popen[str], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..." once it listens
    assert "Serving HTTP" in line, line
    return proc, f"http://127.0.0.1:{port}"


@pytest.mark.timeout(30)
def test_plain_http_server_exits_4_fast_with_one_line(tmp_path) -> None:
    proc, url = _http_server()
    try:
        f = tmp_path / "s.yaml"
        f.write_text("duration: 30s\ngroups: [{flow: [{connect: /}]}]\n")
        t0 = time.monotonic()
        result = CliRunner().invoke(
            cli, ["run", str(f), "--target", url, "--quiet", "--out", str(tmp_path / "o")]
        )
        elapsed = time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait(10)
    assert result.exit_code == 4, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output  # one line, no raw HTML dump
    line = lines[0]
    assert "GET /socket.io/?EIO=4&transport=polling" in line  # what it requested
    assert "HTTP 404 text/html" in line and "Error response" in line  # what came back
    assert "not a Socket.IO server" in line  # what that probably means
    assert "<" not in line
    assert elapsed < scaled(2) + 1.5, elapsed  # 2 s preflight bound (+ the CLI's own start)
    assert not (tmp_path / "o").exists()  # no client ran, no report


@pytest.mark.parametrize(
    ("status", "body", "ctype", "expect"),
    [
        (200, "<html><title>Welcome</title></html>", "text/html", "a web server without Socket.IO"),
        (200, "97:0" + open_packet()[1:], "text/plain", "Engine.IO v3"),
        (400, '{"code":5,"message":"Unsupported protocol version"}', "application/json",
         "does not speak protocol 4"),
        (500, "oops", "text/plain", "server error"),
    ],
)  # fmt: skip
def test_preflight_names_what_came_back(status, body, ctype, expect) -> None:  # noqa: ANN001
    from aiohttp import web

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=body, content_type=ctype)

    with Rogue(handler) as url:
        with pytest.raises(NotSocketIO) as info:
            asyncio.run(preflight(url, "/socket.io/"))
    text = str(info.value)
    assert expect in text and f"HTTP {status}" in text and "\n" not in text


def test_preflight_bounded_by_2s_when_nothing_answers() -> None:
    with socket.socket() as s:  # accepts TCP (backlog) but never answers HTTP
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        t0 = time.monotonic()
        with pytest.raises(ConnectFailed, match=r"no answer to GET .* within 2 s"):
            asyncio.run(preflight(url))
        assert time.monotonic() - t0 < 2 + scaled(1)


def test_preflight_accepts_websocket_only_servers_and_closes_its_probe() -> None:
    from aiohttp import web

    async def ws_only(request: web.Request) -> web.StreamResponse:
        return web.json_response({"code": 0, "message": "Transport unknown"}, status=400)

    with Rogue(ws_only) as url:
        assert asyncio.run(preflight(url, websocket_only=True)) is None
        with pytest.raises(NotSocketIO, match="Transport unknown"):
            asyncio.run(preflight(url, websocket_only=False))
    rogue = Rogue(never_connects)
    with rogue as url:
        info = asyncio.run(preflight(url))
    assert info is not None and info.sid == "rogue"
    assert any("sid=rogue" in r for r in rogue.requests)  # the probe's session was closed


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("connect", "reason"),
    [("{namespaces: [/], timeout: 1s}", "no CONNECT answer within 1 s"),
     ("/", "no CONNECT answer when the run ended")],
)  # fmt: skip
def test_never_answered_connect_fails_the_run(tmp_path, connect, reason) -> None:  # noqa: ANN001
    with Rogue(never_connects) as url:  # 4 s: longer than the drain grace (within 2 s + 1 s)
        outcome = run_text(TINY.replace("{CONNECT}", connect), tmp_path, target=url, duration="4s")
    s = outcome.summary
    assert outcome.exit_status == 1
    assert violations(s) == {"connect_failed": 3}
    conns = s.sections.connections
    assert conns.connected == 0 and sum(conns.errors.values()) == 3
    assert any(reason in msg for msg in conns.errors), conns.errors
    failed = [t for t in s.sections.thresholds if not t.passed]
    assert [t.name for t in failed] == ["violations"], failed
    from wsbench.report.console import render_summary

    text = render_summary(s)
    assert "n/a (nothing expected)" in text and "100.0000%" not in text


@pytest.mark.timeout(60)
def test_connect_errors_threshold_allows_failed_connects(tmp_path) -> None:
    text = TINY.replace("{CONNECT}", "{namespaces: [/], timeout: 1s}")
    with Rogue(never_connects) as url:
        outcome = run_text(text + "thresholds: {connect_errors: 3}\n", tmp_path, target=url)
    assert outcome.exit_status == 0, outcome.summary.sections.thresholds
    names = {t.name: t for t in outcome.summary.sections.thresholds}
    assert names["violations.connect_failed"].limit == "<= 3 (connect_errors)"


@pytest.mark.timeout(60)
def test_unlisted_violation_kind_fails_the_run(tmp_path) -> None:
    """rooms.yaml's thresholds named four kinds: 800 ack_timeouts passed (exit 0)."""
    text = (
        "clients: 6\nduration: 3s\nserver: {faults: [drop-acks]}\n"
        "groups:\n  - flow:\n      - connect: /\n"
        "      - emit: {event: chat message, data: hi, ack: true, ack_timeout: 500ms}\n"
        "thresholds:\n  violations: {leak: 0, duplicate: 0}\n"
    )
    outcome = run_text(text, tmp_path)
    assert violations(outcome.summary).get("ack_timeout", 0) > 0
    assert outcome.exit_status == 1
    failed = [t for t in outcome.summary.sections.thresholds if not t.passed]
    assert [t.name for t in failed] == ["violations.unlisted"]
    assert re.search(r"ack_timeout: \d", failed[0].detail)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("handler", "reason"),
    [(closes_with(1009), "transport close: websocket closed (1009)"),
     (mid_frame(), "transport close: websocket closed (1006)"),
     (stops_pinging, "ping timeout")],
    ids=["1009", "mid-frame", "ping-timeout"],
)  # fmt: skip
def test_every_close_is_counted_by_reason(tmp_path, handler, reason) -> None:  # noqa: ANN001
    """Drops showed only as reconnect counts, with connections.errors {}."""
    with Rogue(handler) as url:
        outcome = run_text(
            "clients: 2\nduration: 2s\ngroups: [{flow: [{connect: /}]}]\n", tmp_path, target=url
        )
    s = outcome.summary
    closes = s.sections.connections.closes
    assert sum(n for k, n in closes.items() if k.startswith(reason)) >= 2, closes  # 1 per client+
    assert s.metrics["counters"]["closes"] == sum(closes.values())
    from wsbench.report.console import render_summary
    from wsbench.report.html import render_html

    text = render_summary(s)
    assert "connection closes by reason" in text and reason in text
    assert reason in render_html(s, {})
    RunSummary.load(tmp_path / "summary.json")  # written, and still a valid summary
    jsonschema.validate(
        json.loads((tmp_path / "summary.json").read_text()),
        schema(),
        cls=jsonschema.Draft202012Validator,
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_polling_body_over_max_payload_is_refused(tmp_path, chunked) -> None:  # noqa: ANN001
    """resp.text() read two 200 MB bodies (499 MB RSS for 2 clients)."""
    size = 50_000_000
    handler = big_polling_body(size, chunked=chunked)
    with Rogue(handler) as url:
        outcome = run_text(
            "transport: polling\nclients: 1\nduration: 2s\ngroups: [{flow: [{connect: /}]}]\n",
            tmp_path,
            target=url,
        )
    s = outcome.summary
    closes = s.sections.connections.closes
    key = next((k for k in closes if "over the 1,000,000-byte bound" in k), None)
    assert key is not None and key.startswith("transport error: GET body"), closes
    assert "maxPayload 100,000" in key
    if not chunked:
        assert "of 50,000,012 bytes" in key  # refused on its Content-Length, nothing read
    else:  # read at most the bound (+ what was in flight), then hung up: per body, since the
        # client opens up to 5 sessions in the run and each body's in-flight bytes fill the
        # loopback's autotuned buffers (~3-7 MB per body; 29.7 MB over 4 bodies in one loaded run)
        assert handler.state["most"] < size / 2, handler.state
    assert violations(s).get("malformed_frame", 0) >= 1  # like a websocket message over 1009
    assert outcome.exit_status == 1
