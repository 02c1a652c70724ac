"""The 101 answer's parse and checks (wsbench.client.frames): the connect path's fast paths
(bench/README.md "Acked emits: the connect path, wave 2e") keep every RFC 6455 §4.1 check
and every error the slower code gave."""

from __future__ import annotations

import base64
import hashlib

import pytest

from wsbench.client.frames import GUID, HandshakeError, check_upgrade, parse_response

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = base64.b64encode(hashlib.sha1(KEY + GUID).digest()).decode()


def head(*lines: str) -> bytes:
    return "\r\n".join(("HTTP/1.1 101 Switching Protocols", *lines)).encode("latin-1")


def test_headers_are_lowercased_stripped_and_repeats_joined() -> None:
    status, reason, headers = parse_response(
        head("Upgrade: websocket", " Connection :  Upgrade ", "X-A: 1", "x-a:2", "Empty:")
    )
    assert (status, reason) == (101, "Switching Protocols")
    assert headers == {"upgrade": "websocket", "connection": "Upgrade", "x-a": "1, 2", "empty": ""}


def test_bad_heads_are_refused_with_their_line() -> None:
    with pytest.raises(HandshakeError, match="invalid status line 'HTTP/1.1'"):
        parse_response(b"HTTP/1.1")
    with pytest.raises(HandshakeError, match="invalid status line 'HTTP/2 abc x'"):
        parse_response(b"HTTP/2 abc x")
    with pytest.raises(HandshakeError, match="invalid header line 'no colon here'") as info:
        parse_response(head("Upgrade: websocket", "no colon here"))
    assert info.value.status == 101
    assert parse_response(b"HTTP/1.1 101") == (101, "", {})


@pytest.mark.parametrize("connection", ["Upgrade", "upgrade", "UPGRADE", "keep-alive, Upgrade"])
def test_connection_upgrade_in_any_case_or_among_tokens(connection: str) -> None:
    headers = {"upgrade": "websocket", "connection": connection, "sec-websocket-accept": ACCEPT}
    check_upgrade(101, "Switching Protocols", headers, KEY)


@pytest.mark.parametrize("connection", [None, "", "keep-alive", "upgrade-not, close"])
def test_connection_without_the_upgrade_token_is_refused(connection: str | None) -> None:
    headers = {"upgrade": "websocket", "sec-websocket-accept": ACCEPT}
    if connection is not None:
        headers["connection"] = connection
    with pytest.raises(HandshakeError, match="missing 'Connection: upgrade'"):
        check_upgrade(101, "Switching Protocols", headers, KEY)


def test_a_wrong_accept_is_refused() -> None:
    headers = {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-accept": "x"}
    with pytest.raises(HandshakeError, match="invalid Sec-WebSocket-Accept"):
        check_upgrade(101, "Switching Protocols", headers, KEY)
