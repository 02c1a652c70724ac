"""Starting Locust for ``wsbench locust``: the command line, the target, a generated locustfile.

Theory of operation
-------------------
``wsbench locust SCENARIO [locust options]`` does not reimplement Locust's
command line: it runs ``python -m locust -f <wsbench/integrations/locustfile.py>``
with every extra option passed through untouched and the scenario path in the
``WSBENCH_SCENARIO`` environment variable. Defaults come from the scenario
through Locust's own ``LOCUST_*`` environment variables (users, spawn rate, and
run time when ``--headless``), so anything on the command line still wins.

The target: ``--host`` wins; else a URL ``target:`` of the scenario; else
(``target: embedded``) the reference server is started on a free loopback port
with the scenario's ``server:`` options through :mod:`wsbench.launch` (``python -m
reference_server``, never imported here; a start deadline scaled by
``WSBENCH_TIMEOUT_FACTOR``), a death during the run is reported on stderr with its
exit code and stderr tail, and it is stopped (SIGTERM, then SIGKILL) when Locust
exits. Workers (``--worker``) start nothing: the master tells them the host.
``target: {embedded: {nodes: N, kind: ...}}`` starts an embedded cluster instead
(:mod:`wsbench.launch.cluster`: redis-server, N nodes, HAProxy; stopped the same way):
Locust's ``--host`` is the balancer, and :data:`CLUSTER_ENV` carries the node URLs
to the Locust process (:func:`with_cluster`), whose users connect round-robin by client
index to their node as ``wsbench run``'s do (``Scenario.url_for``). Workers started
apart (``--worker``) do not get it: they connect through the balancer, and their copies are
not split by node. The Locust process gets a private control channel to this process
(:mod:`wsbench.integrations.control`, a socketpair end named by
``WSBENCH_LOCUST_CONTROL_FD``) to restart that server for ``fault: restart_server``.

Nothing here imports locust or gevent (they monkey-patch the standard library).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from wsbench.integrations.control import ENV as CONTROL_ENV
from wsbench.integrations.control import ControlServer
from wsbench.launch import Server, ServerDied, ServerSpec, reference_server
from wsbench.launch.cluster import Cluster, spec_for
from wsbench.scenario import model as m

__all__ = [
    "CLUSTER_ENV",
    "LOCUSTFILE",
    "with_cluster",
    "locust_command",
    "locust_env",
    "locust_help",
    "server_spec",
    "render_locustfile",
    "run_locust",
]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
CLUSTER_ENV = "WSBENCH_LOCUST_CLUSTER"
"""JSON ``{"nodes": [url, ...], "balancer": url}`` of the embedded cluster the parent started."""


def with_cluster(scenario: m.Scenario, environ: dict[str, str] | None = None) -> m.Scenario:
    """``scenario`` with the node URLs of the embedded cluster ``wsbench locust`` started
    (:data:`CLUSTER_ENV`), so its users spread over the nodes; unchanged without one."""
    text = (os.environ if environ is None else environ).get(CLUSTER_ENV)
    if not text or not scenario.cluster:
        return scenario
    data = json.loads(text)
    return scenario.replace(nodes=tuple(data["nodes"]), balancer=str(data["balancer"]))


def _has(args: Sequence[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + "=") for a in args for n in names)


def locust_command(args: Sequence[str], host: str | None) -> list[str]:
    """``python -m locust -f LOCUSTFILE [--host HOST] ARGS``."""
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    if host and not _has(args, "-H", "--host"):
        cmd += ["--host", host]
    return cmd + list(args)


def locust_help(timeout: float = 60.0) -> str:
    """Locust's own ``--help`` text (from a child process: nothing here imports locust)."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "locust", "--help"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(could not run 'python -m locust --help': {exc})"
    return out.stdout if out.returncode == 0 and out.stdout else (
        f"(could not run 'python -m locust --help': exit {out.returncode} {out.stderr.strip()})"
    )


def locust_env(scenario_path: str, scenario: m.Scenario, args: Sequence[str]) -> dict[str, str]:
    """The environment for Locust: the scenario path and scenario-derived defaults."""
    env = dict(os.environ)
    env["WSBENCH_SCENARIO"] = str(Path(scenario_path).resolve())
    offsets = scenario.arrival_offsets()
    span = offsets[-1] if offsets else 0.0
    rate = scenario.clients / span if span > 0 else float(scenario.clients)
    env.setdefault("LOCUST_USERS", str(scenario.clients))
    env.setdefault("LOCUST_SPAWN_RATE", f"{max(rate, 1.0):g}")
    if _has(args, "--headless") and not _has(args, "-t", "--run-time"):
        env.setdefault("LOCUST_RUN_TIME", f"{max(1, round(scenario.duration))}s")
    return env


