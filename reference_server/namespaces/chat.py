"""Namespace ``/chat`` of docs/events.md (seed "Chat Application")."""

from __future__ import annotations

from typing import Any

from reference_server.namespaces.common import handle, require
from reference_server.sio import Socket
from reference_server.state import AppState, iso_now
from wsbench.protocol.events import DisconnectReason

__all__ = ["install"]


def install(state: AppState) -> None:
    chat = state.io.of("/chat")
    if state.config.jwt_secret:
        chat.use(state.authenticate)
    users = state.chat_users

    def on_connection(socket: Socket) -> None:
        def username() -> str | None:
            return users.get(socket.id)

        def join(name: Any = None) -> dict[str, Any]:
            require(
                isinstance(name, str) and 0 < len(name) <= 128,
                "username must be a non-empty string of at most 128 characters",
            )
            users[socket.id] = name
            chat.emit("user joined", {"id": socket.id, "username": name, "userCount": len(users)})
            socket.emit("users", [{"id": i, "username": n} for i, n in users.items()])
            return {"ok": True, "userCount": len(users)}

        def message(text: Any = None) -> dict[str, Any]:
            msg_id = state.next_chat_message_id
            state.next_chat_message_id += 1
            chat.emit(
                "message",
                {"id": msg_id, "username": username(), "text": text, "timestamp": iso_now()},
            )
            return {"ok": True, "id": msg_id}

        def typing_event(event: str) -> Any:
            def run(payload: Any = None) -> None:
                socket.broadcast.emit(event, {"username": username()})

            return run

        def on_disconnect(reason: DisconnectReason) -> None:
            if socket.id in users:
                name = users.pop(socket.id)
                chat.emit("user left", {"username": name, "userCount": len(users)})

        handle(socket, "join", join)
        handle(socket, "message", message)
        handle(socket, "typing", typing_event("typing"))
        handle(socket, "stop typing", typing_event("stop typing"))
        socket.on_disconnect.append(on_disconnect)

    chat.on_connection = on_connection
