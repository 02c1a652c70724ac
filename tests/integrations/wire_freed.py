"""Run by tests/integrations/test_wire_freed.py in its own process (gevent monkey-patched, as
under Locust): open wire Connections, age them into the old generation, close them, drop
them and report, as one JSON line, which are still alive with the collector disabled
(reference counting only: the Locust shell's connections must not need a full collection)."""

from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import weakref  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402

from wsbench.integrations.locust import GeventRuntime  # noqa: E402
from wsbench.integrations.wire import Connection  # noqa: E402
from wsbench.protocol.events import Connected  # noqa: E402


def main(url: str, transport: str, timeout: float, clients: int) -> dict:
    runtime = GeventRuntime()
    refs = []
    conns = []
    for _ in range(clients):
        connected = gevent.event.Event()

        def on_event(event: object, recv_ns: int, connected=connected) -> None:  # noqa: ANN001
            if type(event) is Connected:
                connected.set()

        conn = Connection(
            url, transport=transport, runtime=runtime, on_event=on_event, timeout=timeout
        )
        conn.open()
        conn.session.connect("/")
        conn.flush()
        assert connected.wait(timeout), "no CONNECT answer"
        conns.append(conn)
        refs.append(weakref.ref(conn))
    gc.collect(1)
    gc.collect(1)  # into the old generation, as two young collections of a run would
    for conn in conns:
        conn.close()
    conns.clear()
    del conn
    gc.disable()
    deadline = time.monotonic() + timeout
    while any(r() is not None for r in refs) and time.monotonic() < deadline:
        gevent.sleep(0.01)  # the readers end (their green threads hold their connection)
    alive = sum(r() is not None for r in refs)
    gc.enable()
    gc.collect()
    return {"alive": alive, "after_full_collection": sum(r() is not None for r in refs)}


if __name__ == "__main__":
    url, transport, timeout, clients = sys.argv[1:5]
    print(json.dumps(main(url, transport, float(timeout), int(clients))), flush=True)
