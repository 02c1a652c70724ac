"""Run by tests/integrations/test_push_during_send.py in its own process (gevent
monkey-patched, as under Locust): a join confirmed by a push (``joined``) whose push is read
and dispatched while the join's send is still in progress, as the hub's shared poller does
on a loaded machine (the flush's write runs in a green thread of its own and the user waits
for it). Reports, as one JSON line, the oracle's violation counts, how many ``joined`` the
client read and how long the join step took."""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402

from wsbench.integrations.flow import ClientFlow  # noqa: E402
from wsbench.integrations.judge import Judge  # noqa: E402
from wsbench.integrations.locust import GeventRuntime  # noqa: E402
from wsbench.scenario import interpreter as i  # noqa: E402
from wsbench.scenario import load_scenario  # noqa: E402

KEY = ("/", "joined")


def main(scenario_path: str, url: str, timeout: float) -> dict:
    scenario = load_scenario(scenario_path)
    judge = Judge("t")
    flow = ClientFlow(scenario, scenario.groups[0], judge, GeventRuntime(), url)
    send = flow._emit

    def send_then_dispatch(a: i.Emit) -> None:  # the push is dispatched before the send returns
        before = flow._arrivals.get(KEY, 0)
        send(a)
        if a.event == "join room":
            deadline = time.monotonic() + timeout
            while flow._arrivals.get(KEY, 0) == before and time.monotonic() < deadline:
                gevent.sleep(0.001)

    flow._emit = send_then_dispatch  # type: ignore[method-assign]
    started = time.monotonic()
    flow.run()  # connect, join; on_finish: disconnect
    took = time.monotonic() - started
    flow.stop()
    counts = judge.oracle.violations.summary().to_dict()["counts"]
    return {"violations": counts, "joined": flow._arrivals.get(KEY, 0), "took_s": took}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], float(sys.argv[3]))), flush=True)
