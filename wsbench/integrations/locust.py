"""Locust users that run a wsbench scenario; the only module importing locust or gevent.

Theory of operation
-------------------
:func:`users_from_scenario` turns each group of a loaded scenario into a Locust
``User`` class whose ``weight`` is the number of clients the scenario gives that
group (its ``count``, or its share of the rest by ``weight``), so Locust scales the
groups to ``-u`` in the scenario's proportions (``-u 50`` with counts 100 + 100 spawns
25 + 25; ``-u`` = ``clients`` spawns exactly the scenario's counts), and ``-r``, the class
picker, ``--processes`` and master/worker mode all work unchanged. Each user runs its group's flow once with a
:class:`~wsbench.integrations.flow.ClientFlow` over a gevent-friendly
:class:`~wsbench.integrations.wire.Connection` (one reader greenlet, pings
answered inline), then holds its connection until the run stops (``on_finish:
disconnect`` ends the user instead).

:func:`install` wires one process: a :class:`~wsbench.integrations.judge.Judge`
reporting to ``events.request`` (``sio-connect``, ``sio-ack``, ``sio-recv``,
violations as failures named by kind), a ticker greenlet closing emits past
their deadline, and the shipping of measurements: a worker drains its judge into
every ``report_to_master``; the master (``worker_report``) or the local runner
(its own ticker) merges them into an :class:`~wsbench.integrations.aggregate.Aggregate`.

Distributed runs are judged by ONE oracle on the master
(:mod:`wsbench.integrations.distributed`): a worker's judge records instead of
judging and its ticker sends the journal batch every tick (``wsbench_journal``);
the master answers with clock probes (``wsbench_clock``, the worker replies with its
clock at once) and the offsets it estimated (``wsbench_offsets``), replays the
journals live and drains its judge into the same aggregate. A worker journals its
``STOPPED``/``FINAL``/``END`` marks when Locust stops it, before ``client_stopped``.
``fault: restart_server``: the process holding the control channel to ``wsbench locust``
(the local runner or the master; :mod:`wsbench.integrations.control`) restarts the
embedded server through it; a worker sends ``wsbench_restart`` to the master, which serves
it in its own greenlet and answers ``wsbench_restarted`` with the time the server was up
(moved onto the worker's clock by its offset). Without a channel (a ``--host`` target, plain
``locust -f``) the step is counted as ``restarts_skipped`` and warned once. The summary's
``sections.server`` then carries the server's pid, every pid it ran as, and its restarts.
``fault: restart_redis`` (an embedded cluster, :data:`~wsbench.integrations.launch.CLUSTER_ENV`
set): the same holder asks ``restart_redis`` on the channel and opens and closes the outage
window on the oracle that judges (its own, or the master's :class:`MasterJudge`); a worker
sends ``wsbench_restart_redis`` and gets ``wsbench_redis_restarted``. Without a cluster the
step is counted (``faults.restart_redis.skipped``) and warned once.

That aggregate feeds the web UI's "Fan-out" tab, ``/wsbench/fanout.json`` and the
run summary (``summary.json`` with the scenario's thresholds judged, plus the HTML
report) written when Locust quits; the master or single process then prints the same
one-screen verdict as ``wsbench run`` (:func:`wsbench.report.console.render_summary`)
after Locust's own final tables, and exits 1 when a threshold failed.

Server pushes and RPS (Locust issue 2289): every push is one ``sio-recv`` request
entry, because its latency is the measurement; Locust therefore adds pushes to the
"Aggregated" requests/s. Read the ``sio-ack`` and ``sio-emit`` rows for the rate of
requests clients make; the Fan-out tab counts deliveries on their own. Pushes enter
Locust's stats in batches (:class:`PushStats`, 4 per second, same numbers as one by
one); ``WSBENCH_LOCUST_PUSH_EVENTS=1`` fires one ``events.request`` per push instead.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import gevent.lock
import gevent.monkey
import gevent.socket
import locust.stats
from locust import User, constant, events
from locust.exception import StopUser
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING, MasterRunner, WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC, bucket_response_time

from wsbench.integrations.aggregate import TABLE_STRUCTURE, Aggregate
from wsbench.integrations.control import ControlClient, ControlError
from wsbench.integrations.distributed import MasterJudge
from wsbench.integrations.flow import ClientFlow
from wsbench.integrations.frames import Poller
from wsbench.integrations.judge import CLIENTS_PER_WORKER, MASTER_RUN, Judge
from wsbench.integrations.launch import CLUSTER_ENV
from wsbench.launch import START_TIMEOUT, STOP_GRACE
from wsbench.launch.server import timeout_factor
from wsbench.metrics import Environment as RunEnvironment
from wsbench.metrics import RunSummary, Target, iso_timestamp, now_ns
from wsbench.scenario import model as m
from wsbench.scenario.interpreter import PeerIndex
from wsbench.scenario.journal import JournalWriter, Op
from wsbench.scenario.thresholds import evaluate
from wsbench.scenario.walk import expected_events

__all__ = ["GeventRuntime", "ScenarioUser", "users_from_scenario", "install", "state"]

log = logging.getLogger(__name__)
TICK_S = 0.25
LOCAL_DRAIN_S = 2.0
WATCHDOG_S = 1.0
TAB_KEY = "wsbench-fanout"
LOCAL_GRACE_S = 3.0  # how long a stopping run waits for in-flight emits and acks
WORKER_GRACE_S = 0.3
MASTER_TICK_S = 0.05  # the master's loop: clock probes (a burst at 100 ms gaps), then replay
JOURNAL_MSG, CLOCK_MSG, OFFSETS_MSG = "wsbench_journal", "wsbench_clock", "wsbench_offsets"
RESTART_MSG, RESTARTED_MSG = "wsbench_restart", "wsbench_restarted"
REDIS_MSG, REDIS_DONE_MSG = "wsbench_restart_redis", "wsbench_redis_restarted"
_ENDING = (STATE_CLEANUP, STATE_STOPPING, STATE_STOPPED)


class GeventRuntime:
    """The :class:`~wsbench.integrations.wire.Runtime` of Locust: greenlets."""

    @staticmethod
    def spawn(fn: Any, *args: Any) -> Any:
        return gevent.spawn(fn, *args)

    @staticmethod
    def sleep(seconds: float) -> None:
        gevent.sleep(max(0.0, seconds))

    @staticmethod
    def event() -> Any:
        return gevent.event.Event()

    @staticmethod
    def lock() -> Any:
        return gevent.lock.RLock()

    @property
    def poller(self) -> Poller | None:
        """The process's shared WebSocket poller (``WSBENCH_LOCUST_POLLER=0``: one greenlet each)."""
        global _poller
        if _poller is None and os.environ.get("WSBENCH_LOCUST_POLLER", "1") != "0":
            epoll = gevent.monkey.get_original("select", "epoll")
            _poller = Poller(gevent.socket.wait_read, epoll, gevent.spawn, now_ns)
        return _poller


