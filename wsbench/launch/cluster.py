"""An embedded cluster on loopback: Debian's redis-server, N server nodes, HAProxy in front.

Theory of operation
-------------------
:class:`Cluster` starts, each as a :class:`~wsbench.launch.server.Server` child process:

1. ``redis-server`` on a free loopback port with persistence off (``--save ''``,
   ``--appendonly no``): the nodes' pub/sub bus, nothing stored;
2. the nodes, each on its own free port with ``--adapter redis://127.0.0.1:PORT``: Python
   reference nodes (``python -m reference_server``), Node twin nodes (the official socket.io
   on ``@socket.io/redis-adapter``) or a mix, in the order of :attr:`ClusterSpec.nodes`;
3. HAProxy (``haproxy -f CONFIG -db``) on one entry port, so that polling clients (whose
   every request must reach the node that holds their session) have one URL. Stickiness is
   ``cookie`` (HAProxy inserts a ``WSBENCH_NODE`` cookie naming the node: the client must
   keep cookies), ``source`` (hash of the client address: spread clients over 127.0.0.x
   source addresses) or ``none`` (round robin per request: polling then fails with HTTP 400
   "Session ID unknown" as soon as a request reaches another node, which is exactly the
   failure mode a cluster check must name).

:attr:`Cluster.url` is the balancer's URL (the first node's when there is no balancer),
:attr:`Cluster.node_urls` every node's. :meth:`Cluster.restart_redis` stops Redis, stays
down, and brings it back on the same port (pub/sub has no replay: what was published
meanwhile is lost, and the nodes re-subscribe on their own); :meth:`Cluster.restart_node`
restarts one node, :meth:`Cluster.restart` all of them. A death of any process is reported
to :meth:`Cluster.on_death` callbacks like a single server's. :class:`Cluster` implements
:class:`~wsbench.launch.server.Launchable`, so :class:`~wsbench.launch.aio.AsyncServer`
wraps it unchanged.

When ``redis-server`` or ``haproxy`` is missing, :func:`require_tools` raises a
:class:`~wsbench.exceptions.ConfigError` of one line saying how to install it
(``apt-get install redis-server haproxy``).
"""

from __future__ import annotations

import collections
import contextlib
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wsbench.exceptions import ConfigError, InvalidState, OptionError
from wsbench.launch.server import (
    LOOPBACK,
    START_TIMEOUT,
    STOP_GRACE,
    Server,
    ServerDied,
    ServerSpec,
    node_twin,
    node_twin_available,
    reference_server,
    timeout_factor,
)
from wsbench.metrics import now_ns

__all__ = [
    "Cluster",
    "ClusterSpec",
    "NODE_KINDS",
    "STICKINESS",
    "haproxy_available",
    "haproxy_config",
    "redis_available",
    "redis_spec",
    "require_tools",
    "split_node_args",
    "spec_for",
]

NODE_KINDS = ("python", "node")
STICKINESS = ("cookie", "source", "none")
COOKIE = "WSBENCH_NODE"
"""The cookie HAProxy inserts with ``stickiness="cookie"`` (its value names the node)."""
_INSTALL = "install it with: sudo apt-get install redis-server haproxy (Debian/Ubuntu)"


def _which(program: str) -> str | None:
    # Debian puts haproxy in /usr/sbin, which is not on every user's PATH
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/local/sbin")


def redis_available() -> bool:
    """Whether ``redis-server`` is installed."""
    return _which("redis-server") is not None


def haproxy_available() -> bool:
    """Whether ``haproxy`` is installed."""
    return _which("haproxy") is not None


