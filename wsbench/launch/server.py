"""One server child process on loopback: spec, start, stop, restart, death (see the package doc)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Protocol

from wsbench.exceptions import ConfigError, InvalidState, WsbenchError
from wsbench.metrics import now_ns

__all__ = [
    "START_TIMEOUT",
    "STOP_GRACE",
    "Launchable",
    "Server",
    "ServerDied",
    "ServerSpec",
    "ServerStartFailed",
    "node_twin",
    "node_twin_available",
    "reference_server",
    "seed_server",
    "seed_server_available",
    "timeout_factor",
]

START_TIMEOUT = 15.0
"""Seconds a server has to print its start line (times ``WSBENCH_TIMEOUT_FACTOR``)."""
STOP_GRACE = 5.0
"""Seconds between SIGTERM and SIGKILL on a stop."""
LISTENING = r"listening on (https?://\S+)"
"""The start line every launchable server prints (group 1 is its base URL)."""
LOOPBACK = ("127.0.0.1", "::1", "localhost")
_TAIL_BYTES = 64 * 1024


def timeout_factor() -> float:
    """``WSBENCH_TIMEOUT_FACTOR`` (slow machines set it above 1); a bad value is a ConfigError."""
    text = os.environ.get("WSBENCH_TIMEOUT_FACTOR", "1")
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ConfigError(f"WSBENCH_TIMEOUT_FACTOR must be a positive number, not {text!r}")
    return value


class ServerStartFailed(WsbenchError):
    """A server did not start: it could not be spawned, exited, or printed no start line in time.

    The message names the command and quotes the server's exit code and stderr tail.
    """


@dataclass(frozen=True, slots=True)
class ServerDied:
    """A server exited without being asked to (what :meth:`Server.on_death` callbacks get)."""

    name: str
    pid: int
    exit_code: int
    stderr_tail: str

    def __str__(self) -> str:
        text = f"{self.name} (pid {self.pid}) exited with code {self.exit_code} during the run"
        return f"{text}; stderr: {self.stderr_tail}" if self.stderr_tail else text


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """What to start: ``command --host HOST --port PORT args...`` printing a ``ready`` line.

    Programs with other conventions (Redis, HAProxy: the embedded cluster) set ``address``
    (how the interface and port are passed; ``()`` for none), ``url`` (the URL, formatted
    with ``host`` and ``port``, when the start line carries none) and ``probe`` (ready once
    a TCP connection to ``host:port`` succeeds, for a program that prints no start line).

    Attributes:
        command: the program and its first arguments.
        args: options after ``--host``/``--port``.
        host: the interface to bind; loopback only (load stays on this host).
        port: ``0`` lets the server pick a free port (kept across restarts).
        cwd: the working directory of the child (default: ours).
        name: how messages name it ("embedded reference server").
        ready: a regular expression for its start line; group 1 is its base URL.
        address: the options naming the interface and port, ``{host}``/``{port}`` filled in.
        url: the URL template (``redis://{host}:{port}``) when ``ready`` captures none.
        probe: ready when ``host:port`` accepts a connection (``port`` must be fixed).
    """

    command: tuple[str, ...]
    args: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 0
    cwd: str | None = None
    name: str = "server"
    ready: str = LISTENING
    address: tuple[str, ...] = ("--host", "{host}", "--port", "{port}")
    url: str = ""
    probe: bool = False

    def __post_init__(self) -> None:
        if not self.command:
            raise ConfigError("a server spec needs a command")
        if self.host not in LOOPBACK:
            raise ConfigError(
                f"a launched server binds loopback only (127.0.0.1 or ::1), not {self.host!r}"
            )
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0..65535, not {self.port}")
        try:
            pattern = re.compile(self.ready)
        except re.error as exc:
            raise ConfigError(f"bad start-line pattern {self.ready!r}: {exc}") from None
        if pattern.groups < 1 and not self.url:
            raise ConfigError(f"the start-line pattern {self.ready!r} must capture the URL")
        if self.probe and (not self.port or not self.url):
            raise ConfigError("a probed server needs a fixed port and a url template")

    def argv(self, port: int | None = None) -> list[str]:
        """The command line, with ``port`` instead of the spec's if given."""
        port = self.port if port is None else port
        address = [a.format(host=self.host, port=port) for a in self.address]
        return [*self.command, *address, *self.args]

    def with_args(self, *args: str) -> ServerSpec:
        """The same spec with ``args`` appended to its options."""
        return replace(self, args=(*self.args, *args))


def reference_server(*args: str, host: str = "127.0.0.1", port: int = 0) -> ServerSpec:
    """``python -m reference_server`` (this interpreter) with ``args``."""
    return ServerSpec(
        (sys.executable, "-m", "reference_server"), tuple(args), host, port,
        name="embedded reference server",
    )  # fmt: skip


def _node_dir() -> Path:
    spec = importlib.util.find_spec("reference_server")  # locates it; imports nothing
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the reference_server package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "node"


def node_twin_available() -> bool:
    """Whether ``node`` is on PATH and ``reference_server/node`` has its packages installed."""
    try:
        node_dir = _node_dir()
    except ConfigError:
        return False
    return shutil.which("node") is not None and (node_dir / "node_modules" / "socket.io").is_dir()


def node_twin(*args: str, host: str = "127.0.0.1", port: int = 0) -> ServerSpec:
    """The Node twin (official socket.io 4.x, ``reference_server/node/server.js``) with ``args``."""
    return ServerSpec(
        ("node", str(_node_dir() / "server.js")), tuple(args), host, port, name="node twin"
    )


def _seed_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "tests" / "targets" / "seed"


def seed_server_available() -> bool:
    """Whether ``node`` is on PATH and ``tests/targets/seed`` (a checkout) has its packages."""
    node_modules = _seed_dir() / "node_modules"
    return shutil.which("node") is not None and (node_modules / "socket.io").is_dir()


def seed_server(
    *args: str,
    fixed: bool = False,
    fault: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> ServerSpec:
    """The seed document's servers verbatim (``tests/targets/seed/server.js``, socket.io 4.8).

    Args:
        args: more options (``--jwt-secret S``: the seed's middleware verifies tokens with it).
        fixed: start ``fixed.js`` instead, the copy with the seed's real defects fixed.
        fault: one fault of the seed server's list (``--fault NAME``; not with ``fixed``).
    """
    if fixed and fault is not None:
        raise ConfigError("the fixed seed server has no faults")
    script = _seed_dir() / ("fixed.js" if fixed else "server.js")
    extra = ("--fault", fault) if fault is not None else ()
    name = "fixed seed server" if fixed else "seed server" + (f" (fault {fault})" if fault else "")
    return ServerSpec(("node", str(script)), (*extra, *args), host, port, name=name)


class Launchable(Protocol):
    """What every launchable offers (a :class:`Server`; later an embedded cluster)."""

    url: str  #: base URL once started
    banner: str  #: the start line
    restarts: int  #: completed restarts

    @property
    def pid(self) -> int | None: ...  # the process to sample for CPU/RSS

    @property
    def running(self) -> bool: ...

    def start(self, timeout: float | None = None) -> str: ...

    def stop(self, grace: float = STOP_GRACE) -> int | None: ...

    def restart(self, downtime: float) -> int: ...

    def on_death(self, callback: Callable[[ServerDied], None]) -> None: ...

    def close(self) -> None: ...


class _Child:
    """One spawned process and the thread that reads its stdout until it exits."""

    def __init__(self, proc: subprocess.Popen[bytes], ready: re.Pattern[str]) -> None:
        self.proc = proc
        self.ready = ready
        self.url = ""
        self.banner = ""
        self.started = threading.Event()  # the start line was seen, or stdout closed
        self.expected_exit = False
        self.thread = threading.Thread(target=self._read, name=f"server-{proc.pid}", daemon=True)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            for raw in self.proc.stdout:  # drained to EOF so the child never blocks on a pipe
                if not self.url:
                    line = raw.decode("utf-8", "replace").strip()
                    found = self.ready.search(line)
                    if found:
                        self.banner = line
                        self.url = found.group(1) if self.ready.groups else line
                        self.started.set()
        finally:
            self.started.set()
            self.proc.stdout.close()


class Server:
    """A server child process; see the package docstring.

    Args:
        spec: what to start (:func:`reference_server`, :func:`node_twin` or your own).
        stderr_lines: how many stderr lines a failure or death report quotes.
    """

    def __init__(self, spec: ServerSpec, *, stderr_lines: int = 8) -> None:
        self.spec = spec
        self.port = spec.port
        self.url = ""
        self.banner = ""
        self.restarts = 0
        self.stderr_lines = stderr_lines
        self._ready = re.compile(spec.ready)
        self._child: _Child | None = None
        self._stderr: IO[bytes] = tempfile.TemporaryFile(prefix="wsbench-server-")  # noqa: SIM115
        self._lock = threading.RLock()
        self._halt = threading.Event()  # set by stop(): a restart in progress gives up
        self._callbacks: list[Callable[[ServerDied], None]] = []
        self.died: ServerDied | None = None  #: the last death not asked for, if any

    # -- state --

    @property
    def pid(self) -> int | None:
        return self._child.proc.pid if self._child is not None else None

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._child.proc.poll() if self._child is not None else None

    def stderr_tail(self, lines: int | None = None) -> str:
        """The last lines the server wrote to stderr (over all its starts)."""
        with self._lock:
            if self._stderr.closed:
                return ""
            # pread: the child writes through the same file offset, which a seek would move
            fd = self._stderr.fileno()
            size = os.fstat(fd).st_size
            start = max(0, size - _TAIL_BYTES)
            text = os.pread(fd, size - start, start).decode("utf-8", "replace")
        return "\n".join(text.strip().splitlines()[-(lines or self.stderr_lines) :])

    def on_death(self, callback: Callable[[ServerDied], None]) -> None:
        """Call ``callback(ServerDied)`` (from a worker thread) when the server exits on its own."""
        self._callbacks.append(callback)

    # -- life cycle --

    def start(self, timeout: float | None = None) -> str:
        """Start the server and return its URL once its start line is read.

        Args:
            timeout: seconds to wait for the start line (default :data:`START_TIMEOUT` times
                ``WSBENCH_TIMEOUT_FACTOR``).

        Raises:
            InvalidState: it is already running, or :meth:`close` was called.
            ServerStartFailed: it could not be spawned, exited first, or took longer than
                ``timeout`` (it is killed then).
        """
        timeout = START_TIMEOUT * timeout_factor() if timeout is None else timeout
        with self._lock:
            if self.running:
                raise InvalidState(f"{self.spec.name} is already running (pid {self.pid})")
            if self._stderr.closed:
                raise InvalidState(f"{self.spec.name}: start after close()")
            argv = self.spec.argv(self.port)
            try:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
                    cwd=self.spec.cwd, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                    start_new_session=True,
                )  # fmt: skip
            except OSError as exc:
                raise ServerStartFailed(
                    f"cannot start the {self.spec.name} ({argv[0]}): {exc}"
                ) from exc
            child = _Child(proc, self._ready)
            self._child = child
            child.thread.start()
            threading.Thread(target=self._watch, args=(child,), daemon=True).start()
            if self.spec.probe:
                timed_out = not self._probe(child, timeout)
            else:
                timed_out = not child.started.wait(timeout)
                if child.url and self.spec.url:
                    child.url = self.spec.url.format(host=self.spec.host, port=self.port)
            if timed_out or not child.url:
                self._terminate(child, STOP_GRACE)
                said = (
                    f"printed no start line within {timeout:g} s"
                    if timed_out
                    else f"exited with code {proc.returncode} before its start line"
                )
                tail = self.stderr_tail()
                raise ServerStartFailed(
                    f"the {self.spec.name} did not start: it {said} ({' '.join(argv)})"
                    + (f"; stderr: {tail}" if tail else "")
                )
            self.url, self.banner = child.url, child.banner
            self.port = int(child.url.rsplit(":", 1)[1].split("/")[0])
            return self.url

    def _probe(self, child: _Child, timeout: float) -> bool:
        """Wait until ``host:port`` accepts a connection (or the child exits); False on timeout."""
        deadline = now_ns() + int(timeout * 1e9)
        while child.proc.poll() is None:
            try:
                with socket.create_connection((self.spec.host, self.port), timeout=0.5):
                    child.url = self.spec.url.format(host=self.spec.host, port=self.port)
                    child.banner = f"{self.spec.name} accepts connections on {child.url}"
                    return True
            except OSError:
                if now_ns() > deadline:
                    return False
                with contextlib.suppress(subprocess.TimeoutExpired):  # returns early on an exit
                    child.proc.wait(0.02)  # poll again shortly: a readiness probe, not a verdict
        return True  # it exited: reported below as "exited before its start line"

    def _watch(self, child: _Child) -> None:
        code = child.proc.wait()
        child.thread.join()
        if child.expected_exit or not child.url:  # a failed start is reported by start()
            return
        died = ServerDied(self.spec.name, child.proc.pid, code, self.stderr_tail())
        self.died = died
        for callback in list(self._callbacks):
            with contextlib.suppress(Exception):  # a caller's bug must not kill the watcher
                callback(died)

    def _terminate(self, child: _Child, grace: float) -> None:
        child.expected_exit = True
        proc = child.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: children too
                proc.wait()
        child.thread.join(grace)

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """Stop it (SIGTERM, SIGKILL after ``grace`` s); its exit code, None if never started.

        Idempotent; a restart in progress gives up.
        """
        self._halt.set()
        with self._lock:
            child = self._child
            if child is None:
                return None
            self._terminate(child, grace)
            return child.proc.returncode

    def restart(self, downtime: float) -> int:
        """Stop, stay down ``downtime`` s, start again on the same port; monotonic ns it was up.

        Raises:
            InvalidState: it was never started (no port to come back on).
            ServerStartFailed: it did not come back before the start deadline, or
                :meth:`stop` was called meanwhile.
        """
        if not self.url:
            raise InvalidState(f"restart of the {self.spec.name} before it was started")
        self._halt.clear()
        with self._lock:
            if self._child is not None:
                self._terminate(self._child, STOP_GRACE)
        deadline = now_ns() + int(START_TIMEOUT * timeout_factor() * 1e9)
        if self._halt.wait(downtime):
            raise ServerStartFailed(f"the {self.spec.name} was stopped during its restart")
        while True:
            try:
                with self._lock:
                    if self._halt.is_set():
                        raise ServerStartFailed(
                            f"the {self.spec.name} was stopped during its restart"
                        )
                    self.start()
                break
            except ServerStartFailed:
                # the port may linger briefly after the stop: retry until the deadline
                if self._halt.is_set() or now_ns() > deadline:
                    raise
                self._halt.wait(0.2)
        self.restarts += 1
        return now_ns()

    def close(self) -> None:
        """Stop it if running and release the stderr file."""
        self.stop()
        with self._lock:
            self._stderr.close()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