_poller: Poller | None = None


class _State:
    """Per-process state of the integration (one Locust environment per process)."""

    def __init__(self) -> None:
        self.scenario: m.Scenario | None = None
        self.judge: Judge | None = None
        self.aggregate = Aggregate()
        self.peers: dict[int, ClientFlow] = {}
        #: the process's ``peer:`` query over its clients, in spawn order
        self.peer_index: PeerIndex | None = None
        #: restart_server: restarts the embedded server, returns when it was up (None: cannot)
        self.restart: Any = None
        #: restart_redis: restarts the cluster's Redis, the judging oracle's outage window
        #: included; (down, back, resubscribed or None) or None (cannot)
        self.restart_redis: Any = None
        #: the channel to ``wsbench locust``, which owns the embedded server (None: not ours)
        self.control: ControlClient | None = None
        self.restarts_asked: dict[int, Any] = {}  #: a worker's restarts waiting for the master
        self.server_info: dict[str, Any] = {}  #: the last pid/restarts the channel reported
        self.environment: Any = None
        self.started_ns = now_ns()
        self.started_at = iso_timestamp()
        self.ticker: Any = None
        self.summary_path: Path | None = None
        self.summary: RunSummary | None = None
        self.master: MasterJudge | None = None  #: the one oracle of a distributed run
        self.thresholds_passed = True


state = _State()


