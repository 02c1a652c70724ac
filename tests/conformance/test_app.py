"""``wsbench conform --app FILE``: checks generated from an app file (issue 11 #2).

Real servers over loopback: the reference server and its Node twin with
scenarios/apps/reference.yaml (0 FAILED), the reference server's ``--fault`` variants
(each caught by the app check naming the broken behaviour), and the python-socketio
target with a file describing its harness (UNIMPLEMENTED where the file lacks triggers).
The servers run as ``--target embedded`` starts them for ``--app``
(:func:`~wsbench.conformance.embedded.embedded_app_target`: the default heartbeat). With the
suites' 300 + 200 ms a server starved of CPU on this shared 2-core machine closed all four
sockets 2-20 ms after a ping the probe had answered on arrival; a close mid-run is reported
as the server's close, with its code and the ping timing (test_server_close_is_reported).
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conformance.conftest import unexpected
from tests.conftest import ROOT, TIMEOUT_FACTOR
from wsbench import launch
from wsbench.app import load_app
from wsbench.cli import cli
from wsbench.conformance.checks import app_order as order
from wsbench.conformance.checks import app_rooms as rooms_
from wsbench.conformance.checks import app_traffic as traffic
from wsbench.conformance.checks.app_family import BEHAVIOURS, generate
from wsbench.conformance.checks.app_traffic import MESSAGES
from wsbench.conformance.command import app_checks, parse_tiers
from wsbench.conformance.embedded import APP_OPTIONS, embedded_app_target
from wsbench.conformance.model import Tier
from wsbench.conformance.runner import TargetReport, TargetSpec, run_all
from wsbench.launch import Server, ServerSpec, node_twin_available

REFERENCE = ROOT / "scenarios" / "apps" / "reference.yaml"
SEED = ROOT / "scenarios" / "apps" / "seed.yaml"
HARNESS = Path(__file__).parent / "apps" / "python_socketio.yaml"


def run_app(spec: TargetSpec, app_file: Path, cases: tuple[str, ...] = ()) -> TargetReport:
    checks = app_checks([Tier.CONTRACT, Tier.SECURITY, Tier.LOAD], cases, (), str(app_file))
    return asyncio.run(run_all([spec], checks, factor=TIMEOUT_FACTOR))[0]


def failed(report: TargetReport) -> dict[str, str]:
    return {cid: r.reason for cid, r in report.results.items() if str(r.verdict) == "FAILED"}


def assert_order_powered(report: TargetReport, at_least: int = 16,
                         drops_volatile: tuple[str, ...] = ()) -> None:
    """Every order check that ran is OK with >= 459 same-sender adjacencies (99 % for a
    1-in-100 swap): 3 concurrent senders, >= 460 sends, in rounds until it has the power (a
    loaded machine that interleaves the senders finely gets more rounds, not INFORMATIONAL).
    ``drops_volatile``: checks of a volatile event on a server that drops volatile copies
    (allowed): INFORMATIONAL, saying how few arrived."""
    orders = [cid for cid in report.results if cid.endswith(".order")
              and str(report.results[cid].verdict) != "UNIMPLEMENTED"]
    assert len(orders) >= at_least, orders
    for cid in orders:
        r = report.results[cid]
        d = r.details
        if cid in drops_volatile and str(r.verdict) == "INFORMATIONAL":
            v = d["volatile_copies"]
            assert v["arrived"] < v["expected"] and "volatile copies arrived" in r.reason, r.reason
            continue
        assert str(r.verdict) == "OK", (cid, r.reason)
        assert d["senders"] == 3 and d["sent"] >= 460 and d["sent"] == sum(d["rounds"]), (cid, d)
        assert d["opportunities"] >= 459 and 1 - 0.99 ** d["opportunities"] >= 0.99, (cid, d)
        assert f"{d['sent']} sends in {len(d['rounds'])} round" in r.reason, r.reason


# -- generation --------------------------------------------------------------------------


def test_ids_are_per_event_and_behaviour_and_stable() -> None:
    app = load_app(SEED)
    ids = [c.spec.id for c in generate(app)]
    assert len(ids) == len(set(ids))
    # the probes: sid-room-hijack, unknown-namespace, payload-size, auth-refusals, and
    # malformed-payloads (app_robustness.py)
    assert len(ids) == len(app.events()) * len(BEHAVIOURS) + 5
    assert "app.root.chat-message.exactly-once" in ids
    assert "app.root.join-room.sender-exclusion" in ids
    assert "app.chat.message.order" in ids
    assert {"app.security.sid-room-hijack", "app.security.unknown-namespace",
            "app.security.payload-size", "app.security.auth-refusals",
            "app.security.malformed-payloads"} <= set(ids)
    assert ids == [c.spec.id for c in generate(load_app(SEED))]
    tiers = {c.spec.id: c.spec.tier for c in generate(app)}
    assert tiers["app.root.chat-message.order"] is Tier.LOAD
    assert tiers["app.security.payload-size"] is Tier.SECURITY


def test_app_replaces_contract_security_load_but_keeps_the_wire_tiers() -> None:
    # conform's selection without --tier (parse_tiers: every tier but cluster, which only a
    # cluster target runs); --tier cluster without --cluster is a usage error before this
    checks = app_checks(parse_tiers(None), (), (), str(SEED))
    tiers = {c.spec.tier for c in checks if not c.spec.id.startswith("app.")}
    assert tiers == {Tier.ENGINEIO, Tier.SOCKETIO}
    assert not [c for c in checks if c.spec.id.startswith(("contract.", "security.", "load."))]


# -- the reference server and its Node twin --------------------------------------------------


@pytest.fixture(scope="module")
def reference() -> Iterator[TargetSpec]:
    with embedded_app_target() as spec:
        yield spec


@pytest.mark.timeout(240)
def test_reference_server_passes_reference_yaml(reference: TargetSpec) -> None:
    # how long it takes (the "under 60 s on this machine") is measured in the closing
    # note, not here: 29 s quiet, more with 3 test workers sharing 2 cores; timeout(240) is the
    # guard against a hang
    report = run_app(reference, REFERENCE)
    assert failed(report) == {}
    ok = {cid for cid, r in report.results.items() if str(r.verdict) == "OK"}
    # at least as strong as the built-in contract tier on what it is named for
    for cid in ("app.root.broadcast-others.sender-exclusion", "app.root.broadcast-room.room-isolation",
                "app.root.broadcast-rooms.one-copy", "app.root.broadcast-all.order",
                "app.root.leave-room.leaves", "app.root.join-room.joins",
                "app.root.private-message.exactly-once", "app.security.sid-room-hijack",
                "app.security.unknown-namespace", "app.security.payload-size",
                "app.root.request-ack.ack", "app.chat.typing.sender-exclusion"):
        assert cid in ok, (cid, report.results[cid].reason)
    # rooms built from a template (doc:{$args[0].docId}): named by the engine, joined with
    # subscribe document (join room refuses the doc: prefix); these were UNIMPLEMENTED
    for cid in DOCUMENT_OK:
        assert cid in ok, (cid, report.results[cid].reason)
    rooms = report.results["app.root.update-document.room-isolation"].details["rooms"]
    assert rooms["B"][0].startswith("doc:k-") and rooms["C"][0].startswith("doc:kx-"), rooms
    assert_order_powered(report)
    # copies of different senders did interleave (fewer adjacencies than copies at L1, L2)
    d = report.results["app.root.broadcast-all.order"].details
    assert d["opportunities_at"]["L1"] + d["opportunities_at"]["L2"] < 2 * d["sent"] - 2, d
    assert report.results["app.root.message.order"].details["rounds"][0] == 924  # one copy a send
    # the file says io.to('doc:X'): the updater is not excluded, so nothing to judge there
    excl = report.results["app.root.update-document.sender-exclusion"]
    assert str(excl.verdict) == "UNIMPLEMENTED" and "excludes the sender" in excl.reason
    refusal = report.results["app.root.join-room.refusal"]
    assert str(refusal.verdict) == "OK", refusal.reason
    assert refusal.details["conditions"] == ["not_room", "other_sid", "reserved"]
    assert refusal.details["sent"] == MESSAGES
    sent = report.results["app.root.broadcast-room.exactly-once"].details["sent"]
    assert sent == MESSAGES >= 459  # 1 - 0.99**459 >= 0.99
    assert f"{MESSAGES} sent" in report.results["app.root.broadcast-room.exactly-once"].reason


DOCUMENT_OK = (
    "app.root.update-document.exactly-once", "app.root.update-document.payload",
    "app.root.update-document.no-leak", "app.root.update-document.room-isolation",
    "app.root.update-document.ack", "app.root.update-document.order",
    "app.root.subscribe-document.joins", "app.root.subscribe-document.exactly-once",
    "app.root.subscribe-document.payload", "app.root.subscribe-document.ack",
    "app.root.unsubscribe-document.leaves", "app.root.unsubscribe-document.ack",
)


def test_template_rooms_are_derived_from_the_engine_and_reached_through_a_join_that_can() -> None:
    app = load_app(REFERENCE)
    update = app.event("/", "update document")
    subscribe = app.event("/", "subscribe document")
    assert update is not None and subscribe is not None
    assert rooms_.invert(subscribe.join, "doc:abc") == (subscribe.join.value[1], "abc")
    assert rooms_.invert(subscribe.join, "chat:abc") is None
    values, targets, elsewhere = traffic.derive_rooms(app, update, "0123abcd", False)
    assert targets == ("doc:k-0123abcd",) and elsewhere == "doc:kx-0123abcd"
    # the stamp lands in changes (an object the file copies whole into the copy)
    args = traffic.build_args(traffic.plan_args(update), {**values, "stamp": "wsb~0123abcd~7"})
    assert args == [{"docId": "k-0123abcd", "changes": {"wsb": "wsb~0123abcd~7"}}]
    joins = [e for e in app.namespace("/").events if e.join is not None]
    found = rooms_.first(app, joins, "doc:q", traffic._builder({"room": "doc:q", "key": "doc:q",
                         "rooms": ["doc:q"], "sid": ""}, "x"), traffic._set, "join")
    assert found is not None and found[0].name == "subscribe document"  # join room refuses doc:
    assert found[1] == (((0,), "q"),)
    join, leave, probe, _ = traffic.membership_plan(app, subscribe, "doc:q", values)
    assert (join.name, leave.name) == ("subscribe document", "unsubscribe document")
    assert probe.name == "room message"


def test_fire_and_forget_ack_is_unimplemented_with_the_reason(reference: TargetSpec) -> None:
    report = run_app(reference, SEED, ("app.root.chat-message.*",))
    assert "no refusal condition" in report.results["app.root.chat-message.refusal"].reason
    ack = report.results["app.root.chat-message.ack"]
    assert str(ack.verdict) == "UNIMPLEMENTED"
    assert "fire-and-forget" in ack.reason
    # the reference server acks when asked, but the seed file declares none: never asked,
    # and the copies are still judged
    assert str(report.results["app.root.chat-message.exactly-once"].verdict) == "OK"


@pytest.mark.timeout(240)
def test_node_twin_passes_reference_yaml() -> None:
    if not node_twin_available():
        pytest.skip("needs node and npm ci --prefix reference_server/node")
    with Server(launch.node_twin(*APP_OPTIONS)) as main:
        report = run_app(TargetSpec(main.url, "node"), REFERENCE)
    assert failed(report) == {}
    # socket.io drops a volatile packet while the transport is not writable: most of a burst
    assert_order_powered(report, drops_volatile=("app.root.broadcast-volatile.order",))


def test_server_close_is_reported_as_the_servers_close() -> None:
    # maxPayload 20: the server closes the sender's connection at its first send (1009)
    with embedded_app_target(["--max-payload", "20"]) as spec:
        report = run_app(spec, REFERENCE, ("app.root.message.exactly-once",
                                           "app.root.message.payload"))
    for cid in ("app.root.message.exactly-once", "app.root.message.payload"):
        r = report.results[cid]
        assert str(r.verdict) == "FAILED", (cid, r.reason)
        # 1009 as a rule; the server closes with A's later frames unread, so its kernel may
        # answer them with a reset that the close frame does not survive: then 1006
        assert re.match(r"the server closed the connection of A \(close code (1009|1006, no "
                        r"Engine\.IO CLOSE packet)", r.reason), r.reason
        assert "missing" not in r.reason and "pingTimeout" in r.reason
        assert "A" in r.details["closed"] and r.details["probe_stall_ms"] >= 0


# -- faults: each caught by the check naming the behaviour --------------------------------

FAULT_CHECKS = {
    "room-leak": ("app.root.broadcast-room.room-isolation", "app.root.room-message.no-leak",
                  "app.root.update-document.room-isolation"),
    "broadcast-to-sender": ("app.root.broadcast-others.sender-exclusion",
                            "app.root.broadcast-room-others.sender-exclusion"),
    "multi-room-duplicate": ("app.root.broadcast-rooms.one-copy",),
    "drop-deliveries": ("app.root.broadcast-all.exactly-once",),
    "reorder": ("app.root.broadcast-all.order", "app.root.update-document.order",
                "app.root.room-message.order"),
    "drop-acks": ("app.root.chat-message.ack",),
    "ignore-leave": ("app.root.leave-room.leaves", "app.root.unsubscribe-document.leaves"),
    "private-room-join": ("app.security.sid-room-hijack", "app.root.join-room.refusal"),
}


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("fault", sorted(FAULT_CHECKS))
def test_fault_is_caught_by_the_app_check_naming_it(fault: str) -> None:
    ids = FAULT_CHECKS[fault]
    with embedded_app_target(["--fault", fault]) as spec:
        report = run_app(spec, REFERENCE, ids)
    verdicts = {cid: f"{report.results[cid].verdict}: {report.results[cid].reason}" for cid in ids}
    assert all(v.startswith("FAILED") for v in verdicts.values()), verdicts


def test_reorder_is_caught_by_the_concurrent_order_check() -> None:
    # --fault reorder: a fan-out delivery held (p 0.05) and written after the next one to the
    # same socket; only a swap of one sender's two copies may be judged (measured: 45 of 45
    # runs of three order checks caught it)
    ids = ("app.root.broadcast-all.order", "app.root.update-document.order")
    with embedded_app_target(["--fault", "reorder"]) as spec:
        report = run_app(spec, REFERENCE, ids)
    for cid in ids:
        r = report.results[cid]
        assert str(r.verdict) == "FAILED", (cid, r.reason)
        assert "order is lost; 3 senders" in r.reason, r.reason


def test_order_sends_rounds_until_it_has_the_power(reference: TargetSpec) -> None:
    # request ack: each sender asks an ack per send and only it gets its copies, so 462 sends
    # give at most 3 x 153 = 459 opportunities, fewer with any ack between two copies (434
    # measured): the fixed batch was INFORMATIONAL on every run; rounds make it OK
    r = run_app(reference, REFERENCE, ("app.root.request-ack.order",)).results[
        "app.root.request-ack.order"]
    d = r.details
    assert str(r.verdict) == "OK", r.reason
    assert d["opportunities"] >= 459 and d["rounds"][0] == 462 and d["sent"] == sum(d["rounds"])
    assert len(d["rounds"]) >= 2 or d["opportunities"] == 459, d
    assert all(n >= order.MIN_ROUND and n % order.SENDERS == 0 for n in d["rounds"][1:]), d


@pytest.mark.parametrize(("knob", "value", "says"), [
    ("CAP_FACTOR", 1, "no more rounds: the cap of 462 sends (1 x 462) is reached"),
    ("ROUNDS_WITHIN", 0.0, "would end after the 0 s the rounds may take"),
])
def test_order_rounds_are_bounded_and_say_why_they_stopped(
        reference: TargetSpec, monkeypatch: pytest.MonkeyPatch, knob: str, value: float,
        says: str) -> None:
    monkeypatch.setattr(order, knob, value)
    r = run_app(reference, REFERENCE, ("app.root.request-ack.order",)).results[
        "app.root.request-ack.order"]
    d = r.details
    if d["opportunities"] >= 459:  # all 459 pairs of the first round with no ack between
        assert str(r.verdict) == "OK" and d["rounds"] == [462], r.reason
        return
    assert str(r.verdict) == "INFORMATIONAL", r.reason
    assert d["rounds"] == [462] and says in r.reason, r.reason
    assert f"only {d['opportunities']} adjacent" in r.reason and "needed for 99" in r.reason


def test_refusal_sends_460_when_a_condition_cannot_be_made_to_hold(reference: TargetSpec) -> None:
    # private message declares not_object, not_room and foreign_sid; the check cannot make
    # foreign_sid hold (it needs a socket of another namespace): its turns were skipped and
    # the check sent 307 (2 of every 3 of 460) while the behaviour promises 460
    r = run_app(reference, REFERENCE, ("app.root.private-message.refusal",)).results[
        "app.root.private-message.refusal"]
    assert str(r.verdict) == "OK", r.reason
    assert r.details["skipped"] == ["foreign_sid $args[0].to"], r.details
    assert r.details["conditions"] == ["not_object", "not_room"], r.details
    assert r.details["sent"] == MESSAGES and r.reason.startswith(f"{MESSAGES} sends"), r.details


def test_next_round_is_sized_by_the_rate_seen_and_capped() -> None:
    assert order._next_round(200, 462, 4 * 462) == 750  # 259 missing at 200/462, +25 %
    assert order._next_round(434, 462, 4 * 462) == order.MIN_ROUND  # 25 missing: 34 -> 48
    assert order._next_round(0, 462, 4 * 462) == 462  # nothing seen yet: as many again
    assert order._next_round(100, 1800, 4 * 462) == 48  # what the cap leaves (1848 - 1800)
    assert order._next_round(100, 1847, 4 * 462) == 0  # less than one send per sender left


# -- a server wsbench did not write: python-socketio --------------------------------------


@pytest.mark.timeout(120)
def test_python_socketio_harness_file() -> None:
    # socket.io's default heartbeat (25 s / 20 s), not the official suites' 300 ms / 200 ms: the
    # app checks test no heartbeat, and a CI run's 436 ms stall of the checker's loop made the
    # server close a probe (INFORMATIONAL, rightly: the gate could not judge the check)
    app = ServerSpec(
        (sys.executable, str(ROOT / "tests" / "targets" / "python_socketio_app.py"), "--port", "0",
         "--ping-interval", "25", "--ping-timeout", "20"),
        cwd=str(ROOT), name="python-socketio target",
    )
    with Server(app) as server:
        report = run_app(TargetSpec(server.url, "python-socketio"), HARNESS)
    expected = {
        "app.root.message.exactly-once": "OK",
        "app.root.message.payload": "OK",
        "app.root.message.no-leak": "OK",
        "app.root.message-with-ack.ack": "OK",
        "app.root.request-ack.ack": "OK",
        "app.security.unknown-namespace": "OK",
    }
    for cid, want in expected.items():
        assert str(report.results[cid].verdict) == want, (cid, report.results[cid].reason)
    assert failed(report) == {}
    # no rooms in the file: the room checks say why they did not run
    hijack = report.results["app.security.sid-room-hijack"]
    assert str(hijack.verdict) == "UNIMPLEMENTED" and "join" in hijack.reason
    iso = report.results["app.root.message.room-isolation"]
    assert str(iso.verdict) == "UNIMPLEMENTED" and "room" in iso.reason
    assert unexpected  # the shared helper stays importable for the verdict-map tests


# -- the CLI and the HTML matrix ------------------------------------------------------------


def test_cli_app_option_and_html_matrix(reference: TargetSpec, tmp_path: Path) -> None:
    out = tmp_path / "html"
    result = CliRunner().invoke(cli, [
        "conform", "--target", reference.url, "--app", str(SEED), "--tier", "contract",
        "--cases", "app.root.chat-message.*", "--html", str(out),
        "--timeout-factor", str(TIMEOUT_FACTOR)])
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "app.root.chat-message" in page
    assert "fire-and-forget: the file declares no ack" in page  # why ack did not run


def test_cli_bad_app_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("app: x\nnamespaces:\n  /:\n    events:\n      e: {push: [{to: nowhere}]}\n")
    result = CliRunner().invoke(cli, ["conform", "--target", "http://127.0.0.1:9", "--app", str(bad)])
    assert result.exit_code == 3, result.output  # an invalid file, as for scenarios
    assert "bad.yaml:5" in result.output
