"""wsbench.launch: start, URL, args, restart, death, bounded stop, Node twin, asyncio face.

Real child processes on loopback: the Python reference server, the Node twin, and small
``python -c`` programs that misbehave on purpose (die, never print a start line, ignore
SIGTERM). Every wait is bounded by a deadline scaled by WSBENCH_TIMEOUT_FACTOR.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
import urllib.request

import pytest

from tests.conftest import scaled
from wsbench.exceptions import ConfigError, InvalidState
from wsbench.launch import (
    AsyncServer,
    Server,
    ServerDied,
    ServerSpec,
    ServerStartFailed,
    node_twin,
    node_twin_available,
    reference_server,
)


def handshake(url: str) -> dict:
    """One Engine.IO polling handshake (stdlib HTTP): the server's open packet."""
    with urllib.request.urlopen(
        f"{url}/socket.io/?EIO=4&transport=polling", timeout=scaled(5)
    ) as r:
        body = r.read().decode()
    assert body.startswith("0{"), body
    return json.loads(body[1:])


def script(code: str, name: str = "test program") -> ServerSpec:
    """A ``python -c`` launchable (it gets ``--host``/``--port`` in sys.argv and ignores them)."""
    return ServerSpec((sys.executable, "-c", code), name=name)


PRINT_START = "print('fake listening on http://127.0.0.1:9', flush=True)\n"


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_start_gives_a_loopback_url_and_passes_the_args() -> None:
    with Server(reference_server("--ping-interval", "300", "--ping-timeout", "200")) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.running
        assert server.port == int(server.url.rsplit(":", 1)[1])
        assert "reference server listening on " + server.url in server.banner
        opened = handshake(server.url)
        assert opened["pingInterval"] == 300 and opened["pingTimeout"] == 200
        pid = server.pid
    assert not server.running and gone(pid)


def test_restart_comes_back_on_the_same_port_and_a_stop_is_not_a_death() -> None:
    deaths: list[ServerDied] = []
    with Server(reference_server()) as server:
        server.on_death(deaths.append)
        url, first = server.url, server.pid
        before = time.monotonic_ns()
        up = server.restart(0.1)
        assert up >= before + 100_000_000  # it stayed down the downtime
        assert server.url == url and server.pid != first and server.restarts == 1
        assert handshake(server.url)["sid"]
        assert server.stop() == 0  # SIGTERM: the server exits cleanly
        assert server.stop() == 0  # idempotent
    assert deaths == [] and server.died is None


def test_a_death_is_reported_with_its_exit_code_and_stderr_tail() -> None:
    code = (
        "import sys, time\n" + PRINT_START
        + "sys.stderr.write('first line\\nthe last words\\n'); sys.stderr.flush()\n"
        "sys.stdin.read()\n"  # stdin is /dev/null: returns at once
        "sys.exit(3)\n"
    )  # fmt: skip
    reported = threading.Event()
    deaths: list[ServerDied] = []
    server = Server(script(code, "dying server"))
    server.on_death(lambda d: (deaths.append(d), reported.set()))
    try:
        server.start()
        assert reported.wait(scaled(10))
    finally:
        server.close()
    (died,) = deaths
    assert died.exit_code == 3 and died.name == "dying server"
    assert died.stderr_tail.endswith("the last words")
    assert server.died == died
    assert "exited with code 3 during the run; stderr: first line" in str(died)


def test_a_killed_reference_server_is_a_death_with_its_signal() -> None:
    reported = threading.Event()
    with Server(reference_server()) as server:
        server.on_death(lambda _d: reported.set())
        os.kill(server.pid, signal.SIGKILL)
        assert reported.wait(scaled(10))
        assert server.died is not None and server.died.exit_code == -signal.SIGKILL


