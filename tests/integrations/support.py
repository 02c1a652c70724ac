"""Helpers for the Locust integration tests: reference servers and a Locust runner.

Servers come from :mod:`wsbench.launch`; Locust runs as a direct child (``subprocess``).
Every process is bounded by a scaled timeout and stopped in teardown, so a failing test
leaves nothing running.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wsbench.launch import Server, reference_server

ROOT = Path(__file__).resolve().parents[2]
SHORT = Path(__file__).with_name("short.yaml")
FACTOR = float(os.environ.get("WSBENCH_TIMEOUT_FACTOR", "1"))


def scaled(seconds: float) -> float:
    return seconds * FACTOR


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Terminate a child (SIGTERM, then SIGKILL) and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(scaled(grace))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def reference_server_factory() -> Iterator[Callable[..., str]]:
    """A factory: ``reference_server("--fault", "room-leak")`` -> URL; all stopped at the end.

    The servers run without the app heartbeat (``--app-heartbeat-interval 0``).
    """
    started: list[Server] = []

    def start(*args: str) -> str:
        server = Server(reference_server("--app-heartbeat-interval", "0", *args))
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.close()


def wsbench_locust(args: list[str], cwd: Path, timeout: float = 60.0,
                   env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``wsbench locust ARGS`` (stdout+stderr to cwd/<name>.log)."""
    log = open(cwd / f"locust-{len(list(cwd.glob('locust-*.log')))}.log", "w")  # noqa: SIM115
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "wsbench", "locust", *args], cwd=cwd,
                            stdout=log, stderr=subprocess.STDOUT, env=full_env)


def wait(proc: subprocess.Popen, timeout: float, cwd: Path) -> int:
    try:
        return proc.wait(scaled(timeout))
    except subprocess.TimeoutExpired:
        stop(proc)
        logs = "\n".join(p.read_text()[-3000:] for p in sorted(cwd.glob("locust-*.log")))
        pytest.fail(f"wsbench locust did not finish in {scaled(timeout):g}s\n{logs}")


def read_csv(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(newline="") as f:
        return list(csv.DictReader(f))
