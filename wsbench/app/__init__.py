"""App files: a declaration of a server's events and their semantics (docs/apps.md).

An app file says, once, what a Socket.IO server does: its namespaces, auth and refusals,
and for each client event the pushes it causes and to whom, how payload fields map into
the copies, whether and with what it is acked, which rooms it joins or leaves and how
that is confirmed, and what some sockets must not receive.

- :mod:`wsbench.app.loader`: YAML -> frozen :class:`~wsbench.app.model.App`, every mistake
  with file, line and key path (the shared :mod:`wsbench.yamlnode` reader);
- :mod:`wsbench.app.paths`: the small path/template language (``$args[0].room``,
  ``$sender.sid``, ``$any``);
- :mod:`wsbench.app.engine`: the pure semantics engine both ``wsbench conform --app`` and
  the scenario interpreter call (expected pushes, recipients, payloads, acks, membership
  changes, must-not-receive sets, and "what the file allows" queries);
- :mod:`wsbench.app.schema`: the published JSON Schema (``schema.json``).

Layering: below scenario/ and conformance/; uses wsbench.oracle (Semantics, audience,
Membership) and nothing above it.
"""

from __future__ import annotations

from wsbench.app.engine import (
    Change,
    ConnectResult,
    EventTraits,
    ExpectedAck,
    ExpectedPush,
    Outcome,
    Sock,
    View,
    expected_ack,
    expected_connect,
    find,
    on_connect,
    on_disconnect,
    outcome,
    traits,
)
from wsbench.app.loader import is_app_file, is_app_text, load_app, loads_app
from wsbench.app.model import App, EventSpec, NamespaceSpec, PushSpec

__all__ = [
    "App",
    "Change",
    "ConnectResult",
    "EventSpec",
    "EventTraits",
    "ExpectedAck",
    "ExpectedPush",
    "NamespaceSpec",
    "Outcome",
    "PushSpec",
    "Sock",
    "View",
    "expected_ack",
    "expected_connect",
    "find",
    "is_app_file",
    "is_app_text",
    "load_app",
    "loads_app",
    "on_connect",
    "on_disconnect",
    "outcome",
    "traits",
]
