"""Binary payloads (issue 13 #2): stamped bytes through the broadcast triggers, judged like text,
on both parsers and both transports, against the reference server and the Node twin."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ROOT, TIMEOUT_FACTOR
from tests.e2e.conftest import NODE_SERVER, node, run_text, violations
from wsbench.client.api import connect
from wsbench.launch import Server, node_twin, reference_server
from wsbench.oracle.stamp import BINARY_KEY, STAMP_KEY, Stamp, embed_stamp, find_stamp

MSGPACK_PATH = ROOT / "scenarios" / "msgpack.yaml"  # its app: path resolves next to it
MSGPACK = MSGPACK_PATH.read_text()


def _variant(parser: str, transport: str) -> str:
    return MSGPACK.replace("parser: msgpack\n", f"parser: {parser}\ntransport: {transport}\n")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("parser", ["default", "msgpack"])
def test_binary_scenario_passes_on_both_parsers_and_transports(
    parser: str, transport: str, tmp_path
) -> None:  # noqa: ANN001
    outcome = run_text(_variant(parser, transport), tmp_path, source=str(MSGPACK_PATH), clients=24, duration="5s")
    s = outcome.summary
    assert not s.partial, s.partial_reason
    assert violations(s) == {}, s.sections.delivery.violations.samples[:3]
    assert s.sections.delivery.delivery_ratio == 1.0
    assert outcome.exit_status == 0


@node
@pytest.mark.timeout(60)
@pytest.mark.parametrize("parser", ["default", "msgpack"])
def test_binary_scenario_passes_on_the_node_twin(parser: str, tmp_path) -> None:  # noqa: ANN001
    outcome = run_text(_variant(parser, "websocket"), tmp_path, source=str(MSGPACK_PATH), clients=24, duration="5s",
                       server=("node", str(NODE_SERVER)))
    s = outcome.summary
    assert violations(s) == {}, s.sections.delivery.violations.samples[:3]
    assert outcome.exit_status == 0


async def _round_trip(url: str, parser: str, transport: str) -> list:
    stamp = Stamp.new("bin", 1, 1, 42)
    blob = bytes(range(256)) * 4
    async with connect(url, parser=parser, transports=transport,
                       timeout=10 * TIMEOUT_FACTOR) as client:
        sock = client.socket("/")
        waiter = asyncio.ensure_future(sock.wait_for("event", timeout=5 * TIMEOUT_FACTOR))
        answer = await sock.call("broadcast all", embed_stamp({"data": blob}, stamp),
                                 timeout=5 * TIMEOUT_FACTOR)
        args = await waiter
    assert answer == {"ok": True}
    assert args == [{STAMP_KEY: stamp.to_json(), BINARY_KEY: blob}]  # bytes came back as bytes
    assert find_stamp(args) == stamp
    return args


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("parser", ["default", "msgpack"])
def test_a_stamped_blob_comes_back_intact(parser: str, transport: str) -> None:
    args = ["--parser", parser] if parser != "default" else []
    with Server(reference_server(*args)) as server:
        asyncio.run(_round_trip(server.url, parser, transport))


@node
@pytest.mark.timeout(60)
@pytest.mark.parametrize("parser", ["default", "msgpack"])
def test_a_stamped_blob_comes_back_intact_from_the_node_twin(parser: str) -> None:
    args = ["--parser", parser] if parser != "default" else []
    with Server(node_twin(*args)) as server:
        asyncio.run(_round_trip(server.url, parser, "polling"))
