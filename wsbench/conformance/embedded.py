"""Start servers under test as subprocesses on a free loopback port (``--target embedded``).

:class:`ServerProcess` runs a command that prints one start line ``... listening on
http://HOST:PORT`` and stops it on exit (SIGTERM, then SIGKILL). :func:`embedded_targets`
starts the Python reference server twice: the main target (auth off, so the protocol tier
can send the official literal ``40``) and a twin with ``--jwt-secret`` and ``--recovery``
for the auth and recovery checks. Heartbeat values are the official suites' 300/200 ms.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from wsbench.conformance.runner import TargetSpec
from wsbench.exceptions import ConnectFailed

__all__ = ["ServerProcess", "embedded_targets", "SUITE_OPTIONS"]

_LINE = re.compile(r"listening on (http://\S+)")

SUITE_OPTIONS: tuple[str, ...] = (
    "--ping-interval",
    "300",
    "--ping-timeout",
    "200",
    "--max-payload",
    "1000000",
    "--connect-timeout",
    "1000",
    "--app-heartbeat-interval",
    "500",
)
"""The official suites' settings (research conformance.md §1.1) plus a short app heartbeat."""


class ServerProcess:
    """A server subprocess; ``url`` is known once :meth:`start` read the start line."""

    def __init__(
        self, argv: Sequence[str], cwd: str | Path | None = None, timeout: float = 15.0
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.timeout = timeout
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        """Start and wait for the start line.

        Raises:
            ConnectFailed: the process exited or printed no start line in time.
        """
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + self.timeout
        assert self._proc.stdout is not None
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:
                break
            match = _LINE.search(line)
            if match:
                self.url = match.group(1)
                return self.url
        self.stop()
        raise ConnectFailed(" ".join(self.argv[:3]), "the server printed no start line")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def reference_argv(*extra: str) -> list[str]:
    return [sys.executable, "-m", "reference_server", "--port", "0", *SUITE_OPTIONS, *extra]


@contextlib.contextmanager
def embedded_targets(extra: Sequence[str] = (), name: str = "embedded") -> Iterator[TargetSpec]:
    """Start the reference server and its auth+recovery twin; yield the target spec."""
    secret = secrets.token_hex(16)
    with (
        ServerProcess(reference_argv(*extra)) as main,
        ServerProcess(reference_argv("--jwt-secret", secret, "--recovery", *extra)) as aux,
    ):
        yield TargetSpec(main.url, name, auth_url=aux.url, auth_secret=secret, recovery_url=aux.url)
