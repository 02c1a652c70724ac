"""Contract tier: the seed's applications (chat, live documents, notifications, admin,
app heartbeat, echo) with their exact recipients (docs/events.md).
"""

from __future__ import annotations

import json
import time

from wsbench.conformance.checks.contract_broadcast import (
    arrivals,
    expect_copies,
    nonce,
    peers,
    settle_after,
)
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.peer import Peer
from wsbench.conformance.registry import check
from wsbench.conformance.sio import mint_token

EV = "docs/events.md"


@check(
    "contract.chat.join-message-typing-leave",
    "/chat: join answers users and user joined {id,username,userCount}; message reaches all; "
    "typing all but the sender; user left on disconnect",
    tier=Tier.CONTRACT,
    spec=EV + " §Namespace /chat (seed L201-270)",
    needs=("contract",),
    catches=("broadcast-to-sender",),
    timeout=15.0,
)
async def chat(ctx: CheckContext) -> str:
    a, b, c = [await Peer.open(ctx, ("/chat",), label=x) for x in "ABC"]
    alice, bob = nonce("alice"), nonce("bob")
    first = await a.call("join", alice, ns="/chat")
    ctx.expect(
        isinstance(first, dict)
        and first.get("ok") is True
        and isinstance(first.get("userCount"), int),
        f"ack of /chat join must be {{ok:true,userCount}}, got {first!r}",
    )
    n = first["userCount"]
    second = await b.call("join", bob, ns="/chat")
    ctx.expect_eq(second, {"ok": True, "userCount": n + 1}, "ack of the second /chat join")
    joined = {"id": b.sids["/chat"], "username": bob, "userCount": n + 1}
    await expect_copies(ctx, [a, b, c], {"A": 1, "B": 1, "C": 1}, "user joined", joined, "/chat")
    await arrivals(ctx, [(b, lambda: bool(b.got("users", "/chat")))])
    users = b.got("users", "/chat")
    ctx.expect(len(users) == 1, f"B must get one 'users' list, got {len(users)}")
    names = [u.get("username") for u in users[0].arg if isinstance(u, dict)]
    ctx.expect(
        names.index(alice) < names.index(bob) if alice in names and bob in names else False,
        f"'users' must list alice then bob in join order, got {names}",
    )
    text = nonce("text")
    ack = await a.call("message", text, ns="/chat")
    ctx.expect(isinstance(ack, dict) and ack.get("ok") is True, f"ack of /chat message: {ack!r}")

    def chat_copies(peer: Peer) -> list[dict]:  # type: ignore[type-arg]
        return [
            e.arg
            for e in peer.got("message", "/chat")
            if isinstance(e.arg, dict) and e.arg.get("text") == text
        ]

    await settle_after(ctx, [(p, lambda p=p: bool(chat_copies(p))) for p in (a, b, c)])
    for peer in (a, b, c):
        msgs = chat_copies(peer)
        ctx.expect(len(msgs) == 1, f"{peer.label} got {len(msgs)} copies of the /chat message")
        ctx.expect(
            msgs[0].get("username") == alice
            and msgs[0].get("id") == ack.get("id")
            and isinstance(msgs[0].get("timestamp"), str),
            f"/chat message must be {{id,username,text,timestamp}}, got {msgs[0]!r}",
        )
    ctx.expect_eq(await a.call("typing", ns="/chat"), {"ok": True}, "ack of typing")
    await expect_copies(ctx, [a, b, c], {"B": 1, "C": 1}, "typing", {"username": alice}, "/chat")
    await a.close()
    return await expect_copies(
        ctx, [b, c], {"B": 1, "C": 1}, "user left", {"username": alice, "userCount": n}, "/chat"
    )


