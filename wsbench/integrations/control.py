"""The control channel from the Locust process to ``wsbench locust``, which owns the embedded server.

Theory of operation
-------------------
``fault: restart_server`` under Locust restarts the embedded server, and that server is a
child of the ``wsbench locust`` parent (:func:`wsbench.integrations.launch.run_locust`),
not of the Locust process running the users. The parent keeps it (rather than the Locust
master starting it itself) because the parent already starts it before Locust (so Locust
gets ``--host``), reports its death, and stops it (SIGTERM, then SIGKILL) however Locust
ends, even killed; a server started from a locustfile import would run under gevent's
monkey-patching (threads and ``subprocess`` turned into greenlets) and leak when Locust is
killed. So the parent serves requests on a **socketpair**: the Locust process inherits one
end (``pass_fds``; its number in the environment variable :data:`ENV`), the parent serves
the other from a thread. A socketpair is private to the two processes (no port to find,
nothing another local user can connect to) and reads EOF when either side exits.

Protocol: one JSON object per line each way. ``{"op": "restart", "downtime": S}`` answers
``{"ok": true, "up_ns": N, "pid": P, "restarts": K}`` once the server is back (``up_ns``:
``time.monotonic_ns`` of this host, the clock of the whole run); ``{"op": "info"}`` answers
``{"ok": true, "pid", "restarts", "banner", "pids"}`` (every pid it ran as);
``{"op": "restart_redis", "downtime": S}`` (``fault: restart_redis``, an embedded cluster
only) answers ``{"ok": true, "down_ns", "back_ns", "resubscribed_ns", "redis_restarts"}``
once every node has re-subscribed (``resubscribed_ns`` null: not by the launcher's
deadline); a failure answers ``{"ok": false, "error":
"..."}``. Requests are served one at a time in arrival order: a restart asked while one runs
waits for it, as under ``wsbench run`` (its parent's restart lock).

Who asks: the Locust process that holds the channel (the local runner, or the master);
a worker asks the master over Locust's messaging (:mod:`wsbench.integrations.locust`), and
the master asks here. Nothing here imports locust or gevent: under Locust, ``socket`` is
already gevent's, so :class:`ControlClient` blocks only its greenlet.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from wsbench.exceptions import ConfigError, WsbenchError
from wsbench.launch import START_TIMEOUT, STOP_GRACE, Server
from wsbench.launch.cluster import Cluster
from wsbench.launch.server import timeout_factor

__all__ = ["ENV", "ControlClient", "ControlError", "ControlServer"]

ENV = "WSBENCH_LOCUST_CONTROL_FD"
"""The environment variable naming the Locust process's end of the channel (a file descriptor)."""
_MAX_LINE = 64 * 1024


class ControlError(WsbenchError):
    """The control channel failed: the parent is gone, answered an error, or did not answer."""


class ControlServer:
    """The parent's end: serves requests on ``server`` from a daemon thread.

    Use: ``ctl = ControlServer(server)``; start the child with ``pass_fds=(ctl.child_fd,)``
    and ``env[ENV] = str(ctl.child_fd)``; then :meth:`started` (closes the parent's copy of
    the child's end, so the channel reads EOF when the child exits); :meth:`close` at the end.
    """

    def __init__(self, server: Server | Cluster,
                 on_message: Callable[[str], None] | None = None) -> None:
        self.server = server
        self._say = on_message or (lambda _text: None)
        #: every pid the server ran as, first start first (a restart adds one)
        self.pids: list[int] = [server.pid] if server.pid is not None else []
        self._mine, child = socket.socketpair()
        child.set_inheritable(True)
        self._child: socket.socket | None = child
        self.child_fd = child.fileno()
        self._thread = threading.Thread(target=self._serve, name="wsbench-control", daemon=True)
        self._thread.start()

    def started(self) -> None:
        """The child has its copy of the channel: drop ours."""
        child, self._child = self._child, None
        if child is not None:
            child.close()

    def _serve(self) -> None:
        with contextlib.suppress(OSError, ValueError), self._mine.makefile("rwb") as f:
            for line in f:
                reply = self.handle(line)
                f.write(json.dumps(reply).encode() + b"\n")
                f.flush()

    def handle(self, line: bytes) -> dict[str, Any]:
        """One request line -> its reply (never raises: an error is a reply)."""
        try:
            request = json.loads(line)
            op = request["op"] if isinstance(request, dict) else None
        except (ValueError, KeyError):
            return {"ok": False, "error": f"not a control request: {line[:80]!r}"}
        server = self.server
        if op == "info":
            return {"ok": True, "pid": server.pid, "restarts": server.restarts,
                    "banner": server.banner, "pids": list(self.pids)}
        if op not in ("restart", "restart_redis"):
            return {"ok": False, "error": f"unknown control op {op!r}"}
        downtime = request.get("downtime", 0)
        if isinstance(downtime, bool) or not isinstance(downtime, int | float) or downtime < 0:
            return {"ok": False, "error": f"downtime must be seconds >= 0, not {downtime!r}"}
        if op == "restart_redis":
            return self._restart_redis(float(downtime))
        name = getattr(server.spec, "name", "embedded cluster's nodes")  # a Cluster: every node
        self._say(f"wsbench locust: fault: restarting the {name} "
                  f"({downtime:g} s down)")
        try:
            up = server.restart(float(downtime))
        except WsbenchError as exc:
            self._say(f"wsbench locust: restart failed: {exc}")
            return {"ok": False, "error": str(exc)}
        if server.pid is not None:
            self.pids.append(server.pid)
        return {"ok": True, "up_ns": up, "pid": server.pid, "restarts": server.restarts}

    def _restart_redis(self, downtime: float) -> dict[str, Any]:
        cluster = self.server
        if not isinstance(cluster, Cluster):
            return {"ok": False, "error": "restart_redis: the embedded target is not a cluster"}
        self._say(f"wsbench locust: fault: restarting the cluster's Redis ({downtime:g} s down)")
        try:
            down, back, resubscribed = cluster.restart_redis_resubscribed(downtime)
        except WsbenchError as exc:
            self._say(f"wsbench locust: restart_redis failed: {exc}")
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "down_ns": down, "back_ns": back, "resubscribed_ns": resubscribed,
                "redis_restarts": cluster.redis_restarts}

    def close(self) -> None:
        self.started()
        with contextlib.suppress(OSError):
            self._mine.shutdown(socket.SHUT_RDWR)
        self._thread.join(5.0)
        self._mine.close()


