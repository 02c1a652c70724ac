"""Issue 11 #3 leftovers, at the interpreter: the two answers an app scenario only counted.

- ``document state`` (``subscribe document``'s push ``to: sender`` with the ``docId`` it
  subscribed) carries no stamp: it is correlated by that value and the receiving socket,
  derived from the app file (the push's ``to: sender`` + payload mapping), so a subscriber
  without its copy, with two, with one of another document, or a socket that never
  subscribed getting one, is a violation;
- an ack's payload is judged from the file's declared ack and from the emit's
  ``expect_ack: {payload}`` (the app file's value language, resolved with the arguments
  sent): ``request ack`` must relay the client's answer.

The shell's side is played with the functions both shells call (``walk.correlations``,
``correlation_key``, ``by_receiver``), with a real DeliveryOracle.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import ROOT
from tests.scenario.test_interpreter import Host
from wsbench.oracle import find_stamp
from wsbench.scenario import interpreter as i
from wsbench.scenario import loads_scenario
from wsbench.scenario.stampkeys import Secondary
from wsbench.scenario.walk import RECEIVER, by_receiver, correlation_key, correlations

S = 1_000_000_000
SOURCE = str(ROOT / "scenarios" / "<test>.yaml")  # app: apps/reference.yaml resolves


def _scenario(flow: str, clients: int = 2):
    return loads_scenario(
        f"name: t\napp: apps/reference.yaml\nclients: {clients}\nduration: 5s\n"
        f"groups:\n  - name: g\n    flow:\n{flow}", SOURCE)


def _machines(flow: str, clients: int = 2) -> tuple[list[i.UserMachine], Host]:
    scenario = _scenario(flow, clients)
    host = Host()
    peers = i.PeerIndex(range(clients), host.oracle.membership.is_connected)
    return [i.UserMachine(scenario, scenario.groups[0], c, host, peers, Secondary())
            for c in range(clients)], host


def _connect(um: i.UserMachine, now: int) -> Any:
    action = um.start(now)
    assert isinstance(action, i.Open)
    um.on_connected("/", f"sid{um.index}", False, now + 1)
    return um.resume(i.ConnectReply((("/", "connected", ""),)), now + 2)


SUBSCRIBE = "      - connect: /\n      - join: {room: doc-1, event: subscribe document}\n"


def _subscribed(clients: int = 2, subscribers: int = 1) -> tuple[list[i.UserMachine], Host]:
    """``subscribers`` clients subscribe doc-1 (the ack confirms it); the others only connect."""
    ums, host = _machines(SUBSCRIBE, clients)
    for um in ums[:subscribers]:
        call = _connect(um, 10 * S)
        assert isinstance(call, i.Call) and call.event == "subscribe document"
        assert call.args == ["doc-1"]
        um.resume(i.CallReply([{"ok": True, "room": "doc:doc-1"}]), 10 * S + 5)
    for um in ums[subscribers:]:
        um.start(10 * S)
        um.on_connected("/", f"sid{um.index}", False, 10 * S + 1)
    return ums, host


def _copy(host: Host, receiver: int, doc: str, scenario_app: Any) -> None:
    """What a shell does with an unstamped ``document state`` copy (driver.observe)."""
    args = [{"docId": doc, "version": 0, "content": {}}]
    place = correlations(scenario_app)[("/", "document state")]
    assert find_stamp(args, True) is None and by_receiver(place)
    key = correlation_key(place, "/", "document state", args, receiver)
    assert key is not None
    host.oracle.observe_correlated(key, receiver, "/", 11 * S, "document state", args)


def _kinds(host: Host) -> dict[str, int]:
    host.oracle.sweep(None)
    return host.oracle.violations.summary().counts


def test_document_state_is_correlated_by_doc_id_and_receiver_from_the_app_file() -> None:
    app = _scenario(SUBSCRIBE).app
    place = correlations(app)[("/", "document state")]
    assert place == (0, "docId", RECEIVER)  # {docId: "$args[0]"} of a push to: sender
    # user joined stays keyed by the joiner's sid alone (it goes to the room's others)
    assert correlations(app)[("/", "user joined")] == (0,)
    key = correlation_key(place, "/", "document state", [{"docId": "d"}], 7)
    assert key is not None and key.endswith("\x1fd\x1f@7")
    assert correlation_key(place, "/", "document state", [{"docId": "d"}], None) is None
    # a value carrying a stamp is judged by its stamp, not correlated
    assert correlation_key(place, "/", "x", [{"docId": "d ~wsb:a.0.1:0:1:2~"}], 7) is None


def test_the_subscribers_own_document_state_is_judged_and_nothing_else_is_counted() -> None:
    ums, host = _subscribed()
    assert host.counts.get("derived.unstamped_not_judged", 0) == 0
    _copy(host, 0, "doc-1", ums[0].app)
    assert _kinds(host) == {}
    assert host.oracle.verdict().delivered == 1


def test_a_subscriber_without_its_document_state_is_missing_it() -> None:
    _, host = _subscribed()
    assert _kinds(host) == {"missing": 1}
    [v] = host.oracle.violations.summary().samples
    assert v.event == "document state"


def test_a_second_document_state_is_a_duplicate() -> None:
    ums, host = _subscribed()
    _copy(host, 0, "doc-1", ums[0].app)
    _copy(host, 0, "doc-1", ums[0].app)
    assert _kinds(host) == {"duplicate": 1}


def test_the_state_of_a_document_it_did_not_subscribe_is_unexpected_and_its_own_missing() -> None:
    ums, host = _subscribed()
    _copy(host, 0, "doc-2", ums[0].app)
    assert _kinds(host) == {"unexpected_event": 1, "missing": 1}


def test_a_socket_that_did_not_subscribe_getting_a_document_state_is_unexpected() -> None:
    ums, host = _subscribed(clients=2, subscribers=1)
    _copy(host, 0, "doc-1", ums[0].app)
    _copy(host, 1, "doc-1", ums[0].app)  # client 1 never subscribed
    assert _kinds(host) == {"unexpected_event": 1}


def test_two_subscribers_of_one_document_each_owe_exactly_their_own() -> None:
    ums, host = _subscribed(clients=3, subscribers=2)
    _copy(host, 1, "doc-1", ums[0].app)
    _copy(host, 0, "doc-1", ums[0].app)
    assert _kinds(host) == {}


REQUEST = (
    "      - connect: /\n"
    "      - emit: {event: request ack, data: {data: {q: x}}, ack: true,\n"
    '               expect_ack: {payload: {ok: true, response: "$args[0].data"}}}\n'
)


def _acked(flow: str, answer: Any) -> Host:
    [um], host = _machines(flow, 1)
    emit = _connect(um, 10 * S)
    assert isinstance(emit, i.Emit) and emit.ack is not None
    um.on_ack(emit.ack, answer(emit.args), 11 * S)
    return host


def test_request_ack_must_relay_the_clients_answer() -> None:
    host = _acked(REQUEST, lambda sent: [{"ok": True, "response": sent[0]["data"]}])
    assert [ok for _, ok, _ in host.acks] == [True]
    # the data is resolved as sent, stamp included: the bare data is not the client's answer
    host = _acked(REQUEST, lambda sent: [{"ok": True, "response": {"q": "x"}}])
    assert host.acks[0][1] is False and "_wsb" in host.acks[0][2]


def test_a_request_ack_with_a_wrong_response_is_an_ack_mismatch_naming_the_event() -> None:
    host = _acked(REQUEST, lambda sent: [{"ok": True, "response": None}])
    [(_, ok, detail)] = host.acks
    assert not ok
    assert "'request ack'" in detail and "[0].response" in detail and "got None" in detail
    host = _acked(REQUEST, lambda sent: [{"ok": False, "error": "timeout"}])
    assert not host.acks[0][1] and "[0].ok" in host.acks[0][2]


def test_the_app_files_declared_ack_is_judged_too() -> None:
    echo = "      - connect: /\n      - emit: {event: echo, data: {n: 1}, ack: true}\n"
    host = _acked(echo, lambda sent: list(sent))
    assert host.acks[0][1] is True
    host = _acked(echo, lambda sent: [{"n": 2}])
    assert host.acks[0][1] is False and "'echo'" in host.acks[0][2]
    # both: the file's {args: $args} and the scenario's payload must hold
    both = ("      - connect: /\n      - emit: {event: echo, data: {n: 1}, ack: true,\n"
            "               expect_ack: {payload: {n: 1}}}\n")
    host = _acked(both, lambda sent: list(sent))
    assert host.acks[0][1] is False and "unexpected key(s) '_wsb'" in host.acks[0][2]