def require_tools(balancer: bool = True) -> None:
    """Raise a one-line :class:`ConfigError` naming what is missing and how to install it."""
    missing = [
        name
        for name, present in (("redis-server", redis_available()),
                              ("haproxy", haproxy_available() or not balancer))
        if not present
    ]  # fmt: skip
    if missing:
        raise ConfigError(f"an embedded cluster needs {' and '.join(missing)}: {_INSTALL}")


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now (for programs that cannot pick their own, like Redis)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def redis_spec(host: str = "127.0.0.1", port: int = 0) -> ServerSpec:
    """``redis-server`` on loopback, no persistence, logging to stdout (its start line)."""
    binary = _which("redis-server")
    if binary is None:
        raise ConfigError(f"an embedded cluster needs redis-server: {_INSTALL}")
    return ServerSpec(
        (binary,),
        ("--save", "", "--appendonly", "no", "--logfile", "", "--daemonize", "no",
         "--databases", "1", "--dir", tempfile.gettempdir()),
        host, port or free_port(host), name="embedded redis-server",
        ready=r"Ready to accept connections", address=("--bind", "{host}", "--port", "{port}"),
        url="redis://{host}:{port}",
    )  # fmt: skip


def haproxy_config(nodes: Sequence[str], host: str, port: int, stickiness: str = "cookie") -> str:
    """The HAProxy configuration of a balancer on ``host:port`` in front of ``nodes`` (URLs)."""
    if stickiness not in STICKINESS:
        raise ConfigError(f"stickiness must be one of {', '.join(STICKINESS)}, not {stickiness!r}")
    balance = {"cookie": "roundrobin", "source": "source", "none": "roundrobin"}[stickiness]
    lines = [
        "global",  # maxconn: derived by HAProxy from the file-descriptor limit
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 120s",
        "    timeout server 120s",
        "    timeout tunnel 1h",  # websocket connections after the upgrade
        "    option http-server-close" if stickiness == "none" else "    option http-keep-alive",
        "frontend wsbench",
        f"    bind {_bind(host)}:{port}",
        "    default_backend nodes",
        "backend nodes",
        f"    balance {balance}",
    ]
    if stickiness == "cookie":
        lines.append(f"    cookie {COOKIE} insert indirect nocache")
    for index, url in enumerate(nodes):
        address = url.split("://", 1)[-1].rstrip("/")
        cookie = f" cookie n{index}" if stickiness == "cookie" else ""
        lines.append(f"    server n{index} {address}{cookie}")
    return "\n".join(lines) + "\n"


def _bind(host: str) -> str:
    return f"[{host}]" if ":" in host else ("127.0.0.1" if host == "localhost" else host)


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """What to start.

    Attributes:
        nodes: the kind of each node, ``python`` (reference server) or ``node`` (Node twin).
        args: options given to every node (``--ping-interval 300``...).
        python_args: options given to the Python nodes only (``--fault adapter-drop-remote``).
        balancer: start HAProxy in front (``stickiness`` says how it keeps a session on one node).
        stickiness: ``cookie``, ``source`` or ``none`` (see the module docstring).
        host: the loopback interface every process binds.
    """

    nodes: tuple[str, ...] = ("python", "python", "python")
    args: tuple[str, ...] = ()
    python_args: tuple[str, ...] = ()
    balancer: bool = True
    stickiness: str = "cookie"
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ConfigError("a cluster needs at least one node")
        unknown = [kind for kind in self.nodes if kind not in NODE_KINDS]
        if unknown:
            raise ConfigError(f"node kinds are {' or '.join(NODE_KINDS)}, not {unknown[0]!r}")
        if self.stickiness not in STICKINESS:
            raise ConfigError(
                f"stickiness must be one of {', '.join(STICKINESS)}, not {self.stickiness!r}"
            )
        if self.host not in LOOPBACK:
            raise ConfigError(f"an embedded cluster binds loopback only, not {self.host!r}")

    @classmethod
    def of(cls, count: int, kind: str = "python", **options: object) -> ClusterSpec:
        """``count`` nodes of one kind (``mixed`` alternates python and node)."""
        if count < 1:
            raise ConfigError(f"--nodes must be at least 1, not {count}")
        if kind == "mixed":
            kinds = tuple(NODE_KINDS[i % 2] for i in range(count))
        else:
            kinds = (kind,) * count
        return cls(kinds, **options)  # type: ignore[arg-type]


