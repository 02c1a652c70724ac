"""scenarios/acks.yaml judges the echo acks' payloads (h39 #1, issue 11 #3): its echo emits
are stamped and judged by apps/reference.yaml (``ack: {args: $args}``), so a server whose
echo ack drops the arguments fails the run with ``ack_mismatch``. The server is a real
python-socketio one on loopback that answers ``echo`` wrongly and ``request ack`` rightly."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import socketio
from aiohttp import web

from tests.conftest import ROOT
from tests.e2e.conftest import run_text, violations
from tests.e2e.test_scenarios import _short


class _WrongEcho:
    """``echo`` acked with ``{n: 0}`` instead of its arguments; ``request ack`` as in docs/events.md."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _start(self) -> str:
        sio = socketio.AsyncServer(async_mode="aiohttp", always_connect=True)

        @sio.on("echo")
        async def echo(sid: str, *args: Any) -> Any:
            return {"n": 0}

        @sio.on("request ack")
        async def request_ack(sid: str, body: Any) -> Any:
            try:
                answer = await sio.call("ack request", body["data"], to=sid, timeout=1)
            except socketio.exceptions.TimeoutError:
                return {"ok": False, "error": "timeout"}
            return {"ok": True, "response": answer}

        app = web.Application()
        sio.attach(app)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    def __enter__(self) -> str:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def __exit__(self, *exc: Any) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def test_acks_scenario_fails_on_wrong_echo_ack(tmp_path) -> None:
    path = ROOT / "scenarios" / "acks.yaml"
    with _WrongEcho() as url:
        outcome = run_text(path.read_text(), tmp_path, source=str(path), target=url, **_short(path))
    got = violations(outcome.summary)
    assert got.get("ack_mismatch", 0) > 0, got
    assert outcome.exit_status == 1
