"""docs/events.md, event by event, against both implementations of the contract: the Python
reference server and its Node twin (official socket.io 4.8). Raw aiohttp websocket + our
codecs on the client side; "nothing else received" is checked after an echo barrier."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest

from tests.reference_server.wire import SioClient, T, running_server

ARGS = ["--app-heartbeat-interval", "0", "--max-rooms", "3"]


@pytest.fixture(scope="module", params=["python", "node"])
def server(request):
    with running_server(request.param, ARGS) as url:
        yield url


@pytest.fixture
async def clients(server, http):
    made: list[SioClient] = []

    async def make(ns: str = "/", auth=None) -> SioClient:
        c = await SioClient.connect(server, http, ns, auth)
        if ns in ("/", "/custom"):
            await c.wait_for("auth", ns)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.close()


async def quiet(*cs: SioClient) -> None:
    for c in cs:
        await c.barrier()
        assert [m for m in c.inbox if m[1] != "error"] == [], c.inbox


async def test_harness_echoes(clients):
    a = await clients()
    await a.emit("message", 1, "2", {"3": [True]}, b"\x01")
    assert await a.wait_for("message-back") == [1, "2", {"3": [True]}, b"\x01"]
    assert await a.call("message-with-ack", 1, "x") == [1, "x"]
    assert await a.call("echo", {"k": None}) == {"k": None}


async def test_auth_payload_is_echoed_on_connection(server, http):
    c = await SioClient.connect(server, http, "/custom", {"token": "abc"})
    assert await c.wait_for("auth", "/custom") == [{"token": "abc"}]
    await c.close()


async def test_unknown_namespace_is_refused(server, http):
    c = await SioClient.connect(server, http, "/", None)
    assert await c.join_ns("/nope") == {"message": "Invalid namespace"}
    await c.close()


async def test_chat_message_reaches_everyone(clients):
    a, b = await clients(), await clients()
    assert await a.call("chat message", {"m": 1}) == {"ok": True}
    assert await a.wait_for("chat message") == [{"m": 1}]
    assert await b.wait_for("chat message") == [{"m": 1}]


async def test_join_room_and_leave_room(clients):
    a, b, c = await clients(), await clients(), await clients()
    assert await a.call("join room", "r") == {"ok": True, "room": "r"}
    assert await a.wait_for("joined") == ["r"]
    assert await b.call("join room", "r") == {"ok": True, "room": "r"}
    assert await b.wait_for("joined") == ["r"]
    assert await a.wait_for("user joined") == [b.sid]
    assert await b.call("leave room", "r") == {"ok": True, "room": "r"}
    assert await a.wait_for("user left") == [b.sid]
    await quiet(a, b, c)


async def test_private_message_by_socket_id(clients):
    a, b, c = await clients(), await clients(), await clients()
    assert await a.call("private message", {"to": b.sid, "message": "psst"}) == {"ok": True}
    assert await b.wait_for("private message") == [{"from": a.sid, "message": "psst"}]
    await quiet(a, b, c)


async def test_join_room_message_leave(clients):
    a, b, c = await clients(), await clients(), await clients()
    assert await a.call("join", "r2") == {"ok": True, "room": "r2"}
    assert await a.wait_for("user joined") == [a.sid]
    await b.call("join", "r2")
    assert await a.wait_for("user joined") == [b.sid]
    assert await b.wait_for("user joined") == [b.sid]
    assert await c.call("room message", {"room": "r2", "message": "hi"}) == {"ok": True}
    expected = [{"room": "r2", "from": c.sid, "message": "hi"}]
    assert await a.wait_for("message") == expected and await b.wait_for("message") == expected
    assert await a.call("leave", "r2") == {"ok": True, "room": "r2"}
    assert await b.wait_for("user left") == [a.sid]
    await quiet(a, b, c)


async def test_broadcast_variants(clients):
    a, b, c = await clients(), await clients(), await clients()
    await a.call("join", "x")
    await b.call("join", "x")
    await b.call("join", "y")
    for cl in (a, b, c):
        cl.take("user joined")

    async def check(event, payload, receivers):
        assert await a.call(event, payload) == {"ok": True}
        for cl in (a, b, c):
            await cl.barrier()
            got = cl.take("event")
            assert got == ([[payload["data"]]] if cl in receivers else []), (event, cl.sid)

    await check("broadcast all", {"data": 1}, {a, b, c})
    await check("broadcast others", {"data": 2}, {b, c})
    await check("broadcast room", {"room": "x", "data": 3}, {a, b})
    await check("broadcast rooms", {"rooms": ["x", "y", "x"], "data": 4}, {a, b})
    await check("broadcast room others", {"room": "x", "data": 5}, {b})
    await check("broadcast socket", {"to": c.sid, "data": 6}, {c})
    await check("broadcast socket", {"to": "unknown-id", "data": 7}, set())


async def test_broadcast_volatile_never_duplicates(clients):
    a = await clients()
    assert await a.call("broadcast volatile", {"data": "v", "count": 50}) == {"ok": True}
    await a.barrier()
    got = a.take("event")
    assert 1 <= len(got) <= 50 and all(g == ["v"] for g in got)


async def test_request_ack_both_outcomes(clients):
    a = await clients()
    a.auto_ack = ["yes"]
    assert await a.call("request ack", {"data": {"q": 1}}) == {"ok": True, "response": "yes"}
    assert a.take("ack request") == [[{"q": 1}]]
    a.auto_ack = None
    assert await a.call("request ack", {"data": 1, "timeout": 100}) == {
        "ok": False,
        "error": "timeout",
    }


async def test_broadcast_with_ack_collects_one_answer_per_recipient(clients):
    a, b, c = await clients(), await clients(), await clients()
    for cl, answer in ((a, "from-a"), (b, "from-b")):
        await cl.call("join", "bwa")
        cl.auto_ack = [answer]
    for cl in (a, b):
        cl.take("user joined")
    got = await a.call("broadcast with ack", {"room": "bwa", "data": {"q": 1}})
    assert sorted(got.pop("responses")) == ["from-a", "from-b"], got
    assert got == {"ok": True, "recipients": 2, "timedOut": False, "missing": 0}
    for cl, received in ((a, [[{"q": 1}]]), (b, [[{"q": 1}]]), (c, [])):
        await cl.barrier()
        assert cl.take("ack request") == received
    # nobody in the room: answered at once, nothing missing
    assert await a.call("broadcast with ack", {"room": "empty", "data": 1}) == {
        "ok": True, "recipients": 0, "responses": [], "timedOut": False, "missing": 0,
    }  # fmt: skip


async def test_broadcast_with_ack_timeout_reports_partial_answers(clients):
    a, b, c = await clients(), await clients(), await clients()
    a.auto_ack, b.auto_ack = ["a"], ["b"]  # c never answers
    started = time.monotonic()
    got = await a.call("broadcast with ack", {"data": "all?", "timeout": 300})
    assert time.monotonic() - started >= 0.25
    assert sorted(got.pop("responses")) == ["a", "b"], got
    assert got == {"ok": True, "recipients": 3, "timedOut": True, "missing": 1}
    await c.barrier()
    assert c.take("ack request") == [["all?"]]


async def test_live_documents(clients):
    a, b = await clients(), await clients()
    doc = f"d{time.monotonic_ns()}"
    assert await a.call("subscribe document", doc) == {"ok": True, "room": f"doc:{doc}"}
    assert await a.wait_for("document state") == [{"docId": doc, "version": 0, "content": {}}]
    assert await b.call("update document", {"docId": doc, "changes": {"k": 1}}) == {
        "ok": True,
        "version": 1,
    }
    assert await a.wait_for("document updated") == [
        {"docId": doc, "changes": {"k": 1}, "version": 1}
    ]
    assert await a.call("unsubscribe document", doc) == {"ok": True, "room": f"doc:{doc}"}
    await b.call("update document", {"docId": doc, "changes": {"k": 2}})
    await quiet(a, b)


async def test_notifications_http_and_live(server, http, clients):
    user = f"u{time.monotonic_ns()}"
    a = await clients("/", {"userId": user})
    async with http.post(
        f"{server}/notifications", json={"userId": user, "type": "t", "message": "m", "x": 1}
    ) as r:
        assert r.status == 201
        answer = await r.json()
    assert answer["delivered"] == 1
    (note,) = await a.wait_for("notification")
    assert note["id"] == answer["id"] and note["userId"] == user and note["x"] == 1
    assert note["timestamp"].endswith("Z") and len(note["timestamp"]) == 24
    async with http.get(f"{server}/notifications", params={"userId": user}) as r:
        assert r.status == 200 and await r.json() == [note]
    assert await a.call("fetch notifications", {"since": 0}) == [note]
    async with http.post(f"{server}/notifications", json={"userId": True}) as r:
        assert r.status == 400 and "error" in await r.json()
    async with http.get(f"{server}/notifications", params={"userId": user, "since": "x"}) as r:
        assert r.status == 400


async def test_chat_namespace(clients):
    a, b = await clients("/chat"), await clients("/chat")
    ack = await a.call("join", "alice", ns="/chat")
    assert ack["ok"] is True
    joined = await a.wait_for("user joined", "/chat")
    assert joined[0]["id"] == a.sids["/chat"] and joined[0]["username"] == "alice"
    users = (await a.wait_for("users", "/chat"))[0]
    assert {"id": a.sids["/chat"], "username": "alice"} in users
    await b.wait_for("user joined", "/chat")
    msg_ack = await a.call("message", "hello", ns="/chat")
    (m,) = await b.wait_for("message", "/chat")
    assert m["id"] == msg_ack["id"] and m["username"] == "alice" and m["text"] == "hello"
    await a.call("typing", ns="/chat")
    assert await b.wait_for("typing", "/chat") == [{"username": "alice"}]
    await a.close()
    left = await b.wait_for("user left", "/chat")
    assert left[0]["username"] == "alice"


async def test_admin_announcement_reaches_every_namespace(clients):
    admin = await clients("/admin")
    other = await clients("/")
    await other.join_ns("/chat")
    assert await admin.call("broadcast", "news", ns="/admin") == {"ok": True}
    assert await admin.wait_for("announcement", "/admin") == ["news"]
    assert await other.wait_for("announcement", "/") == ["news"]
    assert await other.wait_for("announcement", "/chat") == ["news"]


@pytest.mark.parametrize(
    "event, payload",
    [
        ("join", ""),
        ("join", "doc:x"),
        ("join", "user:1"),
        ("join", "#x"),
        ("join room", 5),
        ("leave", "user:1"),
        ("broadcast rooms", {"rooms": [], "data": 1}),
        ("broadcast volatile", {"data": 1, "count": 0}),
        ("request ack", {"data": 1, "timeout": 0}),
        ("broadcast with ack", {"data": 1, "timeout": 60001}),
        ("broadcast with ack", {"room": "", "data": 1}),
        ("update document", {"docId": "d", "changes": 1}),
        ("private message", {"to": "x"}),
    ],
)
async def test_refusals(clients, event, payload):
    a = await clients()
    answer = await a.call(event, payload)
    assert answer["ok"] is False and isinstance(answer["error"], str)
    (err,) = await a.wait_for("error")
    assert err["event"] == event


async def test_security_room_rules(clients):
    a, b = await clients(), await clients()
    assert (await a.call("join", b.sid))["ok"] is False  # another socket's private room
    assert (await a.call("join", a.sid))["ok"] is True  # own id: allowed
    assert (await a.call("leave", a.sid))["ok"] is False  # cannot become unreachable
    for room in ("r1", "r2", "r3"):
        assert (await a.call("join room", room))["ok"] is True
    assert (await a.call("join room", "r4"))["ok"] is False  # --max-rooms 3
    assert (await a.call("subscribe document", "d9"))["ok"] is False


async def test_a_room_shaped_like_a_socket_id_is_reserved(clients):
    """A socket id of another cluster node is not in this node's tables: any room of the
    exact shape of a socket id (20 chars of A-Z a-z 0-9 _ -) but the socket's own is refused,
    connected here or not (h49); one character more or less, or another character, is not."""
    import re

    a, b = await clients(), await clients()
    shape = re.compile(r"[A-Za-z0-9_-]{20}")
    assert shape.fullmatch(a.sid) and shape.fullmatch(b.sid), (a.sid, b.sid)
    elsewhere = "Zz0_-" * 4  # the shape of an id, of no socket of this server
    for event in ("join", "join room"):
        answer = await a.call(event, elsewhere)
        assert answer["ok"] is False and "private room" in answer["error"], answer
        await a.wait_for("error")
    for event in ("cluster join", "cluster leave"):
        assert (await a.call(event, {"room": b.sid}))["ok"] is False
        await a.wait_for("error")
    for room in (elsewhere[:19], elsewhere + "a", elsewhere[:19] + "."):
        assert (await a.call("join", room))["ok"] is True, room
        assert (await a.call("leave", room))["ok"] is True, room


def test_every_python_socket_id_has_the_reserved_shape():
    from reference_server.engine import new_id
    from reference_server.namespaces.main import SOCKET_ID_SHAPE

    assert all(SOCKET_ID_SHAPE.fullmatch(new_id()) for _ in range(20_000))


@pytest.mark.parametrize("kind", ["python", "node"])
async def test_app_heartbeat_disconnects_silent_sockets(kind, http):
    with running_server(kind, ["--app-heartbeat-interval", "200"]) as url:
        # a answers every ping as its reader reads it: a pong sent from this loop only started
        # after b's connect, and a round (200 ms, the pong deadline) during a slow connect
        # dropped a on a loaded machine
        a = await SioClient.connect(url, http, auto_pong=True)
        b = await SioClient.connect(url, http)
        # b answers none: wait (bounded) for b's disconnect, no fixed sleep
        loop = asyncio.get_running_loop()
        deadline = loop.time() + T(3)
        while not b.disconnected and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert b.disconnected == ["/"]
        assert b.take("ping"), "b was disconnected without a ping first"
        assert a.take("ping"), "a was never pinged"
        await a.barrier()
        assert a.disconnected == []
        await a.close()
        await b.close()


@pytest.mark.parametrize("kind", ["python", "node"])
async def test_jwt_authentication(kind, http):
    secret = "a-test-secret-of-at-least-32-bytes!!"
    with running_server(kind, ["--jwt-secret", secret, "--app-heartbeat-interval", "0"]) as url:
        c = await SioClient.connect(url, http, "/", {"token": jwt.encode({"userId": 7}, secret)})
        assert "/" in c.sids
        admin_claims = {"admin": True}
        assert await c.join_ns("/admin", {"token": jwt.encode({"userId": 7}, secret)}) == {
            "message": "Not authorized"
        }
        assert "sid" in await c.join_ns("/admin", {"token": jwt.encode(admin_claims, secret)})
        expired = jwt.encode({"exp": int(time.time()) - 10}, secret)
        assert await c.join_ns("/chat", {"token": expired}) == {"message": "Invalid token"}
        none_alg = jwt.encode({"userId": 1}, None, algorithm="none")
        assert await c.join_ns("/custom", {"token": none_alg}) == {"message": "Invalid token"}
        await c.close()
