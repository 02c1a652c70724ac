"""Leaving /chat while the server pushes to it continuously: 0 violations (issue 9, h35 #1).

Socket.IO does not acknowledge a client DISCONNECT, so a /chat ``message`` the server
wrote before it read the leaver's ``41/chat,`` still arrives; the client session must drop
it, not record "EVENT for a namespace that is not connected" (malformed_frame). The
leavers keep ``/`` open, so their Engine.IO session (and the in-flight copies) outlive the
leave; several leave/rejoin cycles per client make the race happen many times a run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import NODE_SERVER, node, run_text, violations

REFERENCE = Path(__file__).resolve().parents[2] / "scenarios" / "apps" / "reference.yaml"

SCENARIO = f"""
app: {REFERENCE}
clients: 24
duration: 5s
arrival: {{rate: 200}}
server: {{app_heartbeat_interval: 0s}}
defaults: {{within: 3s}}
groups:
  - name: talkers
    count: 8
    namespace: /chat
    flow:
      - connect: {{namespaces: [/chat]}}
      - emit: {{event: join, data: "talk-{{client}}"}}
      - every:
          interval: 10ms
          duration: 4s
          steps:
            - emit: {{event: message, data: "m {{client}} #{{seq}}"}}
  - name: leavers
    weight: 1
    namespace: /chat
    flow:
      - connect: {{namespaces: [/]}}
      - loop:
          duration: 3500ms
          steps:
            - connect: {{namespaces: [/chat]}}
            - think: {{uniform: [100ms, 300ms]}}
            - disconnect: {{namespace: /chat}}
            - think: 50ms
"""


def _check(outcome) -> None:  # noqa: ANN001
    s = outcome.summary
    assert not s.partial, s.partial_reason
    assert violations(s) == {}, s.sections.delivery.violations.samples[:3]
    assert s.sections.delivery.delivered > 1000  # the talkers really pushed to /chat


@pytest.mark.timeout(60)
def test_leaving_chat_under_pushes_on_reference_server(tmp_path: Path) -> None:
    _check(run_text(SCENARIO, tmp_path))


@node
@pytest.mark.timeout(60)
def test_leaving_chat_under_pushes_on_node_twin(tmp_path: Path) -> None:
    _check(run_text(SCENARIO, tmp_path, server=("node", str(NODE_SERVER))))
