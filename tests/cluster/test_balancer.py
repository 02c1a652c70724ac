"""Polling through HAProxy: with sticky sessions one entry URL works across nodes; without,
a session's requests reach another node and are answered 400 "Session ID unknown"."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.cluster.conftest import needs_haproxy, needs_redis
from tests.cluster.harness import BEHAVIOURS, Fleet
from tests.conftest import scaled
from wsbench.launch.cluster import COOKIE, Cluster, ClusterSpec

pytestmark = [needs_redis, needs_haproxy, pytest.mark.slow, pytest.mark.timeout(240)]

COUNT = 500


async def test_sticky_polling_through_the_balancer_delivers_exactly_once() -> None:
    with Cluster(ClusterSpec(("python", "python"), stickiness="cookie")) as cluster:
        # one cookie jar per client, as browsers have: HAProxy's cookie names the client's node
        sessions = [aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
                    for _ in range(6)]  # fmt: skip
        try:
            fleet = await Fleet.open(
                [cluster.url], per_node=6, transports="polling",
                options_for=lambda index: {"http": sessions[index]},
            )  # fmt: skip
            try:
                assert all(c.transport == "polling" for c in fleet.clients)
                outcomes = [await fleet.run(b, COUNT) for b in BEHAVIOURS]
            finally:
                await fleet.close()
            nodes = {cookie.value for s in sessions for cookie in s.cookie_jar
                     if cookie.key == COOKIE}  # fmt: skip
        finally:
            for session in sessions:
                await session.close()
    assert nodes == {"n0", "n1"}  # round robin on the first request, then sticky
    for outcome in outcomes:
        assert (outcome.duplicates, outcome.lost, outcome.leaked) == (0, 0, 0), outcome.summary()


async def test_polling_without_stickiness_fails_with_session_id_unknown() -> None:
    with Cluster(ClusterSpec(("python", "python"), stickiness="none")) as cluster:
        answers = []
        async with aiohttp.ClientSession() as http:
            url = cluster.url + "/socket.io/?EIO=4&transport=polling"
            async with http.get(url, timeout=aiohttp.ClientTimeout(scaled(5))) as response:
                assert response.status == 200
                sid = json.loads((await response.text())[1:])["sid"]
            # round robin: the next request reaches the other node, which has no such session
            # (POSTs: a GET on the right node would be a long poll)
            for _ in range(2):
                async with http.post(
                    f"{url}&sid={sid}", data="40", timeout=aiohttp.ClientTimeout(scaled(5))
                ) as response:
                    answers.append((response.status, await response.text()))
                if response.status == 400:
                    break
        unknown = [text for status, text in answers if status == 400]
        assert unknown, answers
        assert json.loads(unknown[0]) == {"code": 1, "message": "Session ID unknown"}
