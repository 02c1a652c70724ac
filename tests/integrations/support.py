"""Helpers for the Locust integration tests: a reference server and a Locust runner.

Every process started here is a direct child (``subprocess``), bounded by a scaled
timeout and killed in teardown, so a failing test leaves nothing running.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def start_reference_server(*args: str) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "reference_server", "--port", "0", "--app-heartbeat-interval", "0",
           *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if "listening on " not in line:
        stop(proc)
        pytest.skip(f"reference server did not start: {line!r}")
    return proc, line.split("listening on ", 1)[1]


def reference_server_factory() -> Iterator[object]:
    """A factory: ``reference_server("--fault", "room-leak")`` -> URL; all stopped at the end."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> str:
        proc, url = start_reference_server(*args)
        started.append(proc)
        return url

    yield start
    for proc in started:
        stop(proc)


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