class Cluster:
    """Redis + nodes + HAProxy as one launchable (see the module docstring)."""

    def __init__(self, spec: ClusterSpec | None = None) -> None:
        self.spec = spec or ClusterSpec()
        self.url = ""
        self.banner = ""
        self.restarts = 0
        self.redis_restarts = 0
        self.redis: Server | None = None
        self.nodes: list[Server] = []
        self.balancer: Server | None = None
        self._config_dir: tempfile.TemporaryDirectory[str] | None = None
        self._callbacks: list[Callable[[ServerDied], None]] = []
        self._closed = False

    # -- state --

    @property
    def node_urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def redis_url(self) -> str:
        return self.redis.url if self.redis is not None else ""

    @property
    def balancer_url(self) -> str:
        return self.balancer.url if self.balancer is not None else ""

    @property
    def pid(self) -> int | None:
        """The first node's pid (what a single-target sampler watches); see :attr:`pids`."""
        return self.nodes[0].pid if self.nodes else None

    @property
    def pids(self) -> list[int]:
        """Every node's pid, in node order."""
        return [node.pid for node in self.nodes if node.pid is not None]

    @property
    def running(self) -> bool:
        servers = [self.redis, *self.nodes, self.balancer]
        return bool(self.nodes) and all(s.running for s in servers if s is not None)

    def on_death(self, callback: Callable[[ServerDied], None]) -> None:
        self._callbacks.append(callback)
        for server in (self.redis, *self.nodes, self.balancer):
            if server is not None:
                server.on_death(callback)

    def _own(self, server: Server) -> Server:
        for callback in self._callbacks:
            server.on_death(callback)
        return server

    # -- life cycle --

    def start(self, timeout: float | None = None) -> str:
        """Start Redis, the nodes and the balancer; the entry URL.

        Raises:
            ConfigError: redis-server, haproxy or the Node twin's packages are missing.
            InvalidState: already started, or closed.
            ServerStartFailed: a process did not start (everything started is stopped again).
        """
        if self._closed:
            raise InvalidState("embedded cluster: start after close()")
        if self.nodes:
            raise InvalidState("the embedded cluster is already running")
        spec = self.spec
        require_tools(spec.balancer)
        if "node" in spec.nodes and not node_twin_available():
            raise ConfigError(
                "a Node twin node needs node and its packages: npm ci --prefix reference_server/node"
            )
        try:
            self.redis = self._own(Server(redis_spec(spec.host)))
            self.redis.start(timeout)
            adapter = ("--adapter", self.redis.url)
            for index, kind in enumerate(spec.nodes):
                if kind == "python":
                    node_spec = reference_server(*adapter, *spec.args, *spec.python_args,
                                                 host=spec.host)  # fmt: skip
                else:
                    node_spec = node_twin(*adapter, *spec.args, host=spec.host)
                name = f"cluster node {index} ({kind})"
                node = self._own(Server(_renamed(node_spec, name)))
                self.nodes.append(node)
                node.start(timeout)
            if spec.balancer:
                self.balancer = self._own(Server(self._balancer_spec()))
                self.balancer.start(timeout)
        except BaseException:
            self.stop()
            self.nodes = []
            raise
        self.url = self.balancer.url if self.balancer is not None else self.nodes[0].url
        kinds = ", ".join(spec.nodes)
        self.banner = (
            f"wsbench embedded cluster listening on {self.url} ({len(self.nodes)} nodes: "
            f"{kinds}; redis {self.redis.url})"
        )
        return self.url

    def _balancer_spec(self) -> ServerSpec:
        binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
        assert binary is not None  # require_tools
        self._config_dir = tempfile.TemporaryDirectory(prefix="wsbench-haproxy-")
        port = free_port(self.spec.host)
        path = Path(self._config_dir.name) / "haproxy.cfg"
        path.write_text(haproxy_config(self.node_urls, self.spec.host, port, self.spec.stickiness))
        return ServerSpec(
            (binary, "-f", str(path), "-db"), (), self.spec.host, port,
            name=f"haproxy ({self.spec.stickiness} stickiness)", address=(),
            url="http://{host}:{port}", probe=True,
        )  # fmt: skip

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """Stop the balancer, the nodes, then Redis; the first node's exit code."""
        code = None
        for server in (self.balancer, *self.nodes, self.redis):
            if server is not None:
                result = server.stop(grace)
                if server is (self.nodes[0] if self.nodes else None):
                    code = result
        return code

    def restart(self, downtime: float) -> int:
        """Restart every node (one after the other, each down ``downtime`` s); ns when back."""
        if not self.nodes:
            raise InvalidState("restart of the embedded cluster before it was started")
        back = 0
        for node in self.nodes:
            back = node.restart(downtime)
        self.restarts += 1
        return back

    def restart_node(self, index: int, downtime: float) -> int:
        """Restart node ``index`` on its port; monotonic ns when it is back."""
        if not 0 <= index < len(self.nodes):
            raise ConfigError(f"the cluster has nodes 0..{len(self.nodes) - 1}, not {index}")
        return self.nodes[index].restart(downtime)

    def restart_redis(self, downtime: float) -> tuple[int, int]:
        """Stop Redis, stay down ``downtime`` s, start it on the same port.

        Returns:
            (monotonic ns when it went down, monotonic ns when it was back).
        """
        if self.redis is None or not self.redis.url:
            raise InvalidState("restart_redis before the embedded cluster was started")
        down = now_ns()
        back = self.redis.restart(downtime)
        self.redis_restarts += 1
        return down, back

    def subscriptions(self) -> collections.Counter[tuple[int, int]]:
        """Redis's subscriber connections as a multiset of (channels, patterns) each holds
        (``CLIENT LIST``'s ``sub``/``psub``): one per node, the nodes' pub/sub side."""
        import redis

        if self.redis is None or not self.redis.url:
            raise InvalidState("subscriptions before the embedded cluster was started")
        client = redis.Redis.from_url(self.redis.url, socket_timeout=2.0,
                                      socket_connect_timeout=2.0)
        try:
            clients = client.client_list()
        except redis.RedisError:
            return collections.Counter()
        finally:
            client.close()
        return collections.Counter(
            (int(c.get("sub", 0)), int(c.get("psub", 0))) for c in clients
            if int(c.get("sub", 0)) or int(c.get("psub", 0))
        )

    def restart_redis_resubscribed(
        self, downtime: float, timeout: float | None = None
    ) -> tuple[int, int, int | None]:
        """:meth:`restart_redis`, then wait until every node holds its subscriptions again.

        "Again" is the condition, with a deadline (``timeout``, default the start deadline
        scaled by ``WSBENCH_TIMEOUT_FACTOR``): Redis's subscriber connections cover, as a
        multiset of (channels, patterns), what they were just before the stop.

        Returns:
            (ns when Redis went down, ns when it was back, ns when every node had
            re-subscribed, or None when they had not by the deadline), ``time.monotonic_ns``.
        """
        before = self.subscriptions()
        down, back = self.restart_redis(downtime)
        budget = START_TIMEOUT * timeout_factor() if timeout is None else timeout
        deadline = now_ns() + int(budget * 1e9)
        while True:
            after = self.subscriptions()
            if all(after[k] >= n for k, n in before.items()):
                return down, back, now_ns()
            if now_ns() >= deadline:
                return down, back, None
            time.sleep(0.02)  # polling the condition, bounded by the deadline

    def close(self) -> None:
        """Stop everything and remove the balancer's configuration."""
        self._closed = True
        for server in (self.balancer, *self.nodes, self.redis):
            if server is not None:
                server.close()
        if self._config_dir is not None:
            with contextlib.suppress(OSError):
                self._config_dir.cleanup()
            self._config_dir = None

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _renamed(spec: ServerSpec, name: str) -> ServerSpec:
    from dataclasses import replace

    return replace(spec, name=name)