class PushStats:
    """Server pushes batched into Locust's stats, 4 times a second (see the module docstring).

    A push costs a list append here instead of a full ``events.request`` round (which
    under load is the largest single cost of a delivery); :meth:`flush` then adds the
    batch to the entry and to the total exactly as ``StatsEntry.log`` would, sample by
    sample into the same response-time buckets. Failures are never batched.
    """

    def __init__(self) -> None:
        self.pending: dict[str, list[Any]] = {}

    def add(self, name: str, ms: float | None, length: int) -> None:
        batch = self.pending.get(name)
        if batch is None:
            batch = self.pending[name] = [[], 0, 0]
        if ms is None:
            batch[1] += 1
        else:
            batch[0].append(ms)
        batch[2] += length

    def flush(self, stats: Any) -> None:
        pending, self.pending = self.pending, {}
        for name, (times, nones, length) in pending.items():
            counted = _bucketed(times[1:])  # once for both entries (the total and the name's)
            for entry in (stats.total, stats.get(name, "sio-recv")):
                _bulk_log(entry, times, nones, length, counted)


def _bucketed(values: list[float]) -> Counter[int]:
    """``Counter(bucket_response_time(v) for v in values)``, at C speed for the usual case.

    Locust's stock bucketing is ``round(ms)`` below 100 ms; those values (nearly every
    push) are counted with ``map(round, ...)``, the rest one by one. A bucketing function
    Locust's documentation lets a plugin install at runtime (``locust.stats.
    bucket_response_time = ...``) is honoured: it is looked up at every flush, not imported.
    """
    bucket = locust.stats.bucket_response_time
    if bucket is not _STOCK_BUCKET:
        return Counter(map(bucket, values))
    small = [v for v in values if v < 100]
    counted = Counter(map(round, small))
    if len(small) < len(values):
        counted.update(map(bucket, [v for v in values if not v < 100]))
    return counted


def _bulk_log(entry: Any, times: list[float], nones: int, length: int,
              counted: Counter[int] | None = None) -> None:
    # the first sample the normal way (request timestamps, the per-second percentile cache) ...
    entry.log(times[0] if times else None, length)
    rest, extra_nones = (times[1:], nones) if times else ([], nones - 1)
    more = len(rest) + extra_nones
    if not more:
        return
    # ... the rest as StatsEntry.log would add them one by one
    entry.num_requests += more
    entry.num_reqs_per_sec[int(entry.last_request_timestamp)] += more
    entry.num_none_requests += extra_nones
    if rest:
        entry.total_response_time += sum(rest)
        low, high = min(rest), max(rest)
        entry.min_response_time = (
            low if entry.min_response_time is None else min(entry.min_response_time, low)
        )
        entry.max_response_time = max(entry.max_response_time, high)
        buckets = entry.response_times
        for key, n in (counted if counted is not None else _bucketed(rest)).items():
            buckets[key] += n


_STOCK_BUCKET = bucket_response_time
pushes = PushStats()
#: WSBENCH_LOCUST_PUSH_EVENTS=1 fires one events.request per push (for plugins that listen)
PUSH_EVENTS = os.environ.get("WSBENCH_LOCUST_PUSH_EVENTS", "") not in ("", "0")


def _report(request_type: str, name: str, ms: float | None, length: int, error: str | None) -> None:
    if request_type == "sio-recv" and error is None and not PUSH_EVENTS:
        pushes.add(name, ms, length)
        return
    state.environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=ms,
        response_length=length,
        exception=error,
        context={},
    )


def _judge() -> Judge:
    if state.judge is None:
        env = state.environment
        runner = env.runner if env is not None else None
        index = getattr(runner, "worker_index", 0) if isinstance(runner, WorkerRunner) else 0
        run_id = f"w{max(index, 0)}p{os.getpid():x}"
        if isinstance(runner, WorkerRunner):
            judge = Judge(
                run_id,
                _report,
                journal=_worker_journal(run_id),
                client_base=max(index, 0) * CLIENTS_PER_WORKER,
            )
            # every worker journals every judged event: the emit may come from another worker
            if state.scenario is not None:
                judge.judged_events.update(*expected_events(state.scenario).values())
        else:
            judge = Judge(run_id, _report if env else None)
        judge.read_horizon = _read_horizon  # no deadline closes on a copy left unread
        state.judge = judge
    return state.judge


def _worker_journal(run_id: str) -> JournalWriter:
    """A journal whose batches go to the master as ``wsbench_journal`` messages."""
    runner = state.environment.runner

    def send(data: bytes) -> None:
        runner.send_message(JOURNAL_MSG, {"run": run_id, "data": data})

    return JournalWriter(sink=send)