def test_a_server_that_exits_before_its_start_line_fails_clearly() -> None:
    with pytest.raises(ServerStartFailed) as err, Server(reference_server("--fault", "nope")):
        pass
    text = str(err.value)
    assert "embedded reference server did not start" in text
    assert "exited with code 2 before its start line" in text
    assert "--fault nope" in text and "nope" in text.split("stderr:", 1)[1]


def test_no_start_line_within_the_deadline_kills_it() -> None:
    server = Server(script("import time; time.sleep(60)", "silent server"))
    started = time.monotonic()
    with pytest.raises(ServerStartFailed, match="printed no start line within 0.5 s"):
        server.start(timeout=0.5)
    assert time.monotonic() - started < 0.5 + scaled(6)
    assert not server.running and server.returncode is not None
    server.close()


def test_a_program_that_cannot_be_spawned_fails_clearly() -> None:
    with pytest.raises(ServerStartFailed, match="cannot start the x .*no-such-program"):
        Server(ServerSpec(("/no-such-program",), name="x")).start()


def test_stop_is_bounded_even_when_sigterm_is_ignored() -> None:
    code = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        + PRINT_START + "time.sleep(60)\n"
    )  # fmt: skip
    server = Server(script(code, "stubborn server"))
    server.start()
    started = time.monotonic()
    assert server.stop(grace=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 0.5 + scaled(5)
    assert server.died is None  # asked for: not a death
    server.close()


def test_a_stop_during_the_downtime_ends_the_restart() -> None:
    with Server(reference_server()) as server:
        failure: list[BaseException] = []

        def restart() -> None:
            try:
                server.restart(scaled(30))
            except ServerStartFailed as exc:
                failure.append(exc)

        worker = threading.Thread(target=restart)
        worker.start()
        deadline = time.monotonic() + scaled(10)
        while server.running and time.monotonic() < deadline:  # the restart's stop
            time.sleep(0.01)
        server.stop()
        worker.join(scaled(10))
        assert not worker.is_alive() and "stopped during its restart" in str(failure[0])
        assert not server.running and server.restarts == 0


def test_misuse_and_bad_specs_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="loopback only"):
        reference_server(host="10.0.0.1")
    with pytest.raises(ConfigError, match="must capture the URL"):
        ServerSpec(("x",), ready="listening")
    with pytest.raises(ConfigError, match="needs a command"):
        ServerSpec(())
    with pytest.raises(InvalidState, match="before it was started"):
        Server(reference_server()).restart(0)
    with Server(reference_server()) as server, pytest.raises(InvalidState, match="already"):
        server.start()
    with pytest.raises(InvalidState, match="after close"):
        server.start()


@pytest.mark.node
@pytest.mark.skipif(
    not node_twin_available(), reason="needs node and npm ci in reference_server/node"
)
def test_the_node_twin_starts_with_its_args_and_restarts() -> None:
    with Server(node_twin("--ping-interval", "300", "--ping-timeout", "200")) as twin:
        assert "node twin listening on " + twin.url in twin.banner
        assert handshake(twin.url)["pingInterval"] == 300
        twin.restart(0)
        assert handshake(twin.url)["pingTimeout"] == 200 and twin.restarts == 1
        assert twin.stop() == 0


def test_the_async_face_starts_restarts_stops_and_reports_a_death() -> None:
    async def go() -> None:
        async with AsyncServer(reference_server("--max-rooms", "5")) as server:
            url = server.url
            assert url.startswith("http://127.0.0.1:") and server.banner
            ticks = 0

            async def tick() -> None:  # the loop keeps running during a restart
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)

            ticker = asyncio.ensure_future(tick())
            await asyncio.wait_for(server.restart(0.2), scaled(20))
            ticker.cancel()
            assert ticks > 5 and server.restarts == 1 and server.url == url
            assert server.died is not None and not server.died.done()
            os.kill(server.pid, signal.SIGKILL)
            died = await asyncio.wait_for(server.died, scaled(10))
            assert died.exit_code == -signal.SIGKILL and "exited with code -9" in str(died)
        assert not server.running

    asyncio.run(go())
