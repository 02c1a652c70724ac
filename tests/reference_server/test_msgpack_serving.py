"""Both servers serve the msgpack parser (``--parser msgpack``) over websocket and polling, and
a client with the wrong parser fails with one line naming the right one.

Over real loopback sockets: the Python reference server and the Node twin (the official
socket.io-msgpack-parser), wsbench's asyncio client on the msgpack parser.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.conftest import scaled, until
from tests.reference_server.wire import SUITE_ARGS, running_server
from wsbench.client.api import connect
from wsbench.exceptions import ParserMismatch

KINDS = ["python", pytest.param("node", marks=pytest.mark.node)]


@pytest.fixture(scope="module", params=KINDS)
def msgpack_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    with running_server(request.param, [*SUITE_ARGS, "--parser", "msgpack"]) as url:
        yield request.param, url


@pytest.mark.parametrize("transports", ["websocket", "polling", "polling+upgrade"])
async def test_msgpack_events_acks_and_binary(msgpack_server: tuple[str, str],
                                              transports: str) -> None:
    kind, url = msgpack_server
    client = await connect(url, transports=transports, parser="msgpack", timeout=scaled(5),
                           namespaces=["/", "/custom"], auth={"token": "abc"})
    try:
        root = client.socket("/")
        # the harness app: message-with-ack acks its arguments, bytes included
        payload = [1, "two", b"\x00\x01\xff", {"k": [b"x"]}]
        answer = await root.call("message-with-ack", payload, timeout=scaled(5))
        assert answer == [1, "two", b"\x00\x01\xff", {"k": [b"x"]}]
        got: list[list[object]] = []
        root.on("message-back", lambda *args: got.append(list(args)))
        root.emit("message", "hi", b"\x02")
        assert await until(lambda: bool(got), 5.0), f"{kind}: no message-back"
        assert got == [["hi", b"\x02"]]
        assert client.connection.violation_count == 0
    finally:
        await client.close()


@pytest.mark.parametrize(("server_args", "client_parser", "named"), [
    (["--parser", "msgpack"], "default", "msgpack"),
    ([], "msgpack", "default"),
])
@pytest.mark.parametrize("kind", KINDS)
async def test_parser_mismatch_is_one_line(kind: str, server_args: list[str],
                                           client_parser: str, named: str) -> None:
    with running_server(kind, [*SUITE_ARGS, *server_args]) as url:
        with pytest.raises(ParserMismatch) as info:
            await asyncio.wait_for(
                connect(url, parser=client_parser, timeout=scaled(5)), scaled(15)
            )
    message = str(info.value)
    assert message == f"{url}: the server speaks the {named} parser; run with --parser {named}"
    assert "\n" not in message
