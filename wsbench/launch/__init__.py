"""The one launcher for everything wsbench starts: servers as child processes on loopback.

Theory of operation
-------------------
``wsbench run`` (``target: embedded`` and the ``restart_server`` fault), ``wsbench conform
--target embedded``, ``wsbench locust`` and the tests all start servers the same way:

* a :class:`ServerSpec` says *what* to start: a command, its options, the loopback
  interface and port (``0`` = a free port). :func:`reference_server` (``python -m
  reference_server``, never imported here) and :func:`node_twin` (``node
  reference_server/node/server.js``) build the two specs wsbench ships, :func:`seed_server`
  the seed's own servers (``tests/targets/seed``, a checkout only); any program that
  takes ``--host``/``--port`` and prints one start line ``... listening on http://HOST:PORT``
  is launchable (the tests start a python-socketio app this way).
* a :class:`Server` (sync, ``subprocess.Popen``) starts it in its own session (a Ctrl-C in
  the terminal reaches wsbench only, which decides when the server stops), waits for the start
  line with a deadline scaled by ``WSBENCH_TIMEOUT_FACTOR``, exposes :attr:`Server.url`,
  stops it (SIGTERM, SIGKILL to its process group after a grace period), restarts it on the
  same port, and reports a death it did not ask for as a :class:`ServerDied` (exit code and
  the last stderr lines) to the callbacks given to :meth:`Server.on_death`.
* :class:`AsyncServer` is the same object for an asyncio caller: it runs the blocking calls
  of the one :class:`Server` in a worker thread and turns the death callback into the future
  :attr:`AsyncServer.died`. There is one implementation of the logic.

CPU and RSS of the server are sampled by whoever drives the load (the scenario driver samples
:attr:`Server.pid`, which changes on a restart, with :class:`wsbench.metrics.ProcessSampler`).

Layers: this package stands on the standard library, :mod:`wsbench.exceptions` and
:mod:`wsbench.metrics` only (an import-linter contract keeps it from importing scenario,
conformance, integrations, client, cli, reference_server or aiohttp), so every layer above can
use it, including the Locust integration.

Extending: another launchable — the embedded cluster of a later issue (Debian
``redis-server``, N server nodes sharing a Redis adapter, HAProxy with sticky sessions in
front) — goes in its own module here (``wsbench/launch/cluster.py``) and implements
:class:`Launchable` (start/stop/restart/url/on_death). It starts each of its processes as a
:class:`Server` (HAProxy and Redis print no ``listening on`` line, so their specs will carry
a readiness probe instead of the start-line pattern), and :class:`AsyncServer` wraps it
unchanged because it only calls the :class:`Launchable` methods.
"""

from __future__ import annotations

from wsbench.launch.aio import AsyncServer
from wsbench.launch.server import (
    START_TIMEOUT,
    STOP_GRACE,
    Launchable,
    Server,
    ServerDied,
    ServerSpec,
    ServerStartFailed,
    node_twin,
    node_twin_available,
    reference_server,
    seed_server,
    seed_server_available,
)

__all__ = [
    "AsyncServer",
    "Launchable",
    "START_TIMEOUT",
    "STOP_GRACE",
    "Server",
    "ServerDied",
    "ServerSpec",
    "ServerStartFailed",
    "node_twin",
    "node_twin_available",
    "reference_server",
    "seed_server",
    "seed_server_available",
]