class ScenarioUser(User):
    """A Locust user running one scenario group; subclasses set ``scenario`` and ``group``."""

    abstract = True
    wait_time = constant(0)
    scenario: m.Scenario
    group: m.Group

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.flow: ClientFlow | None = None

    def on_start(self) -> None:
        host = self.host or self.environment.host
        if not host:
            raise StopUser(
                "no target: pass --host http://HOST:PORT (or set target: in the scenario)"
            )
        judge = _judge()
        if state.peer_index is None:
            state.peer_index = PeerIndex(
                [], lambda c, ns: _judge().oracle.membership.is_connected(c, ns)
            )
        self.flow = ClientFlow(
            self.scenario, self.group, judge, GeventRuntime(), host.rstrip("/"), state.peers,
            state.peer_index, state.restart, state.restart_redis,
        )

    def on_stop(self) -> None:
        flow = self.flow
        if flow is None:
            return
        if self.environment.runner.state in _ENDING:
            return  # test_stop lets in-flight acks settle, then closes every client
        gevent.spawn(_retire, flow)  # ramp-down: this user alone, without blocking the runner

    def _run_flow(self) -> None:
        assert self.flow is not None
        self.flow.run()
        if self.group.on_finish == "disconnect" or self.flow.stopped:
            raise StopUser()
        while True:  # hold the connection until the run stops (Locust kills this greenlet)
            gevent.sleep(3600)

    tasks = [_run_flow]


def _retire(flow: ClientFlow, grace_s: float = LOCAL_GRACE_S) -> None:
    """Close one client once its own acks are in (or ``grace_s`` passed)."""
    until = now_ns() + int(grace_s * 1e9)
    while flow.pending_acks and now_ns() < until:
        gevent.sleep(0.05)
    flow.stop()


def users_from_scenario(scenario: m.Scenario) -> dict[str, type[ScenarioUser]]:
    """One Locust User class per scenario group, named after the group."""
    classes: dict[str, type[ScenarioUser]] = {}
    host = None if scenario.embedded else scenario.target
    shares = Counter(scenario.assign_groups())  # clients per group, counts and weights alike
    for index, group in enumerate(scenario.groups):
        name = "".join(ch if ch.isalnum() else "_" for ch in group.name) or "group"
        attrs: dict[str, Any] = {
            "scenario": scenario,
            "group": group,
            "host": host,
            "__module__": __name__,
            "abstract": False,
        }
        # a weight, never fixed_count: Locust spawns fixed counts first, so with -u below
        # their sum the later groups got no user at all
        attrs["weight"] = shares.get(index, 0)
        classes[name] = type(name, (ScenarioUser,), attrs)
    return classes


# -- process wiring --------------------------------------------------------------------------


def _read_horizon(now: int) -> int:
    """Up to when the sockets' data has been read (see :meth:`Poller.read_horizon`)."""
    return now if _poller is None else _poller.read_horizon(now)


def _tick_forever(local: bool) -> None:
    last_drain = last_watch = now_ns()
    while True:
        gevent.sleep(TICK_S)
        judge = state.judge
        if judge is None:
            continue
        now = now_ns()
        judge.tick(now)
        if judge.journal is not None:
            judge.journal.flush()  # one batch per tick: its heartbeat is this worker's watermark
        pushes.flush(state.environment.runner.stats)
        if now - last_watch >= WATCHDOG_S * 1e9:  # heartbeat deadlines of every connection
            last_watch = now
            for flow in list(state.peers.values()):
                if flow.conn is not None:
                    flow.conn.check_deadline()
        if local and now - last_drain >= LOCAL_DRAIN_S * 1e9:
            state.aggregate.add(judge.drain(now, encode=False))  # same process: no histoblobs
            last_drain = now


def _tick_master(master: MasterJudge) -> None:
    """The master's loop: clock probes, live replay, drains into the aggregate."""
    runner = state.environment.runner
    last_poll = last_drain = now_ns()
    while state.master is master and not master.finished:
        gevent.sleep(MASTER_TICK_S)
        for node, probe in master.due_probes():
            runner.send_message(CLOCK_MSG, {"probe": probe}, client_id=node)
        now = now_ns()
        if now - last_poll >= TICK_S * 1e9:
            last_poll = now
            master.poll()
        if now - last_drain >= LOCAL_DRAIN_S * 1e9 and master.replay.replay_ns:
            last_drain = now
            state.aggregate.add(master.drain())


