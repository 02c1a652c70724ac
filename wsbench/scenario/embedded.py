"""The embedded target: the reference server in its own process, on a free loopback port.

Theory of operation
-------------------
``target: embedded`` must never let the server share the driver's event loop (or
its GIL): a load generator that measures a server it is itself slowing down
measures nothing. :class:`EmbeddedServer` therefore starts
``python -m reference_server --host 127.0.0.1 --port 0 ...`` as a child process,
with the scenario's server settings turned into its command-line options
(:func:`server_args`), and reads the one line the server prints on start::

    wsbench reference server listening on http://127.0.0.1:PORT

The child runs in a new session (``start_new_session``), so a Ctrl-C in the
terminal reaches the driver only: the driver decides when the server stops, after
it has stopped its clients and judged what was in flight. Its stderr goes to a
temporary file whose tail is quoted if it dies.

* :meth:`EmbeddedServer.start` — spawn and wait for the start line (bounded).
* :meth:`EmbeddedServer.restart` — the ``restart_server`` fault: SIGTERM, wait
  ``downtime``, start again **on the same port** so clients reconnect to the URL
  they know; returns the monotonic time it was back.
* :meth:`EmbeddedServer.stop` — SIGTERM, then SIGKILL after a grace period; idempotent.
* :attr:`EmbeddedServer.died` — a future set with a reason when the process exits
  on its own (not by stop/restart): the runner ends the run as *partial*.

The same class starts the Node twin (``node reference_server/node/server.js``)
when given its command, which the end-to-end tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from wsbench.exceptions import ConfigError, WsbenchError
from wsbench.metrics import now_ns
from wsbench.scenario.model import server_args

__all__ = ["EmbeddedServer", "ServerStartFailed", "server_args"]

_LISTENING = re.compile(r"listening on (https?://\S+)")
START_TIMEOUT = 15.0 * float(os.environ.get("WSBENCH_TIMEOUT_FACTOR", "1"))


class ServerStartFailed(WsbenchError):
    """The embedded server did not start (its stderr tail is in the message)."""


class EmbeddedServer:
    """A server child process on loopback; see the module docstring.

    Args:
        args: extra options after ``--host``/``--port``.
        command: the program and its first arguments (default: this Python,
            ``-m reference_server``).
        host: the interface to bind (loopback by default: load stays on this host).
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        command: Sequence[str] | None = None,
        host: str = "127.0.0.1",
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        self.command = list(command) if command else [sys.executable, "-m", "reference_server"]
        self.args = list(args)
        self.host = host
        self.port = 0
        self.url = ""
        self.cwd = cwd
        self.restarts = 0
        self.banner = ""
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr = tempfile.TemporaryFile(prefix="wsbench-server-")  # noqa: SIM115
        self._watch: asyncio.Task[None] | None = None
        self._expected_exit = False
        self.died: asyncio.Future[str] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def stderr_tail(self, lines: int = 8) -> str:
        """The last lines the server wrote to stderr."""
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        self._stderr.seek(0, os.SEEK_END)
        return "\n".join(text.strip().splitlines()[-lines:])

    async def start(self, timeout: float = START_TIMEOUT) -> str:
        """Start the server and return its URL.

        Raises:
            ServerStartFailed: it exited, printed no start line, or took longer than ``timeout``.
        """
        if self.died is None:
            self.died = asyncio.get_running_loop().create_future()
        argv = [*self.command, "--host", self.host, "--port", str(self.port), *self.args]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=self._stderr, start_new_session=True, cwd=self.cwd, env=env,
            )  # fmt: skip
        except OSError as exc:
            raise ServerStartFailed(f"cannot start the embedded server ({argv[0]}): {exc}") from exc
        self._proc = proc
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                line = (await proc.stdout.readline()).decode("utf-8", "replace").strip()
        except TimeoutError:
            await self._kill(proc)
            raise ServerStartFailed(
                f"the embedded server printed no start line within {timeout:g} s; "
                f"stderr: {self.stderr_tail()!r}"
            ) from None
        found = _LISTENING.search(line)
        if not found:
            await self._kill(proc)
            raise ServerStartFailed(
                f"the embedded server did not start (exit {proc.returncode}, said {line!r}); "
                f"stderr: {self.stderr_tail()!r}"
            )
        self.banner = line
        self.url = found.group(1)
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
        self._expected_exit = False
        self._watch = asyncio.get_running_loop().create_task(self._watch_exit(proc))
        return self.url

    async def _watch_exit(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        with contextlib.suppress(Exception):
            await proc.stdout.read()  # drain; EOF when it exits
        code = await proc.wait()
        if not self._expected_exit and self.died is not None and not self.died.done():
            tail = self.stderr_tail()
            self.died.set_result(
                f"embedded server (pid {proc.pid}) exited with code {code} during the run"
                + (f"; stderr: {tail}" if tail else "")
            )

    async def _kill(self, proc: asyncio.subprocess.Process, grace: float = 5.0) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    async def stop(self) -> int | None:
        """Stop the server (SIGTERM, SIGKILL after 5 s); returns its exit code. Idempotent."""
        proc = self._proc
        if proc is None:
            return None
        self._expected_exit = True
        await self._kill(proc)
        if self._watch is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._watch, 2.0)
        return proc.returncode

    async def restart(self, downtime: float) -> int:
        """Stop, stay down ``downtime`` seconds, start on the same port; the monotonic ns it was up."""
        if not self.port:
            raise ConfigError("restart before the embedded server was started")
        await self.stop()
        await asyncio.sleep(downtime)
        deadline = now_ns() + int(START_TIMEOUT * 1e9)
        while True:
            try:
                await self.start()
                break
            except ServerStartFailed:
                if now_ns() > deadline:  # the port may linger briefly after the stop
                    raise
                await asyncio.sleep(0.2)
        self.restarts += 1
        return now_ns()

    def close(self) -> None:
        """Release the stderr file (call after :meth:`stop`)."""
        self._stderr.close()

    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        self.close()


def node_twin_command(root: str | os.PathLike[str]) -> list[str]:
    """The command that starts the Node twin from a checkout at ``root``."""
    return ["node", str(Path(root) / "reference_server" / "node" / "server.js")]
