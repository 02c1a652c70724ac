"""What a connect computes once per run, not once per client (bench/README.md "Acked emits,
wave 2e"): the Engine.IO URL without a sid or query, and the upgrade request's target.
What must differ per connection (the Sec-WebSocket-Key, a sid, a query) is never cached,
and a bad URL is refused on every call."""

from __future__ import annotations

import pytest

from wsbench.client.frames import _request_target, handshake_request
from wsbench.client.transport import _build_url, _handshake_url, engineio_url
from wsbench.exceptions import ConfigError

BASE = "http://127.0.0.1:5000"


def test_the_handshake_url_is_built_once_and_is_the_uncached_one():
    _handshake_url.cache_clear()
    first = engineio_url(BASE, "socket.io", "websocket")
    assert engineio_url(BASE, "socket.io", "websocket") is first
    assert _handshake_url.cache_info().hits == 1
    assert first == _build_url(BASE, "socket.io", "websocket", None, None)
    assert first == "ws://127.0.0.1:5000/socket.io/?EIO=4&transport=websocket"
    assert engineio_url(BASE, "/socket.io/", "polling") == (
        "http://127.0.0.1:5000/socket.io/?EIO=4&transport=polling"
    )


def test_a_sid_or_a_query_is_never_served_from_the_cache():
    _handshake_url.cache_clear()
    assert engineio_url(BASE, "/x", "polling", "s1").endswith("&sid=s1")
    assert engineio_url(BASE, "/x", "polling", "s2").endswith("&sid=s2")
    assert engineio_url(BASE, "/x", "websocket", query={"u": "a b"}) == (
        "ws://127.0.0.1:5000/x/?u=a+b&EIO=4&transport=websocket"
    )
    assert engineio_url(BASE, "/x", "websocket", query={"u": "c"}).startswith(
        "ws://127.0.0.1:5000/x/?u=c&"
    )
    assert _handshake_url.cache_info().currsize == 0


def test_a_bad_url_is_refused_on_every_call():
    for _ in range(2):
        with pytest.raises(ConfigError):
            engineio_url("ftp://127.0.0.1", "/socket.io", "websocket")
    for _ in range(2):
        with pytest.raises(ValueError):
            handshake_request("ws://127.0.0.1:99999/")


def test_every_upgrade_request_has_its_own_key():
    _request_target.cache_clear()
    url = "ws://user@127.0.0.1:5000/socket.io/?EIO=4&transport=websocket"
    (r1, k1, host, port, secure), (r2, k2, *_) = handshake_request(url), handshake_request(url)
    assert _request_target.cache_info().hits == 1
    assert k1 != k2 and k1 in r1 and k2 in r2
    assert (host, port, secure) == ("127.0.0.1", 5000, False)
    assert r1.startswith(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n"
    )