def _on_journal(environment: Any, msg: Any, **_: Any) -> None:
    master = state.master
    if master is not None and not master.finished:
        master.journal(str(msg.node_id), str(msg.data["run"]), msg.data["data"])


def _on_clock_reply(environment: Any, msg: Any, **_: Any) -> None:
    master = state.master
    if master is not None and master.clock_reply(int(msg.data["probe"]), int(msg.data["t"])):
        environment.runner.send_message(OFFSETS_MSG, master.offsets())


def _on_clock_probe(environment: Any, msg: Any, **_: Any) -> None:
    environment.runner.send_message(CLOCK_MSG, {"probe": msg.data["probe"], "t": now_ns()})


def _on_offsets(environment: Any, msg: Any, **_: Any) -> None:
    if state.judge is not None:
        state.judge.offsets = {str(k): int(v) for k, v in msg.data.items()}


# -- restart_server: the process holding the control channel restarts the server -------------


def _restart_here(downtime: float) -> int | None:
    """Restart the embedded server through ``wsbench locust``; when it was up (None: failed)."""
    control = state.control
    if control is None:
        return None
    try:
        reply = control.restart(downtime)
    except ControlError as exc:
        log.error("wsbench locust: restart_server failed: %s", exc)
        return None
    state.server_info = {"pid": reply.get("pid"), "restarts": reply.get("restarts", 0)}
    return int(reply["up_ns"])


_restart_ids = itertools.count(1)


def _ask_master(message: str, what: str, downtime: float, *, starts: int) -> dict[str, Any] | None:
    """Ask the master for a restart (``message``) and wait for its answer, bounded by the
    master's own budget (stop, ``downtime``, ``starts`` start deadlines) plus the messaging."""
    runner = state.environment.runner
    ident = next(_restart_ids)
    answer = state.restarts_asked[ident] = gevent.event.AsyncResult()
    runner.send_message(message, {"id": ident, "downtime": float(downtime)})
    budget = downtime + STOP_GRACE + (starts * START_TIMEOUT + 5.0) * timeout_factor()
    try:
        data: dict[str, Any] = answer.get(timeout=budget)
        return data
    except gevent.Timeout:
        log.error("wsbench locust: the master did not answer %s within %.0f s", what, budget)
        return None
    finally:
        state.restarts_asked.pop(ident, None)


def _restart_via_master(downtime: float) -> int | None:
    """A worker's restart: ask the master, wait for its answer; when it was up, on our clock."""
    # the master's own budget (stop, downtime, start) plus the messaging
    data = _ask_master(RESTART_MSG, "restart_server", downtime, starts=2)
    if data is None:
        return None
    up = data.get("up_ns")
    if up is None:
        log.warning("wsbench locust: restart_server: %s", data.get("error", "not restarted"))
        return None
    offsets = state.judge.offsets if state.judge is not None else {}
    mine = offsets.get(state.judge.run_id) if state.judge is not None else None
    return int(up) + mine if mine is not None else now_ns()  # master's clock -> ours


def _on_restart_request(environment: Any, msg: Any, **_: Any) -> None:
    """The master: a worker asks for a restart; served in its own greenlet (heartbeats go on)."""
    gevent.spawn(_serve_restart, environment.runner, msg.node_id, dict(msg.data))


def _serve_restart(runner: Any, node_id: Any, data: dict[str, Any]) -> None:
    reply: dict[str, Any] = {"id": data.get("id")}
    if state.control is None:
        reply["error"] = "the master did not start the embedded server (a --host target)"
    else:
        up = _restart_here(float(data.get("downtime", 0.0)))
        if up is None:
            reply["error"] = "the restart failed (see the master's log)"
        else:
            reply["up_ns"] = up
    runner.send_message(RESTARTED_MSG, reply, client_id=node_id)


def _on_restarted(environment: Any, msg: Any, **_: Any) -> None:
    answer = state.restarts_asked.get(msg.data.get("id"))
    if answer is not None:
        answer.set(dict(msg.data))


# -- restart_redis: the holder of the channel restarts the cluster's Redis --------------------


def _judging_oracle() -> Any:
    """The oracle that judges this run: the master's, or this (single) process's."""
    if state.master is not None:
        return state.master.judge.oracle
    return _judge().oracle