@check(
    "contract.documents.versions-in-order",
    "live documents: subscribers get 'document state', then every update's version in order; "
    "non-subscribers and unsubscribed sockets get nothing",
    tier=Tier.CONTRACT,
    spec=EV + " §Live updates (seed L452-490)",
    needs=("contract",),
    catches=("room-leak", "ignore-leave", "document-state-wrong-doc"),
    timeout=15.0,
)
async def documents(ctx: CheckContext) -> str:
    a, b, c = await peers(ctx, 3)
    doc = nonce("doc")
    for peer in (a, b):
        answer = await peer.call("subscribe document", doc)
        ctx.expect_eq(answer, {"ok": True, "room": f"doc:{doc}"}, f"{peer.label}: ack of subscribe")
    state = await a.wait_for("document state")
    ctx.expect_eq(
        state[-1].arg, {"docId": doc, "version": 0, "content": {}}, "document state of a new doc"
    )
    for i in range(1, 21):
        await c.emit("update document", {"docId": doc, "changes": {"k": i}})
    last = await c.call("update document", {"docId": doc, "changes": {"done": True}})
    ctx.expect_eq(last, {"ok": True, "version": 21}, "ack of the 21st update")

    def versions(peer: Peer) -> list[int]:
        return [
            e.arg.get("version")
            for e in peer.got("document updated")
            if isinstance(e.arg, dict) and e.arg.get("docId") == doc
        ]

    await settle_after(ctx, [(p, lambda p=p: 21 in versions(p)) for p in (a, b)])
    for peer in (a, b):
        ctx.expect_eq(versions(peer), list(range(1, 22)), f"{peer.label}: versions received")
    ctx.expect(
        not [
            e
            for e in c.got("document updated")
            if isinstance(e.arg, dict) and e.arg.get("docId") == doc
        ],
        "the non-subscribed updater received 'document updated'",
    )
    ctx.expect_eq(
        await b.call("unsubscribe document", doc), {"ok": True, "room": f"doc:{doc}"}, "unsubscribe"
    )
    ctx.expect_eq(
        await c.call("update document", {"docId": doc, "changes": {"x": 1}}),
        {"ok": True, "version": 22},
        "ack of update 22",
    )
    await settle_after(ctx, [(a, lambda: 22 in versions(a))])  # a subscriber got it
    ctx.expect(22 in versions(a), "A (still subscribed) did not get version 22")
    late = [
        e
        for e in b.got("document updated")
        if isinstance(e.arg, dict) and e.arg.get("version") == 22
    ]
    ctx.expect(not late, "B got an update after 'unsubscribe document'")
    return "21 versions in order to both subscribers; nothing to others or after unsubscribe"


async def _notify(ctx: CheckContext, user: str, text: str) -> dict:  # type: ignore[type-arg]
    body = json.dumps({"userId": user, "type": "test", "message": text})
    resp = await ctx.probe.request(
        "POST", "/notifications", body=body, content_type="application/json"
    )
    if resp.status == 404:
        ctx.unimplemented("the target has no POST /notifications endpoint (HTTP 404)")
    ctx.expect_status(resp, 201, "POST /notifications")
    answer = json.loads(resp.text)
    ctx.expect(
        isinstance(answer, dict) and isinstance(answer.get("id"), int),
        f"POST answer: {resp.text!r}",
    )
    return answer


@check(
    "contract.notifications.live-and-fetchable",
    "notifications reach the user's sockets live and stay fetchable after being offline",
    tier=Tier.CONTRACT,
    spec=EV + " §Notifications (seed L403-450)",
    needs=("contract",),
    catches=("room-leak",),
)
async def notifications(ctx: CheckContext) -> str:
    online, offline = nonce("u"), nonce("v")
    a = await Peer.open(ctx, auth={"userId": online}, label="A")
    b = await Peer.open(ctx, label="B")
    text = nonce("live")
    answer = await _notify(ctx, online, text)
    ctx.expect_eq(answer.get("delivered"), 1, "delivered count for the online user")
    got = await a.wait_for("notification")
    note = got[-1].arg
    ctx.expect(
        isinstance(note, dict)
        and note.get("message") == text
        and note.get("id") == answer["id"]
        and str(note.get("userId")) == online
        and isinstance(note.get("timestamp"), str),
        f"live notification must be {{id,userId,type,message,timestamp}}, got {note!r}",
    )
    await ctx.quiet()  # the expected copy is in: nothing else may reach another user
    ctx.expect(not b.got("notification"), "a socket of another user received the notification")
    later = nonce("offline")
    answer2 = await _notify(ctx, offline, later)
    ctx.expect_eq(answer2.get("delivered"), 0, "delivered count for an offline user")
    v = await Peer.open(ctx, auth={"userId": offline}, label="V")
    fetched = await v.call("fetch notifications", {"since": 0})
    ctx.expect(
        isinstance(fetched, list) and [n.get("message") for n in fetched] == [later],
        f"fetch notifications after being offline: {fetched!r}",
    )
    resp = await ctx.probe.request("GET", "/notifications", f"userId={offline}&since=0")
    ctx.expect_status(resp, 200, "GET /notifications")
    ctx.expect_eq([n.get("message") for n in json.loads(resp.text)], [later], "GET /notifications")
    return "live delivery to the user's socket only; offline notification fetched later"


