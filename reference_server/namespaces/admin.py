"""Namespace ``/admin`` of docs/events.md: ``broadcast`` -> ``announcement`` everywhere."""

from __future__ import annotations

from typing import Any

from reference_server.namespaces.common import handle
from reference_server.sio import Socket
from reference_server.state import AppState

__all__ = ["install", "CONTRACT_NAMESPACES"]

CONTRACT_NAMESPACES = ("/", "/chat", "/admin", "/custom")


def install(state: AppState) -> None:
    io = state.io
    admin = io.of("/admin")
    if state.config.jwt_secret:
        admin.use(state.authenticate)
        admin.use(state.require_admin)

    def on_connection(socket: Socket) -> None:
        def broadcast(msg: Any = None) -> None:
            for name in CONTRACT_NAMESPACES:
                io.of(name).emit("announcement", msg)

        handle(socket, "broadcast", broadcast)

    admin.on_connection = on_connection
