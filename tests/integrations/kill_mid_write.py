"""Run by tests/integrations/test_wire_kill.py in its own process (gevent monkey-patched, as
under Locust): kill a user's green thread while its flush waits for another write in flight,
then report whether the server got the emit (its ``message-back``) as one JSON line."""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402

from wsbench.integrations.locust import GeventRuntime  # noqa: E402
from wsbench.integrations.wire import Connection  # noqa: E402
from wsbench.protocol.events import Connected, EventReceived  # noqa: E402


def main(url: str, transport: str, parser: str, timeout: float) -> dict:
    connected, echoed = gevent.event.Event(), gevent.event.Event()

    def on_event(event: object, recv_ns: int) -> None:
        if type(event) is Connected:
            connected.set()
        elif type(event) is EventReceived and event.event == "message-back":
            echoed.set()

    conn = Connection(url, transport=transport, runtime=GeventRuntime(), on_event=on_event,
                      timeout=timeout, parser=parser)
    conn.open()
    conn.session.connect("/")
    conn.flush()
    assert connected.wait(timeout), "no CONNECT answer"

    def user() -> None:  # a virtual user's emit, as the scenario flow makes it
        conn.session.emit("/", "message", {"bin": b"\x00\x1e\xff" * 100})
        conn.flush()

    with conn._write_lock:  # another write in flight (the reader's pong, another flush)
        g = gevent.spawn(user)
        gevent.sleep(0.05)  # the user is now inside flush, waiting for the write
        g.kill()  # what Locust does to every user when the run stops
    got = echoed.wait(timeout)
    conn.close()
    return {"delivered": got}


if __name__ == "__main__":
    url, transport, parser, timeout = sys.argv[1:5]
    print(json.dumps(main(url, transport, parser, float(timeout))), flush=True)
