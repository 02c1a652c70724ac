"""Memory per idle connection, attributed in-process with tracemalloc (issue 14: <= 8 KB).

A structural bound, not a timing test: 200 websocket clients to the reference server on
uvloop (the tool's loop), idle (connected to ``/``, no traffic), and the Python heap they
hold counted by tracemalloc after a full collection. bench/client_memory.py measures the
same on RSS with 10,000 clients (12.0 KB before issue 14's wave 2, where tracemalloc here
counted 11.9 KB: a ``random.Random`` of 2.5 KB per connection, the Connection's
``__dict__``, a violations deque, a set per namespace...).
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import scaled
from tests.integrations.support import reference_server_factory
from wsbench.client import ClientPool
from wsbench.client.loop import run
from wsbench.client.wsprotocol import ProtocolTransport

CLIENTS = 200
BOUND = 7_000  # bytes of Python heap per idle connection (RSS adds allocator slack)


@pytest.fixture(scope="module")
def server() -> Iterator[Callable[..., str]]:
    yield from reference_server_factory()


def _per_connection(url: str) -> tuple[float, list[str]]:
    async def measure() -> tuple[float, list[str]]:
        async with ClientPool(url, reconnection=False, timeout=scaled(20)) as pool:
            await pool.connect_many(10)  # warm up imports, caches, the loop
            await asyncio.sleep(0.1)
            gc.collect()
            tracemalloc.start()
            try:
                before = tracemalloc.take_snapshot()
                opened = await pool.connect_many(CLIENTS, concurrency=50)
                assert len(opened) == CLIENTS and all(c.connected for c in opened)
                await asyncio.sleep(0.2)  # the CONNECT answers' leftovers settle
                gc.collect()
                after = tracemalloc.take_snapshot()
            finally:
                tracemalloc.stop()
            stats = after.compare_to(before, "lineno")
            total = sum(s.size_diff for s in stats)
            top = [f"{s.size_diff / CLIENTS:.0f} B {s.traceback}" for s in stats[:8]]
            return total / CLIENTS, top

    return run(measure())


def test_an_idle_connection_holds_at_most_7_kb_of_python_heap(server) -> None:
    per, top = _per_connection(server())
    assert per <= BOUND, f"{per:.0f} B per idle connection; largest:\n" + "\n".join(top)


def test_connections_share_the_jitter_random_and_make_no_lazy_containers(server) -> None:
    async def check(url: str) -> None:
        async with ClientPool(url, reconnection=False, timeout=scaled(20)) as pool:
            a, b = await pool.connect_many(2)
            ca, cb = a.connection, b.connection
            assert ca.rng is cb.rng  # one Random for the backoff jitter, not 2.5 KB each
            assert not hasattr(ca, "__dict__")
            assert ca.violations == () and ca._violations is None
            sock = a.socket()
            assert sock._deadlines is None and sock._any == ()
            transport = ca._transport
            assert isinstance(transport, ProtocolTransport)
            assert transport._chunks == () and transport._frag == ()

    run(check(server()))
