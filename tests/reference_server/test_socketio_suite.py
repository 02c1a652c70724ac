"""The official Socket.IO v5 suite's Socket.IO-level behaviours (S17-S32, research
conformance.md §1.3) plus the gaps it leaves (§1.6), literal wire text, both transports
where the suite has them. Closes are bounded and pings answered (no heartbeat masking)."""

from __future__ import annotations

import json

import pytest

from tests.reference_server.wire import Wire, recv, running_server, wait_closed

PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


@pytest.fixture
def wire(sio_wire) -> Wire:
    return sio_wire


async def connected_ws(wire: Wire, ns: str = "/"):
    ws = await wire.open_ws()
    await ws.send_str("40" if ns == "/" else f"40{ns},")
    answer = await recv(ws, skip_pings=True)
    prefix = "40" if ns == "/" else f"40{ns},"
    assert answer.startswith(prefix)
    assert set(json.loads(answer[len(prefix) :])) == {"sid"}
    assert await recv(ws, skip_pings=True) == ("42" if ns == "/" else f"42{ns},") + '["auth",{}]'
    return ws


async def test_S17_connect_main_namespace(wire):
    ws = await connected_ws(wire)
    await ws.close()


async def test_S17_polling_connect_main_namespace(wire):
    q = {"EIO": "4", "transport": "polling"}
    sid = await wire.open_polling()
    assert await wire.post("40", **q, sid=sid) == (200, "ok")
    status, body = await wire.get(**q, sid=sid)
    connect, auth = body.split("\x1e")
    assert set(json.loads(connect[2:])) == {"sid"} and auth == '42["auth",{}]'


async def test_S18_connect_with_payload(wire):
    ws = await wire.open_ws()
    await ws.send_str('40{"token":"123"}')
    assert (await recv(ws)).startswith('40{"sid":')
    assert await recv(ws) == '42["auth",{"token":"123"}]'
    await ws.close()


async def test_S19_connect_custom_namespace(wire):
    ws = await connected_ws(wire, "/custom")
    await ws.close()


async def test_S20_connect_custom_namespace_with_payload(wire):
    ws = await wire.open_ws()
    await ws.send_str('40/custom,{"token":"abc"}')
    assert (await recv(ws)).startswith('40/custom,{"sid":')
    assert await recv(ws) == '42/custom,["auth",{"token":"abc"}]'
    await ws.close()


async def test_S21_unknown_namespace(wire):
    ws = await wire.open_ws()
    await ws.send_str("40/random")
    assert await recv(ws) == '44/random,{"message":"Invalid namespace"}'
    await ws.close()


async def test_S22_invalid_packet_before_connect_closes(wire):
    ws = await wire.open_ws()
    await ws.send_str("4abc")
    await wait_closed(ws, 0.25)


async def test_S23_no_handshake_closes_at_connect_timeout(wire):
    ws = await wire.open_ws()
    took = await wait_closed(ws, 2.0)  # pings answered: only connectTimeout (1000 ms) can close
    assert 0.9 < took


async def test_S24_namespace_disconnect_keeps_the_connection(wire):
    ws = await connected_ws(wire)
    await ws.send_str("41")
    assert await recv(ws, 1) == "2"
    await ws.close()


async def test_S25_disconnect_custom_keeps_main(wire):
    ws = await connected_ws(wire)
    assert await recv(ws, 1) == "2"
    await ws.send_str("3")
    await ws.send_str("40/custom,")
    assert (await recv(ws, skip_pings=True)).startswith("40/custom,")
    assert await recv(ws, skip_pings=True) == '42/custom,["auth",{}]'
    await ws.send_str("41/custom,")
    await ws.send_str('42["message","message to main namespace"]')
    assert await recv(ws, skip_pings=True) == '42["message-back","message to main namespace"]'
    await ws.close()


async def test_S26_event(wire):
    ws = await connected_ws(wire)
    await ws.send_str('42["message",1,"2",{"3":[true]}]')
    assert await recv(ws, skip_pings=True) == '42["message-back",1,"2",{"3":[true]}]'
    await ws.close()


async def test_S27_binary_event(wire):
    ws = await connected_ws(wire)
    await ws.send_str(f'452-["message",{PH0},{PH1}]')
    await ws.send_bytes(b"\x01\x02\x03")
    await ws.send_bytes(b"\x04\x05\x06")
    assert await recv(ws, skip_pings=True) == f'452-["message-back",{PH0},{PH1}]'
    assert await recv(ws, skip_pings=True) == b"\x01\x02\x03"
    assert await recv(ws, skip_pings=True) == b"\x04\x05\x06"
    await ws.close()


async def test_S28_event_with_ack(wire):
    ws = await connected_ws(wire)
    await ws.send_str('42456["message-with-ack",1,"2",{"3":[false]}]')
    assert await recv(ws, skip_pings=True) == '43456[1,"2",{"3":[false]}]'
    await ws.close()