@check(
    "contract.admin.announcement-every-namespace",
    "/admin 'broadcast' emits 'announcement' once per connected namespace socket",
    tier=Tier.CONTRACT,
    spec=EV + " §Namespace /admin",
    needs=("contract",),
)
async def admin(ctx: CheckContext) -> str:
    secret = ctx.target.jwt_secret
    auth = {"token": mint_token(secret, {"userId": "admin", "admin": True})} if secret else None
    a = await Peer.open(ctx, ("/admin",), auth=auth, label="A")
    b = await Peer.open(ctx, ("/", "/chat", "/admin"), auth=auth, label="B")
    msg = nonce("announce")
    ctx.expect_eq(await a.call("broadcast", msg, ns="/admin"), {"ok": True}, "ack of broadcast")

    def got(peer: Peer, ns: str) -> int:
        return sum(1 for e in peer.got("announcement", ns) if e.arg == msg)

    await settle_after(
        ctx,
        [
            (b, lambda: all(got(b, ns) for ns in ("/", "/chat", "/admin"))),
            (a, lambda: got(a, "/admin") > 0),
        ],
    )
    counts = {
        ns: copies
        for ns in ("/", "/chat", "/admin")
        for copies in [sum(1 for e in b.got("announcement", ns) if e.arg == msg)]
    }
    ctx.expect_eq(counts, {"/": 1, "/chat": 1, "/admin": 1}, "B's copies per namespace")
    ctx.expect_eq(
        sum(1 for e in a.got("announcement", "/admin") if e.arg == msg), 1, "sender's copies"
    )
    return "one announcement per namespace socket, sender included"


@check(
    "contract.heartbeat.app-ping",
    "app heartbeat: the server emits 'ping' each interval and disconnects a socket that never answers 'pong'",
    tier=Tier.CONTRACT,
    spec=EV + " §App heartbeat (seed L492-520)",
    needs=("contract",),
    notes="UNIMPLEMENTED when no app 'ping' arrives within 3 s (interval longer than the check waits).",
    timeout=15.0,
    exclusive=True,
)
async def app_ping(ctx: CheckContext) -> str:
    started = time.monotonic()
    silent = await Peer.open(ctx, label="silent", answer_app_ping=False)
    polite = await Peer.open(ctx, label="polite")
    if not await silent.until(lambda: bool(silent.got("ping")), ctx.t(3.0)):
        ctx.unimplemented(
            "no app-level 'ping' within 3 s (start the server with a shorter --app-heartbeat-interval)"
        )
    interval = time.monotonic() - started
    ctx.details["first_ping_s"] = round(interval, 3)
    if not await silent.wait_disconnect("/", timeout=2 * interval + 1.0):
        ctx.fail(
            f"a socket that never answered 'ping' is still connected {2 * interval + 1:.1f} s later"
        )
    await ctx.quiet()  # the silent one is gone: the polite one must not follow
    ctx.expect("/" not in polite.disconnected, "a socket that answered 'pong' was disconnected")
    return f"first ping after {interval:.2f} s; the silent socket got DISCONNECT, the polite one stayed"


@check(
    "contract.harness.echo",
    "'echo' acks with exactly its arguments",
    tier=Tier.CONTRACT,
    spec=EV + " §Harness",
    needs=("contract",),
    catches=("drop-acks", "late-acks"),
)
async def echo(ctx: CheckContext) -> str:
    (a,) = await peers(ctx, 1)
    started = time.monotonic()
    answer = await a.call("echo", {"x": [1, "2", None]}, timeout=1.0)
    ctx.expect_eq(answer, {"x": [1, "2", None]}, "echo ack")
    return f"echo acked in {(time.monotonic() - started) * 1000:.1f} ms"
