"""The sans-I/O interpreter, driven by hand: actions out, replies and lifecycle events in, time given.

No sockets and no clock: each test plays the shell, with a real DeliveryOracle as the host's oracle.
"""

from __future__ import annotations

from typing import Any

from wsbench.oracle import DeliveryOracle, Semantics, Stamp, Violation, ViolationKind, find_stamp
from wsbench.scenario import interpreter as i
from wsbench.scenario import loads_scenario
from wsbench.scenario.stampkeys import Secondary

S = 1_000_000_000


class Host:
    """The process side, recording what the interpreter reports."""

    def __init__(self) -> None:
        self.run_id = "t"
        self.oracle = DeliveryOracle()
        self.stopping = False
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []
        self.reconnects: list[int] = []
        self.restarts: list[int | None] = []
        self.acks: list[tuple[Any, bool, str]] = []

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def violation(self, kind: ViolationKind, client: int, ns: str, event: str, detail: str) -> None:
        self.oracle.violations.add(Violation(kind, sender=client, namespace=ns, detail=detail))

    def connect_error(self, message: str, client: int | None = None, ns: str = "") -> None:
        self.errors.append(message)

    def connect_time(self, namespaces: Any, latency_ns: int) -> None:
        self.count("connected")

    def reconnected(self, latency_ns: int, now: int) -> None:
        self.reconnects.append(latency_ns)

    def reconnect_failed(self) -> None:
        self.count("reconnect_failed")

    def emitted(self, ns: str, event: str, acked: bool) -> None:
        self.count("emits")

    def ack_observed(self, key: Any, ns: str, event: str, now: int, ok: bool, detail: str) -> None:
        self.acks.append((key, ok, detail))

    def limit_reached(self, message: str) -> None:
        self.errors.append(message)

    def restarted(self, up_ns: int | None) -> None:
        self.restarts.append(up_ns)


def machine(flow: str, clients: int = 2, index: int = 0) -> tuple[i.UserMachine, Host, Secondary]:
    scenario = loads_scenario(
        f"name: t\nclients: {clients}\nduration: 5s\ngroups:\n  - name: g\n    flow:\n{flow}"
    )
    host = Host()
    peers = i.PeerIndex(range(clients), host.oracle.membership.is_connected)
    secondary = Secondary()
    um = i.UserMachine(scenario, scenario.groups[0], index, host, peers, secondary)
    return um, host, secondary


def connect(um: i.UserMachine, now: int) -> Any:
    """Play a successful connect of the first step; the next action."""
    action = um.start(now)
    assert isinstance(action, i.Open) and action.namespaces == ("/",)
    um.on_connected("/", "sid0", False, now + 1)
    return um.resume(i.ConnectReply((("/", "connected", ""),)), now + 2)


def test_an_emit_is_stamped_with_its_intended_time_and_registers_every_expectation() -> None:
    flow = (
        "      - connect: /\n"
        "      - every:\n"
        "          interval: 1s\n"
        "          count: 2\n"
        "          steps:\n"
        "            - emit: {event: broadcast all, data: {x: 1}, ack: true,\n"
        "                     expect: [message, {event: echo, to: sender}]}\n"
    )
    um, host, secondary = machine(flow)
    action = connect(um, 10 * S)
    assert isinstance(action, i.Emit) and action.ack == (0, "/", 1)
    stamp = find_stamp(action.args)
    assert stamp is not None and stamp.sent_ns == 10 * S + 2 and stamp.seq == 1
    assert host.oracle.open_emits == 2  # the first under the id, the second under id|echo
    assert secondary.key(stamp, "echo").id == f"{stamp.id}|echo"
    assert secondary.key(stamp, "message").id == stamp.id
    # the next iteration is intended one interval later, even if resumed late
    action = um.resume(None, 10 * S + 2)
    assert action == i.Sleep(11 * S + 2)
    action = um.resume(None, 11 * S + 500)
    late = find_stamp(action.args)
    assert late.sent_ns == 11 * S + 2  # open loop: the intended time, not the late one
    um.on_ack((0, "/", 1), [{"ok": False, "error": "nope"}], 12 * S)
    assert host.acks == [((0, "/", 1), False, "refused: nope")]
    assert um.resume(None, 12 * S) is None