def _restart_redis_here(downtime: float) -> tuple[int, int, int | None] | None:
    """Restart the embedded cluster's Redis through ``wsbench locust``, inside the judging
    oracle's outage window; (down, back, resubscribed or None) ns, None: not a cluster."""
    control = state.control
    if control is None or not os.environ.get(CLUSTER_ENV):
        return None
    oracle = _judging_oracle()
    at = now_ns()
    oracle.outage_begin(at)  # before Redis stops: copies in flight may be lost
    try:
        reply = control.restart_redis(downtime)
    except ControlError as exc:
        log.error("wsbench locust: restart_redis failed: %s", exc)
        oracle.outage_end(at, now_ns(), None)  # close the window it opened
        return None
    except BaseException:  # the user was stopped while waiting: close the window too
        oracle.outage_end(at, now_ns(), None)
        raise
    resubscribed = reply.get("resubscribed_ns")
    window = (int(reply["down_ns"]), int(reply["back_ns"]),
              None if resubscribed is None else int(resubscribed))
    oracle.outage_end(*window)
    return window


def _restart_redis_via_master(downtime: float) -> tuple[int, int, int | None] | None:
    """A worker's restart_redis: the master restarts and judges; its window (master clock)."""
    data = _ask_master(REDIS_MSG, "restart_redis", downtime, starts=3)
    if data is None:
        return None
    window = data.get("window")
    if window is None:
        log.warning("wsbench locust: restart_redis: %s", data.get("error", "not restarted"))
        return None
    return (int(window[0]), int(window[1]), None if window[2] is None else int(window[2]))


def _on_restart_redis_request(environment: Any, msg: Any, **_: Any) -> None:
    gevent.spawn(_serve_restart_redis, environment.runner, msg.node_id, dict(msg.data))


def _serve_restart_redis(runner: Any, node_id: Any, data: dict[str, Any]) -> None:
    reply: dict[str, Any] = {"id": data.get("id")}
    window = _restart_redis_here(float(data.get("downtime", 0.0)))
    if window is None:
        reply["error"] = "the master owns no embedded cluster (or the restart failed)"
    else:
        reply["window"] = list(window)
    runner.send_message(REDIS_DONE_MSG, reply, client_id=node_id)


def _server_section() -> dict[str, Any] | None:
    """``sections.server`` when this process holds the embedded server's channel."""
    control = state.control
    if control is None:
        return None
    try:
        info = control.info()
    except ControlError as exc:
        log.warning("wsbench: no server information for the summary: %s", exc)
        info = dict(state.server_info)
    return {
        "embedded": True,
        "pid": info.get("pid"),
        "stopped": False,  # wsbench locust stops it once Locust has exited
        "restarts": int(info.get("restarts") or 0),
        "banner": str(info.get("banner", "")),
        "pids": list(info.get("pids", ())),  # every pid it ran as: a restart adds one
    }


def _finish_master() -> None:
    """Judge what the workers' journals hold and add the master's verdict to the aggregate."""
    master = state.master
    if master is not None and not master.finished and master.sources:
        master.finish()
        state.aggregate.add(master.drain())


def _finish_local(grace_s: float) -> None:
    """Let in-flight emits and acks settle (readers still run), then close every client.

    A recording (worker) judge journals ``FINAL`` before the clients close and ``END``
    after: the closes are not membership changes the master's verdict should see.
    """
    judge = state.judge
    if judge is not None:
        until = now_ns() + int(grace_s * 1e9)
        while not judge.settled() and now_ns() < until:
            gevent.sleep(0.05)
            judge.tick()
        judge.mark(Op.FINAL)
    for flow in list(state.peers.values()):
        flow.stop()
    if judge is not None:
        judge.finish()
        if judge.journal is not None:
            judge.journal.close()
    if state.environment is not None and state.environment.runner is not None:
        pushes.flush(state.environment.runner.stats)