# -- wsbench serve --nodes N --------------------------------------------------------------------

SERVE_HELP = """\
embedded cluster (wsbench serve only):
  --nodes N             start an embedded cluster instead: Debian's redis-server on a free
                        loopback port (no persistence), N nodes joined through it
                        (--adapter), HAProxy in front; prints the balancer URL and every
                        node URL, serves until SIGINT/SIGTERM (docs/cluster.md). The other
                        options above go to every node (not --host/--port/--adapter).
  --node-kind KIND      python (reference server), node (Node twin on the official
                        @socket.io/redis-adapter) or mixed (alternating) (python)
  --stickiness MODE     how HAProxy keeps a polling session on its node: cookie, source or
                        none (none: polling fails with 400 "Session ID unknown") (cookie)
"""


def split_serve_args(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Take ``--nodes``/``--node-kind``/``--stickiness`` (``--x V`` or ``--x=V``) out of
    ``argv``; returns them (by name, without dashes) and the arguments left for the nodes."""
    ours = {"--nodes", "--node-kind", "--stickiness"}
    found: dict[str, str] = {}
    rest: list[str] = []
    items = iter(argv)
    for item in items:
        name, eq, value = item.partition("=")
        if name in ours:
            if not eq:
                value = next(items, "")
            if not value:
                raise OptionError(name, "needs a value")
            found[name[2:]] = value
        else:
            rest.append(item)
    return found, rest


def cluster_spec_from(options: dict[str, str], node_args: Sequence[str]) -> ClusterSpec:
    """The :class:`ClusterSpec` of ``wsbench serve --nodes N [--node-kind K] [--stickiness S]``."""
    count = int(options["nodes"]) if options["nodes"].isdigit() else 0
    if count < 1:
        raise OptionError("--nodes", f"expected an integer >= 1, got {options['nodes']!r}")
    kind = options.get("node-kind", "python")
    if kind not in (*NODE_KINDS, "mixed"):
        raise OptionError("--node-kind", f"expected python, node or mixed, got {kind!r}")
    stickiness = options.get("stickiness", "cookie")
    if stickiness not in STICKINESS:
        raise OptionError("--stickiness", f"expected {', '.join(STICKINESS)}, got {stickiness!r}")
    for forbidden in ("--host", "--port", "--adapter"):
        if any(a == forbidden or a.startswith(forbidden + "=") for a in node_args):
            raise OptionError(forbidden, "is chosen by the cluster; not with --nodes")
    args, python_only = split_node_args(node_args)
    return ClusterSpec.of(count, kind, args=args, python_args=python_only, stickiness=stickiness)


def spec_for(count: int, kind: str, node_args: Sequence[str]) -> ClusterSpec:
    """The cluster of a scenario's ``target: {embedded: {nodes: count, kind: kind}}``:
    ``node_args`` (the scenario's server options) to every node, its faults to the Python
    nodes only; cookie stickiness."""
    args, python_only = split_node_args(node_args)
    return ClusterSpec.of(count, kind, args=args, python_args=python_only)


def split_node_args(node_args: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(every node's options, the Python nodes' only)``: the ``--fault X`` pairs go to the
    Python nodes (the Node twin has no faults), everything else to every node."""
    python_only: list[str] = []
    args = list(node_args)
    while "--fault" in args:  # faults exist on the Python nodes only
        at = args.index("--fault")
        python_only += args[at : at + 2]
        del args[at : at + 2]
    return tuple(args), tuple(python_only)


def _say(line: str) -> None:
    print(line, flush=True)


def serve_cluster(spec: ClusterSpec, out: Callable[[str], None] = _say) -> int:
    """Run an embedded cluster until SIGINT/SIGTERM; 0, or 1 when one of its processes died."""
    import signal
    import threading

    stop = threading.Event()
    died: list[ServerDied] = []

    def on_death(report: ServerDied) -> None:
        died.append(report)
        stop.set()

    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}  # fmt: skip
    cluster = Cluster(spec)
    cluster.on_death(on_death)
    try:
        cluster.start()
        out(cluster.banner)
        if cluster.balancer is not None:
            out(f"  balancer  {cluster.url}  (HAProxy, {spec.stickiness} stickiness)")
        for index, (kind, url) in enumerate(zip(spec.nodes, cluster.node_urls, strict=True)):
            out(f"  node {index}    {url}  ({kind})")
        out(f"  redis     {cluster.redis_url}")
        stop.wait()
    finally:
        cluster.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for report in died:
        out(f"the cluster stopped: {report}")
    return 1 if died else 0