def test_an_emit_sent_behind_its_schedule_gives_the_server_its_whole_within() -> None:
    """Latency counts from the intended send; ``within`` from the actual one. A generator
    3 s behind its schedule (a loaded machine) had a deadline 2 s in the past before the
    emit left, so the server's copies were judged missing."""
    flow = (
        "      - connect: /\n"
        "      - every:\n"
        "          interval: 1s\n"
        "          count: 2\n"
        "          steps:\n"
        "            - emit: {event: broadcast all, data: {x: 1}, expect: [{event: message,\n"
        "                     within: 1s}]}\n"
    )
    um, host, _ = machine(flow)
    connect(um, 10 * S)
    assert um.resume(None, 10 * S + 2) == i.Sleep(11 * S + 2)
    action = um.resume(None, 14 * S)  # resumed 3 s after the second iteration's intended time
    late = find_stamp(action.args)
    assert late.sent_ns == 11 * S + 2  # its latency is still taken from the schedule
    o = host.oracle
    o.sweep(14 * S + S // 2)  # half a second after the actual send: still owed, open
    assert o._open[late.id].deadline_ns == 15 * S
    o.observe_delivery(late, 0, "/", 14 * S + 3)  # 3 s after its intended send, in time
    o.sweep(None)
    assert o.violations.summary().to_dict()["counts"] == {"missing": 1}  # the first emit's


def test_drop_transport_waits_for_the_runtime_to_go_down_and_come_back() -> None:
    um, host, _ = machine("      - connect: /\n      - fault: {kind: drop_transport, reconnect_within: 5s}\n")
    t = 100 * S
    assert connect(um, t) == i.Abort()
    wait = um.resume(None, t + 10)
    assert wait == i.Wait(t + 10 + 5 * S)
    assert not um.ready()
    assert um.on_disconnected("/", "transport close", t + 20) is True  # wakes the step
    wait = um.resume(None, t + 30)
    assert isinstance(wait, i.Wait) and not um.ready()
    assert um.reconnect_delay("transport close") is not None  # the policy reconnects
    assert um.replayed("/", t + 25)  # while away: not judged
    assert um.on_connected("/", "sid1", False, t + S) is True
    assert host.reconnects == [S - 20]
    assert um.resume(None, t + S) is None
    assert host.oracle.violations.total == 0


def test_a_namespace_not_back_within_reconnect_within_is_a_connect_failed_violation() -> None:
    um, host, _ = machine("      - connect: /\n      - fault: {kind: server_disconnect, reconnect_within: 2s}\n")
    t = 5 * S
    action = connect(um, t)
    assert action == i.SendRaw("4~wsbench-fault: not a socket.io packet")
    wait = um.resume(True, t)
    um.on_disconnected("/", "transport close", t + 1)
    wait = um.resume(None, t + 1)
    assert wait == i.Wait(t + 2 * S)
    assert um.resume(None, t + 2 * S) is None  # the deadline passed, nobody came back
    assert host.counts["reconnect_failed"] == 1
    assert host.oracle.violations.count(ViolationKind.CONNECT_FAILED) == host.oracle.violations.total == 1


def test_a_server_that_keeps_the_session_after_the_fault_is_counted_not_failed() -> None:
    um, host, _ = machine("      - connect: /\n      - fault: {kind: server_disconnect, reconnect_within: 1s}\n")
    connect(um, 0)
    assert isinstance(um.resume(True, 0), i.Wait)
    assert um.resume(None, S) is None
    assert host.counts["faults.server_disconnect.not_disconnected"] == 1
    assert host.oracle.violations.total == 0


def test_stall_restart_and_notify_are_actions_for_every_runtime() -> None:
    flow = (
        "      - connect: /\n      - stall: 2s\n"
        "      - fault: {kind: restart_server, downtime: 1s}\n"
        "      - notify: {user: 'u{client}', message: hi}\n"
    )
    um, host, _ = machine(flow)
    assert connect(um, 0) == i.Stall(2 * S + 2)
    assert um.resume(None, 2 * S + 2) == i.RestartServer(1.0)
    post = um.resume(7 * S, 7 * S)
    assert isinstance(post, i.PostNotification) and post.body["userId"] == "u0"
    assert host.restarts == [7 * S]
    assert um.resume(i.CallReply([500]), 7 * S) is None
    assert host.oracle.violations.count(ViolationKind.ACK_MISMATCH) == host.oracle.violations.total == 1


def test_join_reports_membership_and_peer_choice_uses_it() -> None:
    flow = "      - connect: /\n      - join: r\n      - emit: {event: private message, peer: next}\n"
    um, host, _ = machine(flow, clients=3)
    membership = host.oracle.membership
    call = connect(um, 0)
    assert call == i.Call("/", "join", ["r"], 5.0)
    assert membership.is_pending(0, "/", "r")
    assert um.resume(i.CallReply([{"ok": True}]), 1) is None  # nobody else is connected
    assert host.counts["emits_skipped_no_peer"] == 1
    assert membership.rooms_of(0, "/") == frozenset({"r"}) and um.values["room"] == "r"


def test_peer_next_skips_clients_that_are_not_connected() -> None:
    um, host, _ = machine(
        "      - connect: /\n      - emit: {event: private message, peer: next, data: '{peer}'}\n",
        clients=3,
    )
    host.oracle.membership.connected(2, "/", "sid2", 0)  # client 1 is not connected
    action = connect(um, 0)
    assert isinstance(action, i.Emit) and action.event == "private message"
    assert um.values["peer"] == 2 and um.values["peer_sid"] == "sid2"


def test_secondary_keys_are_bounded_oldest_first() -> None:
    keys = Secondary(bound=3)
    for n in range(5):
        keys.register(f"s{n}", "echo")
    assert len(keys) == 3
    old, new = Stamp("s0", 0, 1, 0), Stamp("s4", 0, 1, 0)
    assert keys.key(old, "echo") is old  # forgotten, never the whole table at once
    assert keys.key(new, "echo").id == "s4|echo"
    assert keys.key(Stamp("s2", 0, 1, 0), "echo").id == "s2|echo"
    assert Semantics.ROOM in i.ROOM_SEMANTICS