def install(scenario: m.Scenario, ev: Any = events) -> None:
    """Register the integration's listeners on Locust's ``events`` (call at import)."""
    state.scenario = scenario

    @ev.init_command_line_parser.add_listener
    def _options(parser: Any, **_: Any) -> None:
        parser.add_argument(
            "--wsbench-report-dir",
            default=os.environ.get("WSBENCH_REPORT_DIR", ""),
            help="where wsbench writes summary.json (default reports/<scenario>-locust-<time>)",
        )

    @ev.init.add_listener
    def _init(environment: Any, **_: Any) -> None:
        state.environment = environment
        runner = environment.runner
        if environment.web_ui is not None:
            _install_web_ui(environment)
        if not isinstance(runner, WorkerRunner):
            state.control = ControlClient.from_env(gevent.lock.Semaphore())
            state.restart = _restart_here if state.control is not None else None
            state.restart_redis = _restart_redis_here
        if isinstance(runner, MasterRunner):
            runner.environment.events.worker_report.add_listener(_on_worker_report)
            runner.register_message(JOURNAL_MSG, _on_journal)
            runner.register_message(CLOCK_MSG, _on_clock_reply)
            runner.register_message(RESTART_MSG, _on_restart_request)
            runner.register_message(REDIS_MSG, _on_restart_redis_request)
        else:
            state.ticker = gevent.spawn(_tick_forever, not isinstance(runner, WorkerRunner))
        if isinstance(runner, WorkerRunner):
            environment.events.report_to_master.add_listener(_on_report_to_master)
            runner.register_message(CLOCK_MSG, _on_clock_probe)
            runner.register_message(OFFSETS_MSG, _on_offsets)
            runner.register_message(RESTARTED_MSG, _on_restarted)
            runner.register_message(REDIS_DONE_MSG, _on_restarted)  # same answer table
            state.restart = _restart_via_master
            state.restart_redis = _restart_redis_via_master

    @ev.test_start.add_listener
    def _test_start(environment: Any, **_: Any) -> None:
        state.started_ns = now_ns()
        state.started_at = iso_timestamp()
        runner = environment.runner
        if isinstance(runner, MasterRunner):
            # one oracle per test: a test restarted from the web UI is judged afresh
            state.master = MasterJudge(_report)
            gevent.spawn(_tick_master, state.master)
        elif isinstance(runner, WorkerRunner):
            judge = _judge()  # at once, so the master can estimate this clock before users
            if judge.journal is not None and judge.journal.closed:
                judge.new_journal(_worker_journal(judge.run_id))
            judge.journal.flush()  # type: ignore[union-attr]

    @ev.test_stop.add_listener
    def _test_stop(environment: Any, **_: Any) -> None:
        if isinstance(environment.runner, MasterRunner):
            master = state.master
            # Locust stopped the workers first (web UI, last worker quit): their END arrived
            if master is not None and master.sources and all(
                s.feed.ended for s in master.sources.values()
            ):
                _finish_master()
            return
        if isinstance(environment.runner, WorkerRunner) and state.judge is not None:
            state.judge.mark(Op.STOPPED)
        # a worker's final report leaves within the master's 0.5 s quit window
        _finish_local(
            WORKER_GRACE_S if isinstance(environment.runner, WorkerRunner) else LOCAL_GRACE_S
        )
        if not isinstance(environment.runner, WorkerRunner) and state.judge is not None:
            state.aggregate.add(state.judge.drain(encode=False))

    @ev.quitting.add_listener
    def _quitting(environment: Any, **_: Any) -> None:
        if isinstance(environment.runner, WorkerRunner):
            return
        if state.judge is not None and not isinstance(environment.runner, MasterRunner):
            _finish_local(0.0)
            state.aggregate.add(state.judge.drain(encode=False))
        if isinstance(environment.runner, MasterRunner):
            _finish_master()
        try:
            write_summary(environment)
        except Exception:  # noqa: BLE001 - a report problem must not hide Locust's own exit
            log.exception("wsbench: could not write the run summary")
        summary = state.summary
        if summary is not None:
            if not state.thresholds_passed:
                environment.process_exit_code = 1
            # after Locust's own final tables, which it prints once this listener returns
            atexit.register(_print_verdict, summary, str(state.summary_path.parent))
        if getattr(environment.parsed_options, "csv_prefix", None):
            # Locust's CSV writer rewrites its files every second and is not flushed at exit:
            # let it run once more so violations found while the run settled are in the files.
            gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.2)


def _print_verdict(summary: RunSummary, out_dir: str) -> None:
    from wsbench.report.console import render_summary

    sys.stdout.write("\n" + render_summary(summary, out_dir))
    sys.stdout.flush()


def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    judge = state.judge
    if judge is not None:
        data["wsbench"] = judge.drain()


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    payload = data.get("wsbench")
    if payload is not None:
        state.aggregate.add(payload)


# -- web UI ------------------------------------------------------------------------------------


