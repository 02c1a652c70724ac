"""The contract's app heartbeat (``42["ping"]``) landing between a request and its answer.

The app ping runs on the server's clock, so against a target with a short
``--app-heartbeat-interval`` it can arrive in the middle of any exchange a wire check waits on
(seen: ``sio.message.server-binary-ack`` on the Node twin, msgpack, about 1 run in 4 with the
suites' 500 ms). :meth:`CheckContext.next_frame` skips it and answers ``42["pong"]`` as the
contract asks: the checks that wait for "the next frame" must still pass every time, on both
parsers.

The twin drops a socket that has not answered a ping by the next round (docs/events.md "App
heartbeat"): the interval is also the pong deadline. At 10 ms a loaded client missed it and the
server's ``41`` failed the check for a reason this test is not about, so the interval is
:data:`APP_HEARTBEAT_MS`, far above one exchange's latency under load, and instead of a fixed
number of rounds the checks run until :data:`MIN_PINGS` app pings have landed inside exchanges
(each one would have been taken for the answer before ab77a98), bounded by a scaled deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.conftest import TIMEOUT_FACTOR
from wsbench import launch
from wsbench.conformance.embedded import SUITE_OPTIONS
from wsbench.conformance.registry import select
from wsbench.conformance.runner import TargetInfo, TargetSpec, preflight, run_check
from wsbench.launch import Server, node_twin_available

CHECKS = (
    "sio.message.server-ack",
    "sio.message.server-binary-ack",
    "sio.message.ack",
    "sio.message.binary-ack",
    "sio.message.plain-event",
)
APP_HEARTBEAT_MS = 250
"""The twin's app heartbeat, hence its pong deadline: no exchange takes that long, even loaded."""
MIN_PINGS = 10
"""App pings the checks must have skipped (and answered) mid-exchange."""
MIN_ROUNDS = 5
"""Rounds over :data:`CHECKS` at least, pings or not."""
DEADLINE_S = 30.0
"""Bound (scaled) on the search for :data:`MIN_PINGS`: about 4 s unloaded at 250 ms."""


def _options(interval_ms: int) -> tuple[str, ...]:
    opts = list(SUITE_OPTIONS)
    opts[opts.index("--app-heartbeat-interval") + 1] = str(interval_ms)
    return tuple(opts)


@pytest.fixture(scope="module", params=["default", "msgpack"])
def busy_twin(request: pytest.FixtureRequest) -> Iterator[TargetSpec]:
    if not node_twin_available():
        pytest.skip("needs node and npm ci --prefix reference_server/node")
    parser = request.param
    spec = launch.node_twin(*_options(APP_HEARTBEAT_MS), "--parser", parser)
    with Server(spec) as server:
        yield TargetSpec(server.url, f"node-{parser}", parser=parser)


async def _rounds(spec: TargetSpec) -> tuple[dict[str, list[str]], int]:
    info: TargetInfo = await preflight(spec, TIMEOUT_FACTOR)
    failed: dict[str, list[str]] = {}
    skipped = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S * TIMEOUT_FACTOR
    rounds = 0
    while rounds < MIN_ROUNDS or (skipped < MIN_PINGS and loop.time() < deadline):
        rounds += 1
        for chk in select(None, CHECKS):
            result = await run_check(info, chk)
            skipped += sum(1 for ln in result.transcript if '["ping"]' in ln)
            if str(result.verdict) != "OK":
                failed.setdefault(chk.spec.id, []).append(result.reason)
    return failed, skipped


@pytest.mark.node
@pytest.mark.timeout(180)
def test_wire_checks_skip_and_answer_app_pings_mid_exchange(busy_twin: TargetSpec) -> None:
    failed, pings = asyncio.run(_rounds(busy_twin))
    assert failed == {}
    # the heartbeat really interleaved: the checks saw (and answered) app pings mid-exchange
    assert pings >= MIN_PINGS
