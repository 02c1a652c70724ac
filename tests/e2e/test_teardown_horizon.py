"""The run's end is the verdict's horizon: pushes the teardown's own closes cause are not
judged (issue 15: the main job's ~12,000 false ``unexpected_event`` 'user left').

``wsbench run`` closes its clients after the final sweep, 500 at a time: a /chat client of
the first batch that joined with a username makes the server push ``user left`` to the
/chat clients of the later batches, still open. The teardown registers no derived
disconnect push (the run is over), so each such copy was "an unstamped push that no emit
of the scenario explains". The test makes that ordering deterministic: the teardown closes
one chatter first and waits (on the copies, with a scaled deadline) until every other
chatter has received its ``user left`` before closing the rest."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import scaled
from tests.e2e.conftest import run_text, violations
from wsbench.scenario.driver import Driver

REFERENCE = Path(__file__).resolve().parents[2] / "scenarios" / "apps" / "reference.yaml"
CLIENTS = 10

CHAT = f"""
app: {REFERENCE}
clients: {CLIENTS}
duration: 2s
arrival: {{rate: 100}}
groups:
  - name: chatters
    namespace: /chat
    flow:
      - connect: {{namespaces: [/chat]}}
      - emit: {{event: join, data: "user-{{client}}"}}
      - think: 500ms
      - emit: {{event: message, data: "hello from {{client}}"}}
"""


def test_user_left_caused_by_the_teardown_is_not_judged(tmp_path, monkeypatch):
    observe, close_all = Driver.observe, Driver._close_all
    got_user_left: set[int] = set()
    all_told = asyncio.Event()

    def counting(self, client, ns, event, args):
        if (ns, event) == ("/chat", "user left"):
            got_user_left.add(client)
            if len(got_user_left) == CLIENTS - 1:
                all_told.set()
        observe(self, client, ns, event, args)

    async def one_first(self):
        first = next(vu for vu in self.vus.values() if vu.conn is not None)
        await first.close()  # its `user left` goes to the 9 chatters still open
        await asyncio.wait_for(all_told.wait(), scaled(10))
        await close_all(self)

    monkeypatch.setattr(Driver, "observe", counting)
    monkeypatch.setattr(Driver, "_close_all", one_first)
    out = run_text(CHAT, tmp_path / "run").summary
    assert len(got_user_left) == CLIENTS - 1  # the copies did arrive, after judging
    assert violations(out) == {}
    d = out.sections.delivery
    assert d.delivery_ratio == 1.0 and d.expected >= CLIENTS * (CLIENTS - 1)
    assert out.exit_status == 0
