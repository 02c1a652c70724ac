"""Namespace ``/custom`` [harness]: emit ``auth`` with the CONNECT payload on connection."""

from __future__ import annotations

from reference_server.sio import Socket
from reference_server.state import AppState

__all__ = ["install"]


def install(state: AppState) -> None:
    custom = state.io.of("/custom")
    if state.config.jwt_secret:
        custom.use(state.authenticate)

    def on_connection(socket: Socket) -> None:
        socket.emit("auth", socket.auth)

    custom.on_connection = on_connection