def server_spec(scenario: m.Scenario) -> ServerSpec:
    """The reference server for ``target: embedded``, with the scenario's ``server:`` options."""
    return reference_server(*m.server_args(scenario))


def _report_death(died: ServerDied) -> None:
    print(f"wsbench locust: {died}", file=sys.stderr, flush=True)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def render_locustfile(scenario_path: str, scenario: m.Scenario) -> str:
    """A locustfile that runs ``scenario`` and that users can extend in Python."""
    path = Path(scenario_path).resolve()
    lines = [
        f'"""Locust users for the wsbench scenario {scenario.name!r} (generated by',
        "`wsbench locust --write-locustfile`; edit freely).",
        "",
        f"Run: locust -f THIS_FILE --host http://127.0.0.1:3000   (scenario: {path})",
        "Each scenario group is one User class below; measurements, violations, the Fan-out",
        'tab and summary.json come from wsbench.integrations.locust.install()."""',
        "",
        "from __future__ import annotations",
        "",
        "from locust import task  # noqa: F401  (for your own tasks)",
        "",
        "from wsbench.integrations.launch import with_cluster",
        "from wsbench.integrations.locust import install, users_from_scenario",
        "from wsbench.scenario import load_scenario",
        "",
        f"SCENARIO = with_cluster(load_scenario({str(path)!r}))",
        "install(SCENARIO)",
        "_users = users_from_scenario(SCENARIO)",
        "",
    ]
    for name in _class_names(scenario):
        lines.append(f"{name} = _users[{name!r}]")
    lines += [
        "",
        "# To extend a group, subclass it and retire the original, e.g.:",
        f"# class My{_class_names(scenario)[0]}({_class_names(scenario)[0]}):",
        "#     @task",
        "#     def extra(self):",
        '#         self.flow.conn.session.emit("/", "chat message", "hi")',
        "#         self.flow.conn.flush()",
        f"# del {_class_names(scenario)[0]}",
        "",
    ]
    return "\n".join(lines)


def _class_names(scenario: m.Scenario) -> list[str]:
    return [
        "".join(ch if ch.isalnum() else "_" for ch in g.name) or "group" for g in scenario.groups
    ]


def run_locust(scenario_path: str, scenario: m.Scenario, args: Sequence[str]) -> int:
    """Run Locust to completion (starting the embedded server if needed); its exit code.

    Raises:
        ServerStartFailed: the embedded server did not start.
    """
    server: Server | Cluster | None = None
    host: str | None = None
    cluster: dict[str, object] | None = None
    worker = _has(args, "--worker")
    if not worker and not _has(args, "-H", "--host"):
        if scenario.embedded and scenario.cluster:
            server = Cluster(spec_for(scenario.cluster, scenario.cluster_kind,
                                      m.server_args(scenario)))
            server.on_death(_report_death)
            try:
                host = server.start()
            except BaseException:
                server.close()
                raise
            cluster = {"nodes": list(server.node_urls), "balancer": server.url}
            _say(server.banner)
        elif scenario.embedded:
            server = Server(server_spec(scenario))
            server.on_death(_report_death)
            try:
                host = server.start()
            except BaseException:
                server.close()
                raise
        else:
            host = scenario.target
    env = locust_env(scenario_path, scenario, args)
    control = ControlServer(server, _say) if server is not None else None
    env.pop(CONTROL_ENV, None)  # never a stale channel from our own environment
    env.pop(CLUSTER_ENV, None)
    if cluster is not None:
        env[CLUSTER_ENV] = json.dumps(cluster)
    fds: tuple[int, ...] = ()
    if control is not None:  # restart_server: Locust asks us (we own the server)
        env[CONTROL_ENV] = str(control.child_fd)
        fds = (control.child_fd,)
    try:
        proc = subprocess.Popen(locust_command(args, host), env=env, pass_fds=fds)
    except BaseException:
        if control is not None:
            control.close()
        if server is not None:
            server.close()
        raise
    if control is not None:
        control.started()

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if control is not None:
            control.close()
        if server is not None:
            server.close()