class ControlClient:
    """The Locust process's end (one per process; requests are serialized by ``lock``).

    Args:
        fd: the inherited descriptor.
        lock: a lock of the caller's runtime (a gevent lock under Locust).
    """

    def __init__(self, fd: int, lock: Any = None) -> None:
        try:
            self._sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise ConfigError(f"{ENV}={fd}: not an open socket ({exc})") from exc
        self._file = self._sock.makefile("rwb")
        self._lock = lock if lock is not None else threading.Lock()

    @classmethod
    def from_env(cls, lock: Any = None, environ: Any = None) -> ControlClient | None:
        """The channel named by :data:`ENV`; None when this process has none."""
        text = (os.environ if environ is None else environ).get(ENV, "")
        if not text:
            return None
        try:
            fd = int(text)
        except ValueError:
            raise ConfigError(f"{ENV} must be a file descriptor number, not {text!r}") from None
        return cls(fd, lock)

    def request(self, op: str, timeout: float, **fields: Any) -> dict[str, Any]:
        """Send one request and wait up to ``timeout`` s for its reply (the ``ok`` ones).

        Raises:
            ControlError: no channel any more, no reply in time, or an error reply.
        """
        with self._lock:
            self._sock.settimeout(timeout)
            try:
                self._file.write(json.dumps({"op": op, **fields}).encode() + b"\n")
                self._file.flush()
                line = self._file.readline(_MAX_LINE)
            except OSError as exc:  # socket.timeout is an OSError
                raise ControlError(f"control channel to wsbench locust: {exc or 'timed out'}"
                                   ) from exc
        if not line:
            raise ControlError("control channel to wsbench locust closed")
        try:
            reply = json.loads(line)
        except ValueError:
            raise ControlError(f"control channel: not a reply: {line[:80]!r}") from None
        if not reply.get("ok"):
            raise ControlError(str(reply.get("error", "the request failed")))
        return dict(reply)

    def restart(self, downtime: float) -> dict[str, Any]:
        """Restart the embedded server; the reply (``up_ns``, ``pid``, ``restarts``)."""
        # stop (up to its grace), stay down, come back (up to the start deadline)
        budget = downtime + STOP_GRACE + 2 * START_TIMEOUT * timeout_factor()
        return self.request("restart", budget, downtime=downtime)

    def restart_redis(self, downtime: float) -> dict[str, Any]:
        """Restart the embedded cluster's Redis and wait until the nodes re-subscribed; the
        reply (``down_ns``, ``back_ns``, ``resubscribed_ns``, ``redis_restarts``)."""
        budget = downtime + STOP_GRACE + 3 * START_TIMEOUT * timeout_factor()
        return self.request("restart_redis", budget, downtime=downtime)

    def info(self) -> dict[str, Any]:
        """The server's ``pid``, ``restarts`` and ``banner``."""
        return self.request("info", 5.0 * timeout_factor())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
            self._sock.close()
