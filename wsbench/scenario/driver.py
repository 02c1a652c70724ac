"""The driver: one event loop running many virtual users, the oracle and the metrics.

Theory of operation
-------------------
A :class:`Driver` owns a set of clients (all of them, or one process's share with
``--processes``), one :class:`~wsbench.oracle.DeliveryOracle` with its membership
model, one :class:`~wsbench.metrics.Metrics` store and the shared aiohttp sessions.
It is the :class:`~wsbench.scenario.interpreter.Host` of the users' interpreters
(counters, violations, connect errors, reconnection and restart bookkeeping).
:meth:`Driver.run` starts one :class:`~wsbench.scenario.flow.VirtualUser` task (the
asyncio shell of one :class:`~wsbench.scenario.interpreter.UserMachine`) per client at
its arrival offset, and three small housekeeping tasks:

* the *ticker* (every second): rolls the metrics over, samples this process's CPU,
  RSS and fds (and the embedded server's), sets the ``connections`` gauge, harvests
  protocol violations the connections recorded (malformed frames become
  ``malformed_frame`` violations with the offending text as evidence) and reports a
  :class:`~wsbench.scenario.progress.Status`;
* the *sweeper* (every 100 ms): closes emits and acks whose deadline passed;
* the *lag probe* (every 50 ms): how late the loop wakes up, into ``loop_lag``. A
  driver whose loop lags is measuring itself, not the server: the runner warns.

While it runs, the process makes no full garbage collection
(:func:`wsbench.client.loop.young_gc_only`: each one blocked the loop for the walk of every
connection and open record, up to 1 s in the main job); every collection's pause goes to
``gc_pause`` and the ``gc.gen0``/``gc.gen1``/``gc.gen2`` counters.

Receiving costs one listener call per event: only events that some expectation of
the scenario names are searched for a stamp (:meth:`receiver`), the rest are just
counted by the client. Each emit may have several expectations; the first uses the
stamp's id as the oracle key, further ones ``id|event`` (:mod:`wsbench.scenario.stampkeys`).

Ending: at ``duration`` the users are cancelled, in-flight emits get until their
deadlines (at most the longest ``within`` + 1 s) to complete, then everything still
open is judged and every connection closed. An abort (server died, Ctrl-C, no
connection left) skips the drain: what was measured is kept and the result is
marked partial.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from wsbench.client import new_http_session
from wsbench.client.loop import young_gc_only
from wsbench.client.pool import fd_limit, open_fds
from wsbench.exceptions import ResourceLimit
from wsbench.metrics import Metrics, ProcessSampler, now_ns
from wsbench.oracle import DeliveryOracle, Oracle, Violation, ViolationKind
from wsbench.oracle.stamp import find_stamp
from wsbench.scenario import interpreter as interp
from wsbench.scenario import model as m
from wsbench.scenario.flow import VirtualUser
from wsbench.scenario.journal import JournalWriter, Op, RecordingOracle
from wsbench.scenario.judge import latency_sinks, node_latency_sink
from wsbench.scenario.model import Scenario
from wsbench.scenario.progress import Status
from wsbench.scenario.stampkeys import Secondary
from wsbench.scenario.walk import (
    by_receiver,
    correlation_key,
    correlations,
    disconnect_keyed,
    expected_events,
    max_within,
    origin_key,
)

__all__ = ["Driver", "close_key", "expected_events"]

logger = logging.getLogger(__name__)
_S = 1_000_000_000
_PER_ADDRESS = 20_000
_EMPTY: frozenset[str] = frozenset()
_MAX_CLOSE_KEYS = 40


def close_key(reason: str, detail: str) -> str:
    """``"transport close: websocket closed (1009)"``: the reason, and the detail if any."""
    detail = " ".join(str(detail).split())
    if not detail or detail == reason:
        return reason
    return f"{reason}: {detail[:100]}"


class Driver:
    """Runs ``client_ids`` of ``scenario`` against ``url``; see the module docstring."""

    def __init__(
        self,
        scenario: Scenario,
        url: str,
        client_ids: list[int] | None = None,
        *,
        run_id: str | None = None,
        origin_ns: int | None = None,
        origin_wall: float | None = None,
        start_ns: int | None = None,
        restart: Callable[[float], Awaitable[int]] | None = None,
        restart_redis: Callable[[float], Awaitable[tuple[int, int, int | None]]] | None = None,
        server_pid: Callable[[], int | None] | None = None,
        on_status: Callable[[Status], None] | None = None,
        on_message: Callable[[str], None] | None = None,
        oracle: RecordingOracle | None = None,
        drain: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.scenario = scenario
        self.url = url.rstrip("/")
        self.client_ids = list(range(scenario.clients)) if client_ids is None else client_ids
        self.position = {c: i for i, c in enumerate(self.client_ids)}
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.metrics = Metrics(origin_ns=origin_ns, origin_wall=origin_wall)
        self.start_ns = start_ns
        self.journal: JournalWriter | None = None
        self.oracle: Oracle  # judging here, or journaling for a judge elsewhere
        if oracle is not None:  # a --processes child: the parent's judge judges
            self.oracle = oracle
            self.journal = oracle.journal
        else:
            on_latency, on_fanout = latency_sinks(self.metrics)
            self.oracle = DeliveryOracle(on_latency=on_latency, on_fanout=on_fanout,
                                         on_node_latency=node_latency_sink(self.metrics))
        self._drain_hook = drain
        self.membership = self.oracle.membership
        self.connect_timeout = 20.0
        self.expected = expected_events(scenario)
        self.grace_s = max_within(scenario) + 1.0
        groups = scenario.assign_groups()
        self.offsets = scenario.arrival_offsets()
        self._secondary = Secondary()
        self._correlations = correlations(scenario.app)
        self._payload_args = scenario.app is not None or self.journal is None
        #: app-derived copies are searched for a stamp beyond the carrier keys when the fast
        #: search finds none (a renamed key is a payload_mismatch, not a missing copy)
        self._deep = scenario.app is not None
        #: disconnect pushes matched by the stamp their copies carry from an earlier emit
        self._by_origin = disconnect_keyed(scenario.app)
        self.stopping = False
        #: judging ended (the final sweep, or FINAL journaled): copies that arrive later,
        #: e.g. the /chat ``user left`` pushes the teardown's own closes cause at sockets
        #: still open, are beyond the verdict's horizon and not observed (as the
        #: ``--processes`` judge ignores a child's records after its FINAL)
        self.judged = False
        peers = interp.PeerIndex(self.client_ids, self.membership.is_connected)
        secondary = self._secondary if self.journal is None else None  # a child's judge keys
        self.vus = {
            c: VirtualUser(
                self,
                interp.UserMachine(
                    scenario, scenario.groups[groups[c]], c, self, peers, secondary
                ),
            )
            for c in self.client_ids
        }
        self._restart = restart
        self._restart_redis = restart_redis
        self.redis_restarts = 0
        self._redis_lock = asyncio.Lock()
        #: restart_redis faults in progress (shielded from their flows' cancellation)
        self._restarting: set[asyncio.Future[tuple[int, int, int | None]]] = set()
        self._server_pid = server_pid
        self._on_status = on_status
        self._on_message = on_message or (lambda text: logger.warning("%s", text))
        self._http: dict[str | None, Any] = {}
        self._loopback = (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")
        self.connect_recorder = self.metrics.recorder("connect")
        self.stop_ramping = False
        self.abort_reason: str | None = None
        self._abort = asyncio.Event()
        self.started = 0
        self.open_connections = 0
        self.connected_sockets = 0
        self.peak_sockets = 0
        self.connect_errors: dict[str, int] = {}
        self.closes: dict[str, int] = {}  #: every transport close, by reason (and detail)
        self.limit: str | None = None
        self.reconnects = self.reconnects_failed = 0
        self.replayed = 0
        self.pending_acks = 0
        self.restart_up_ns: int | None = None
        self.herd: dict[int, int] = {}
        self.server_restarts = 0
        self.warnings: list[str] = []
        self._fd_base = 0
        self._fd_limit = fd_limit()
        self._fds_per = 1 if scenario.transport is m.Transport.WEBSOCKET else 2
        self._seen_violations: dict[int, int] = {}

    # -- called by virtual users --------------------------------------------------------

    def http_for(self, index: int) -> Any:
        slot = self.position[index] // _PER_ADDRESS
        source = f"127.0.0.{slot + 1}" if (self._loopback and slot) else None
        http = self._http.get(source)
        if http is None:
            options = {"local_addr": (source, 0)} if source else {}
            http = self._http[source] = new_http_session(**options)
        return http

    def check_capacity(self) -> None:
        need = self._fd_base + (self.open_connections + 1) * self._fds_per + 64
        if need > self._fd_limit:
            raise ResourceLimit(
                "RLIMIT_NOFILE (open files)",
                self._fd_limit,
                f"this process holds {self.open_connections:,} connections; "
                "use --processes N or fewer clients",
            )

    def limit_reached(self, message: str) -> None:
        if not self.stop_ramping:
            self.stop_ramping = True
            self.limit = message
            self._on_message(f"stopped ramping at {self.open_connections:,} connections: {message}")

    def connect_error(self, message: str, client: int | None = None, ns: str = "") -> None:
        """Count a failed connect by message; a client's failure is a ``connect_failed``
        violation too (any violation fails the run unless a threshold allows it)."""
        self.connect_errors[message] = self.connect_errors.get(message, 0) + 1
        self.metrics.incr("connect_errors")
        if client is not None:
            self.violation(ViolationKind.CONNECT_FAILED, client, ns, "", message)

    def closed(self, reason: str, detail: str) -> None:
        """A connection's transport ended (``Connection.on_close``): count it by reason."""
        key = close_key(reason, detail)
        if key not in self.closes and len(self.closes) >= _MAX_CLOSE_KEYS:
            key = f"{reason}: (other details)"
        self.closes[key] = self.closes.get(key, 0) + 1
        self.metrics.incr("closes")

    def violation(self, kind: ViolationKind, client: int, ns: str, event: str, detail: str) -> None:
        self.oracle.violations.add(
            Violation(
                kind,
                sender=client,
                receiver=(client, ns),
                namespace=ns,
                event=event,
                detail=detail,
                at_ns=now_ns(),
            )
        )

    def reconnected(self, latency_ns: int, now: int) -> None:
        self.reconnects += 1
        self.metrics.incr("reconnects")
        self.metrics.record_ns("reconnect", latency_ns)
        if self.restart_up_ns is not None and now >= self.restart_up_ns:
            b = (now - self.restart_up_ns) // 100_000_000
            if b < 600:
                self.herd[b] = self.herd.get(b, 0) + 1

    def reconnect_failed(self) -> None:
        self.reconnects_failed += 1

    def count(self, name: str, n: int = 1) -> None:
        self.metrics.incr(name, n)

    def record(self, name: str, latency_ns: int) -> None:
        self.metrics.record_ns(name, latency_ns)

    def connect_time(self, namespaces: Any, latency_ns: int) -> None:
        self.connect_recorder(latency_ns)

    def emitted(self, ns: str, event: str, acked: bool) -> None:
        self.metrics.incr("emits")

    def ack_observed(
        self, key: Any, ns: str, event: str, now: int, ok: bool, detail: str
    ) -> None:
        if ok:
            self.oracle.observe_ack(key, now)
        else:
            self.oracle.observe_ack(key, now, False, detail)

    def restarted(self, up_ns: int | None) -> None:
        if up_ns is None:
            self.warnings.append("restart_server skipped: the target is not the embedded server")
            return
        self.restart_up_ns = up_ns
        self.server_restarts += 1

    def redis_restarted(self, window: tuple[int, int, int | None] | None) -> None:
        if window is None:
            self.metrics.incr("faults.restart_redis.skipped")
            # a --processes child relays to the parent only when it owns a cluster
            text = "restart_redis skipped: the target is not an embedded cluster"
            if text not in self.warnings:
                self.warnings.append(text)
        # else: the restart closed the oracle's window and counted itself (_restart_redis_once)

    async def restart_redis(self, downtime: float) -> tuple[int, int, int | None] | None:
        """Restart the cluster's Redis (the I/O of a ``restart_redis`` fault): the oracle's
        outage window opens now; (down, back, resubscribed) ns, None when not a cluster.

        The restart runs shielded from the asking flow: a flow cancelled at the end of the
        run (the restart outlasted ``duration``) leaves it to finish, close the window it
        opened and count itself; the run waits for it before its final sweep."""
        if self._restart_redis is None:
            return None
        task = asyncio.ensure_future(self._restart_redis_once(downtime))
        self._restarting.add(task)
        task.add_done_callback(self._restarting.discard)
        return await asyncio.shield(task)

    async def _restart_redis_once(self, downtime: float) -> tuple[int, int, int | None]:
        assert self._restart_redis is not None
        async with self._redis_lock:  # one restart at a time, as the launcher can
            self._on_message(f"fault: restarting the cluster's Redis ({downtime:g} s down)")
            at = now_ns()
            self.oracle.outage_begin(at)
            try:
                window = await self._restart_redis(downtime)
            except BaseException:
                self.oracle.outage_end(at, now_ns(), None)  # close the window it opened
                raise
            self.oracle.outage_end(*window)
            self.redis_restarts += 1
            if window[2] is None:
                self.warnings.append("restart_redis: the nodes had not re-subscribed by the "
                                     "launcher's deadline")
            return window

    async def restart_server(self, downtime: float) -> int | None:
        """Restart the embedded server (the I/O of a ``restart_server`` fault); when it is up."""
        if self._restart is None:
            return None
        self._on_message(f"fault: restarting the embedded server ({downtime:g} s down)")
        return await self._restart(downtime)

    # -- the oracle's side ----------------------------------------------------------------

    def receiver(self, client: int, ns: str) -> Callable[..., None]:
        expected = self.expected.get(ns, _EMPTY)
        observe = self.observe
        if not expected:
            return lambda *_: None

        def on_any(event: str, *args: Any) -> None:
            if event in expected:
                observe(client, ns, event, args)

        return on_any

    def observe(self, client: int, ns: str, event: str, args: tuple[Any, ...]) -> None:
        if self.judged:
            return
        stamp = find_stamp(args, self._deep)
        place = self._correlations.get((ns, event)) if self._correlations else None
        # an unstamped push the app file correlates (user joined by the sid it carries); a
        # push to the sender keyed by the value it copies and its receiver (document state
        # by its docId) even when its content holds some other emit's stamp
        if place is not None and (stamp is None or by_receiver(place)):
            key = correlation_key(place, ns, event, args, client)
            if key is not None:
                self.oracle.observe_correlated(key, client, ns, now_ns(), event, args)
                return
        if stamp is None:
            return
        now = now_ns()
        if self._by_origin and (ns, event) in self._by_origin:  # /chat's user left
            self.oracle.observe_correlated(origin_key(ns, event, stamp.id), client, ns, now,
                                           event, args if self._payload_args else None)
            return
        if self._secondary:
            stamp = self._secondary.key(stamp, event)
        if self.vus[client].machine.replayed(ns, stamp.sent_ns):
            # a recovering session gets missed packets around its CONNECT answer
            self.replayed += 1  # sent while this socket was away, replayed by recovery
            return
        # the copy's args for the payload check of app-derived emits; a --processes child
        # journals them only when the scenario has an app file (a journal of a plain one
        # stays as small as it was)
        self.oracle.observe_delivery(stamp, client, ns, now, event,
                                     args if self._payload_args else None)

    async def post_notification(
        self, client: int, body: dict[str, Any], timeout: float, token: str | None = None
    ) -> interp.CallReply:
        """``POST /notifications`` (the I/O of a ``notify`` step): its status, or why not.

        ``token``: sent as ``Authorization: Bearer`` (the scenario's admin token).
        """
        headers = {"Authorization": f"Bearer {token}"} if token else None
        url = f"{self.url}/notifications"
        try:
            async with self.http_for(client).post(url, json=body, headers=headers) as r:
                await r.read()
                return interp.CallReply([r.status])
        except Exception as exc:  # documented boundary: a failed POST is a measured failure
            return interp.CallReply(None, f"{type(exc).__name__} {exc}")

    # -- running ----------------------------------------------------------------------------

    def abort(self, reason: str) -> None:
        """End the run now, keeping what was measured (the result is partial)."""
        if self.abort_reason is None:
            self.abort_reason = reason
        self._abort.set()

    async def run(self) -> None:
        """Run the scenario's clients to the end (or an abort); then close everything."""
        pause = self.metrics.recorder("gc_pause")
        metrics = self.metrics

        def on_gc(generation: int, ns: int) -> None:
            pause(ns)
            metrics.incr(f"gc.gen{generation}")

        with young_gc_only(on_gc):
            await self._run()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._fd_base = open_fds()
        start = self.start_ns if self.start_ns is not None else now_ns()
        end = start + int(self.scenario.duration * _S)
        tasks = [
            loop.create_task(self.vus[c].run(start + int(self.offsets[c] * _S)))
            for c in self.client_ids
        ]
        chores = [
            loop.create_task(self._ticker(start, end)),
            loop.create_task(self._sweeper()),
            loop.create_task(self._lag_probe()),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._abort.wait(), max(0.0, (end - now_ns()) / _S))
        self.stopping = True
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._restarting and self.abort_reason is None:
            # a Redis restart its flow no longer waits for: its window closes before judging
            await asyncio.wait(self._restarting, timeout=self.grace_s + 60)
        if self.abort_reason is None:  # drain: let in-flight emits reach their deadlines
            await (self._drain_hook() if self._drain_hook is not None else self._drain())
        if self.journal is not None:
            self.journal.add(Op.FINAL)
            self.journal.flush()
        else:
            self.oracle.sweep(now_ns() if self.abort_reason else None)
        self.judged = True
        for t in chores:
            t.cancel()
        await asyncio.gather(*chores, return_exceptions=True)
        self._harvest_violations()
        self.metrics.set_gauge("connections", self.connected_sockets)
        self.metrics.flush(now_ns())
        await self._close_all()

    async def _drain(self) -> None:
        drain_end = now_ns() + int(self.grace_s * _S)
        while (
            (self.oracle.open_emits or self.pending_acks > 0)
            and now_ns() < drain_end
            and not self._abort.is_set()
        ):
            deadline = self.oracle.next_deadline()
            if deadline is None:
                break
            await asyncio.sleep(min(0.1, max(0.0, (deadline - now_ns()) / _S)))
            self.oracle.sweep(now_ns())

    async def _close_all(self) -> None:
        vus = [vu for vu in self.vus.values() if vu.conn is not None]
        for i in range(0, len(vus), 500):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.gather(
                        *(vu.close() for vu in vus[i : i + 500]), return_exceptions=True
                    ),
                    10,
                )
        for http in self._http.values():
            with contextlib.suppress(Exception):
                await http.close()

    async def _ticker(self, start: int, end: int) -> None:
        me = ProcessSampler()
        server_pid: int | None = None
        server: ProcessSampler | None = None
        me.sample()
        empty_since: int | None = None
        while True:
            await asyncio.sleep(1.0 - ((now_ns() - start) % _S) / _S)
            now = now_ns()
            self.peak_sockets = max(self.peak_sockets, self.connected_sockets)
            self.metrics.set_gauge("connections", self.connected_sockets)
            self.metrics.set_gauge("violations", self.oracle.violations.total)
            sample = me.record(self.metrics, "process")
            pid = self._server_pid() if self._server_pid else None
            if pid != server_pid:
                server_pid, server = pid, (ProcessSampler(pid) if pid else None)
                if server is not None:
                    with contextlib.suppress(Exception):
                        server.sample()
            elif server is not None:
                with contextlib.suppress(Exception):
                    server.record(self.metrics, "server")
            self._harvest_violations()
            last = (
                self.metrics.series("delivery")[-1:] if self.metrics.counter("deliveries") else []
            )
            self.metrics.tick(now)
            if self._on_status is not None:
                rate = sum(
                    self.metrics.counter_series(n)[-1][1] if self.metrics.counter_series(n) else 0
                    for n in ("deliveries", "acks")
                )
                phase = (
                    "ramping"
                    if self.started < len(self.client_ids) and not self.stop_ramping
                    else "running"
                )
                self._on_status(
                    Status(
                        (now - start) / _S,
                        self.scenario.duration,
                        phase,
                        self.connected_sockets,
                        len(self.client_ids),
                        rate,
                        last[0].p99_ms if last else None,
                        self.oracle.violations.total,
                        sample.cpu_percent,
                    )
                )
            if (
                self.connected_sockets == 0
                and self.peak_sockets > 0
                and self.restart_up_ns is None
                and self.server_restarts == 0
                and now < end
            ):
                empty_since = empty_since or now
                if now - empty_since > 5 * _S and self.started >= len(self.client_ids):
                    self.abort(f"lost every connection to {self.url} for 5 s")
            else:
                empty_since = None

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self.oracle.sweep(now_ns())

    async def _lag_probe(self) -> None:
        record = self.metrics.recorder("loop_lag")
        period = 50_000_000
        while True:
            t0 = now_ns()
            await asyncio.sleep(period / _S)
            record(max(0, now_ns() - t0 - period))

    def _harvest_violations(self) -> None:
        for vu in self.vus.values():
            conn = vu.conn
            if conn is None or not conn.violation_count:
                continue
            seen = self._seen_violations.get(vu.index, 0)
            if conn.violation_count > seen:
                self._seen_violations[vu.index] = conn.violation_count
                detail = conn.violations[-1] if conn.violations else None
                evidence = (
                    f"{detail.detail}: {detail.raw!r}"[:300] if detail else "protocol violation"
                )
                self.oracle.violations.add(
                    Violation(
                        ViolationKind.MALFORMED_FRAME,
                        receiver=(vu.index, "*"),
                        detail=evidence,
                        at_ns=now_ns(),
                    ),
                    count=conn.violation_count - seen,
                )
