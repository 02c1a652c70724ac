"""A ``restart_redis`` fault that outlasts the run: the run's end cancels the asking flow,
but the restart is shielded from it. It finishes, closes the outage window it opened in the
oracle and counts itself, and the run waits for it before its final sweep. Before, the
cancelled flow left the window open (``outages`` empty, ``redis_restarts`` 0), and a
``--processes`` child's answer then hit a cancelled future (InvalidStateError): CI's
test_restart_redis_under_two_processes failed so when a loaded machine made the restart end
after the run. Real reference server; the Redis restart is the launcher's, simulated here
by the callable the driver is given (it takes ``downtime``)."""

from __future__ import annotations

import asyncio

from wsbench.launch import Server, reference_server
from wsbench.metrics import now_ns
from wsbench.scenario.driver import Driver
from wsbench.scenario.loader import loads_scenario

SCENARIO = """\
name: restart-outlasts-the-run
clients: 1
duration: 3s
groups:
  - name: restarter
    flow:
      - connect: /
      - fault: {kind: restart_redis, downtime: 4s}
"""


async def test_a_restart_that_outlasts_the_run_still_closes_its_window() -> None:
    calls: list[float] = []

    async def restart_redis(downtime: float) -> tuple[int, int, int | None]:
        calls.append(downtime)
        down = now_ns()
        await asyncio.sleep(downtime)  # Redis is down this long (the launcher's part)
        back = now_ns()
        return down, back, back + 1

    with Server(reference_server("--app-heartbeat-interval", "0")) as server:
        driver = Driver(loads_scenario(SCENARIO), server.url, restart_redis=restart_redis)
        started = now_ns()
        await driver.run()
    assert calls == [4.0], "the restarter's connect took the whole run"
    assert now_ns() - started >= 4_000_000_000  # the run (3 s) waited for the restart
    assert driver.redis_restarts == 1
    (window,) = driver.oracle.outages()
    assert window["back_ns"] - window["down_ns"] >= 4_000_000_000
    assert window["resubscribed_ns"] == window["back_ns"] + 1
