"""A delivery experiment over a cluster: clients on every node, rooms, counted copies.

:func:`experiment` connects ``per_node`` clients to every node URL, puts them in rooms ``r1``
/ ``r2`` / both (by index), sends ``count`` broadcasts of one behaviour from client 0 and
counts, per client, the copies of every message. Completion is a condition, never a sleep:
after the sends, a ``cluster emit`` round trip from the sender's node proves that every other
node has read everything the sender's node published before it (Redis delivers each
subscriber's messages in publish order), then markers go out and the experiment waits until
every client has one (a dropped marker is why there are three), or raises at the (scaled)
deadline: without a marker nothing proves a client's copies are all in.

Every copy and marker carries the number of its run, and a tally counts only those of the
run being counted: the markers of one run arrive over several reads (a pending polling GET
takes the first record alone), so markers of the previous run could still arrive after the
next run's reset and end its wait at once, before a remote node's copies had arrived
(seen in CI: ``rooms: 500 sends, 1500 copies, 0 duplicates, 1500 lost``, every copy of the
other node's clients, which came during the next run and were counted there).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import scaled, until
from wsbench.client.api import Client, connect

BEHAVIOURS = ("all", "room", "rooms", "room-others")
MARKERS = 3


async def eventually(
    fetch: Callable[[], Awaitable[Any]], holds: Callable[[Any], bool], seconds: float = 10.0
) -> Any:
    """Ask ``fetch()`` again until ``holds(answer)`` or the (scaled) deadline; the last answer.

    For state that travels through Redis (a ``socketsJoin`` applied by another node): each
    ask is a full round trip, so this waits on the condition, not on a sleep.
    """
    deadline = time.monotonic() + scaled(seconds)
    answer = await fetch()
    while not holds(answer) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        answer = await fetch()
    return answer


def rooms_of(index: int) -> tuple[str, ...]:
    return (("r1",), ("r2",), ("r1", "r2"))[index % 3]


@dataclass
class Tally:
    """What one client received: copies per message number, markers seen."""

    index: int
    node: int
    rooms: tuple[str, ...]
    copies: Counter[int] = field(default_factory=Counter)
    markers: set[int] = field(default_factory=set)
    run: int = 0  #: the run being counted (what :meth:`Fleet.run` tags its sends with)
    ended: bool = False  #: a marker of this run arrived: every copy of it before the marker did

    def on_event(self, data: Any = None, *rest: Any) -> None:
        if not isinstance(data, dict):
            return
        if data.get("run", self.run) != self.run:
            return  # a late copy or marker of an earlier run: counted there or not at all
        if "marker" in data:
            self.markers.add(data["marker"])  # untagged ones too: a test's own probes
            self.ended = self.ended or "run" in data
        elif "i" in data:
            self.copies[data["i"]] += 1


@dataclass
class Outcome:
    """Per behaviour: expected recipients and what each client got."""

    behaviour: str
    count: int
    tallies: list[Tally]
    expected: dict[int, bool]  # client index -> must receive every message

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for t in self.tallies for n in t.copies.values() if n > 1)

    @property
    def lost(self) -> int:
        return sum(
            1
            for t in self.tallies
            if self.expected[t.index]
            for i in range(self.count)
            if t.copies[i] == 0
        )

    @property
    def leaked(self) -> int:
        return sum(sum(t.copies.values()) for t in self.tallies if not self.expected[t.index])

    @property
    def delivered(self) -> int:
        return sum(sum(t.copies.values()) for t in self.tallies)

    def summary(self) -> str:
        return (
            f"{self.behaviour}: {self.count} sends, {self.delivered} copies, "
            f"{self.duplicates} duplicates, {self.lost} lost, {self.leaked} leaked"
        )


def expected_for(behaviour: str, tally: Tally, sender: int = 0) -> bool:
    if behaviour == "all":
        return True
    if behaviour == "room":
        return "r1" in tally.rooms
    if behaviour == "rooms":
        return True  # every client is in r1 or r2
    if behaviour == "room-others":
        return "r1" in tally.rooms and tally.index != sender
    raise ValueError(behaviour)


def trigger(behaviour: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return {
        "all": ("broadcast all", {"data": data}),
        "room": ("broadcast room", {"room": "r1", "data": data}),
        "rooms": ("broadcast rooms", {"rooms": ["r1", "r2"], "data": data}),
        "room-others": ("broadcast room others", {"room": "r1", "data": data}),
    }[behaviour]


class Fleet:
    """Clients on every node, in their rooms."""

    def __init__(self, clients: list[Client], tallies: list[Tally]) -> None:
        self.clients = clients
        self.tallies = tallies
        self.runs = 0  #: runs started; the current one is number ``runs``

    @classmethod
    async def open(
        cls,
        urls: Sequence[str],
        per_node: int = 3,
        options_for: Callable[[int], dict[str, Any]] | None = None,
        **options: Any,
    ) -> Fleet:
        """``per_node`` clients on every URL; ``options_for(index)`` adds per-client options."""
        clients: list[Client] = []
        tallies: list[Tally] = []
        for _ in range(per_node):
            for node, url in enumerate(urls):
                index = len(clients)
                extra = options_for(index) if options_for is not None else {}
                client = await connect(url, **options, **extra)
                tally = Tally(index, node, rooms_of(index))
                client.socket().on("event", tally.on_event)
                for room in tally.rooms:
                    reply = await client.socket().call("join", room, timeout=scaled(5))
                    assert reply == {"ok": True, "room": room}, reply
                clients.append(client)
                tallies.append(tally)
        return cls(clients, tallies)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)

    def reset(self) -> None:
        """Start counting a new run: what arrives tagged with an earlier one is ignored."""
        self.runs += 1
        for tally in self.tallies:
            tally.copies.clear()
            tally.markers.clear()
            tally.run, tally.ended = self.runs, False

    async def run(self, behaviour: str, count: int, sender: int = 0) -> Outcome:
        """Send ``count`` broadcasts of ``behaviour`` from client ``sender``; count the copies."""
        self.reset()
        run = self.runs
        socket = self.clients[sender].socket()
        for i in range(count):
            event, payload = trigger(behaviour, {"run": run, "b": behaviour, "i": i})
            socket.emit(event, payload)
        # every other node has read what the sender's node published before this answer
        await socket.call("cluster emit", {"data": "barrier"}, timeout=scaled(10))
        for m in range(MARKERS):
            socket.emit("broadcast all", {"data": {"run": run, "marker": m}})
        if not await until(lambda: all(t.ended for t in self.tallies), 10):
            missing = [t.index for t in self.tallies if not t.ended]
            raise AssertionError(
                f"{behaviour}: no marker of run {run} reached clients {missing} within "
                f"{scaled(10):.0f} s (so their copies cannot be counted)"
            )
        expected = {t.index: expected_for(behaviour, t, sender) for t in self.tallies}
        snapshot = [
            Tally(t.index, t.node, t.rooms, Counter(t.copies), set(t.markers), run, t.ended)
            for t in self.tallies
        ]
        return Outcome(behaviour, count, snapshot, expected)