def _install_web_ui(environment: Any) -> None:
    from flask import jsonify, request

    web_ui = environment.web_ui
    web_ui.template_args["extended_tabs"] = [{"title": "Fan-out", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [{"key": TAB_KEY, "structure": TABLE_STRUCTURE}]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "/wsbench/fanout.csv", "title": "Download wsbench fan-out table (CSV)"}
    ]
    app = web_ui.app

    @app.after_request
    def _extend_stats(response: Any) -> Any:
        if request.path != "/stats/requests" or not response.is_json:
            return response
        body = response.get_json()
        extended = [e for e in body.get("extended_stats", []) if e.get("key") != TAB_KEY]
        extended.append({"key": TAB_KEY, "data": state.aggregate.rows()})
        body["extended_stats"] = extended
        response.set_data(environment.web_ui.app.json.dumps(body))
        return response

    @app.route("/wsbench/fanout.json")
    def _fanout_json() -> Any:
        return jsonify(state.aggregate.view())

    @app.route("/wsbench/fanout.csv")
    def _fanout_csv() -> Any:
        import csv
        import io

        out = io.StringIO()
        writer = csv.DictWriter(out, [c["key"] for c in TABLE_STRUCTURE])
        writer.writeheader()
        writer.writerows(state.aggregate.rows())
        return (
            out.getvalue(),
            200,
            {
                "Content-Type": "text/csv",
                "Content-Disposition": "attachment;filename=wsbench_fanout.csv",
            },
        )


# -- the run summary ---------------------------------------------------------------------------


def write_summary(environment: Any) -> Path | None:
    """Write ``summary.json`` (and the HTML report when available) for the finished run."""
    scenario = state.scenario
    if scenario is None or state.aggregate.metrics is None:
        return None
    options = environment.parsed_options
    out_dir = getattr(options, "wsbench_report_dir", "") if options is not None else ""
    if not out_dir:
        stamp = state.started_at.replace(":", "").replace("-", "")[:15]
        out_dir = str(Path("reports") / f"{scenario.name}-locust-{stamp}")
    stats = environment.runner.stats.total
    failures = int(stats.num_failures)
    sections = state.aggregate.summary_sections()
    sections["run"] = {
        "clients": int(environment.runner.user_count),
        "transport": str(scenario.transport),
        "processes": max(1, len(state.aggregate.sources)),
        "seed": scenario.seed,
        "driver": "locust",
    }
    metrics = state.aggregate.metrics.snapshot()
    violations = sections["delivery"]["violations"]
    sections["thresholds"] = [
        t.to_dict()
        for t in evaluate(
            scenario.thresholds,
            metrics["histograms"],
            sections["delivery"],
            int(violations["counts"].get("connect_failed", 0)),
        )
    ]
    workers = [k for k in state.aggregate.sources if k != MASTER_RUN]
    sections["run"]["processes"] = max(1, len(workers))
    sections["locust"] = {
        "requests": int(stats.num_requests),
        "failures": failures,
        "runner": type(environment.runner).__name__,
        "user_count": int(environment.runner.user_count),
        "workers": len(workers),
    }
    server = _server_section()
    if server is not None:
        sections["server"] = server
    if state.master is not None and state.master.sources:
        sections["generator"]["judging"] = "one oracle on the master (worker journals)"
        sections["generator"]["clocks"] = state.master.clocks()
        sections["generator"]["violations_by_worker"] = state.master.violations_by_worker()
    summary = RunSummary(
        scenario=scenario.name,
        target=Target(url=environment.host or "", embedded=scenario.embedded),
        started_at=state.started_at,
        duration_s=(now_ns() - state.started_ns) / 1e9,
        exit_status=1
        if failures
        or violations["total"]
        or not all(t["passed"] for t in sections["thresholds"])
        else 0,
        metrics=metrics,
        sections=sections,
        environment=RunEnvironment.capture(),
    )
    path = summary.write(Path(out_dir) / "summary.json")
    state.summary_path, state.summary = path, summary
    state.thresholds_passed = all(t["passed"] for t in sections["thresholds"])
    try:
        from wsbench.report import write_report

        write_report(summary, out_dir)
    except Exception as exc:  # noqa: BLE001 - the summary is the artifact; plots are a bonus
        log.warning("wsbench: summary written, HTML report skipped: %s", exc)
    log.info("wsbench: run summary written to %s", path)
    return path