async def test_S29_binary_event_with_ack(wire):
    ws = await connected_ws(wire)
    await ws.send_str(f'452-789["message-with-ack",{PH0},{PH1}]')
    await ws.send_bytes(b"\x01\x02\x03")
    await ws.send_bytes(b"\x04\x05\x06")
    assert await recv(ws, skip_pings=True) == f"462-789[{PH0},{PH1}]"
    assert await recv(ws, skip_pings=True) == b"\x01\x02\x03"
    assert await recv(ws, skip_pings=True) == b"\x04\x05\x06"
    await ws.close()


@pytest.mark.parametrize(
    "bad",
    [
        "4abc",  # S30
        "42{}",  # S31
        '42abc["message-with-ack",1]',  # S32
        "42[]",
        '42["disconnect"]',
        '41{"a":1}',
        "40",  # double CONNECT
        "4" + "5" + "11-" + '["message"]',  # 11 attachments
        f'451-["message",{PH1}]',  # bad placeholder index (after its attachment arrives)
        "44{}",  # CONNECT_ERROR from a client
    ],
)
async def test_S30_S32_and_gaps_invalid_packets_close(wire, bad):
    ws = await connected_ws(wire)
    await ws.send_str(bad)
    if bad.startswith("451-"):
        await ws.send_bytes(b"\x00")
    await wait_closed(ws, 0.25)


async def test_event_before_connect_answer_closes_polling_batch(wire):
    q = {"EIO": "4", "transport": "polling"}
    sid = await wire.open_polling()
    await wire.post('40\x1e42["message",1]', **q, sid=sid)
    status, body = await wire.get(**q, sid=sid)
    assert (await wire.get(**q, sid=sid))[0] == 400


async def test_server_initiated_ack_and_binary(wire):
    ws = await connected_ws(wire)
    await ws.send_str('421["request ack",{"data":{"x":1},"timeout":1000}]')
    assert await recv(ws, skip_pings=True) == '420["ack request",{"x":1}]'
    await ws.send_str('430["pong!"]')
    assert await recv(ws, skip_pings=True) == '431[{"ok":true,"response":"pong!"}]'
    await ws.close()


async def test_server_ack_timeout(wire):
    ws = await connected_ws(wire)
    await ws.send_str('427["request ack",{"data":1,"timeout":50}]')
    assert await recv(ws, skip_pings=True) == '420["ack request",1]'
    assert await recv(ws, skip_pings=True) == '437[{"ok":false,"error":"timeout"}]'
    await ws.send_str("430[]")  # late: ignored
    await ws.send_str('421["echo",1]')
    assert await recv(ws, skip_pings=True) == "431[1]"
    await ws.close()


async def test_connect_error_from_middleware_with_jwt(http):
    with running_server(
        "python", ["--jwt-secret", "s3cret", "--app-heartbeat-interval", "0"]
    ) as url:
        wire = Wire(url, http)
        ws = await wire.open_ws()
        await ws.send_str("40")
        assert await recv(ws) == '44{"message":"Authentication error"}'
        await ws.send_str('40{"token":"nope"}')
        assert await recv(ws) == '44{"message":"Invalid token"}'
        await ws.send_str('40/random,{"token":"nope"}')
        assert await recv(ws) == '44/random,{"message":"Invalid namespace"}'
        await ws.close()


async def test_recovery_replays_missed_events_before_connect(http):
    args = ["--recovery", "--app-heartbeat-interval", "0"]
    with running_server("python", args) as url:
        wire = Wire(url, http)
        a = await wire.open_ws()
        await a.send_str("40")
        connect = json.loads((await recv(a))[2:])
        assert set(connect) == {"sid", "pid"}
        auth = await recv(a)
        assert auth.startswith('42["auth",{},"')  # the offset is appended
        offset = json.loads(auth[2:])[-1]
        await a.send_str('42["join","r1"]')
        joined = await recv(a)
        assert joined.startswith(f'42["user joined","{connect["sid"]}"')
        offset = json.loads(joined[2:])[-1]
        await a.close()  # transport close: recoverable
        b = await wire.open_ws()
        await b.send_str("40")
        await recv(b)
        await recv(b)
        await b.send_str('42["broadcast room",{"room":"r1","data":"missed-1"}]')
        await b.send_str('42["broadcast all",{"data":"missed-2"}]')
        await recv(b)
        c = await wire.open_ws()
        await c.send_str("40" + json.dumps({"pid": connect["pid"], "offset": offset}))
        first, second, answer = await recv(c), await recv(c), await recv(c)
        assert first.startswith('42["event","missed-1",')
        assert second.startswith('42["event","missed-2",')
        assert json.loads(answer[2:]) == connect  # same sid, same pid
        assert (await recv(c)).startswith('42["auth",')  # the connection handler runs again
        await c.send_str('42["room message",{"room":"r1","message":"back"}]')
        assert (await recv(c)).startswith('42["message",{"room":"r1"')  # rooms restored
        d = await wire.open_ws()
        await d.send_str('40{"pid":"unknown","offset":"1"}')
        fresh = json.loads((await recv(d))[2:])
        assert fresh["sid"] != connect["sid"] and fresh["pid"] != connect["pid"]
        for ws in (b, c, d):
            await ws.close()
