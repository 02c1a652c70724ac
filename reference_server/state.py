"""Application state shared by the namespace modules (docs/events.md): documents,
notifications, the /chat user list, user ids, and the JWT middleware."""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from datetime import UTC, datetime
from typing import Any

from reference_server.config import ServerConfig
from reference_server.sio import ConnectError, Socket, SocketIOServer

__all__ = ["AppState", "iso_now", "normalize_user_id"]

NOTIFICATIONS_PER_USER = 1000
DOC_ID_MAX_CHARS = 120


def iso_now() -> str:
    """UTC time like JavaScript ``toISOString()``: ``2026-11-28T04:00:52.123Z``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def normalize_user_id(value: Any) -> str | None:
    """docs/events.md: a userId is a non-empty string or an integer, compared as strings."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


class AppState:
    """Everything the contract keeps in server memory."""

    def __init__(self, config: ServerConfig, io: SocketIOServer) -> None:
        self.config = config
        self.io = io
        self.documents: dict[str, dict[str, Any]] = {}
        # per user, oldest first: (notification, its size in bytes); plus every stored id in
        # store order, for the total bound (oldest of all evicted first)
        self.notifications: dict[str, deque[tuple[dict[str, Any], int]]] = {}
        self.notification_order: OrderedDict[int, str] = OrderedDict()
        self.notification_bytes = 0
        self.user_bytes: dict[str, int] = {}
        self.next_notification_id = 1
        self.chat_users: dict[str, str] = {}  # /chat socket id -> username, in join order
        self.next_chat_message_id = 1

    # -- auth (seed "Authentication") ------------------------------------------------------

    def authenticate(self, socket: Socket, auth: dict[str, Any]) -> None:
        """The JWT middleware: ``Authentication error`` / ``Invalid token``."""
        import jwt  # PyJWT, only needed with --jwt-secret

        token = auth.get("token")
        if not isinstance(token, str) or not token:
            raise ConnectError("Authentication error")
        secret = self.config.jwt_secret
        if secret is None:  # the middleware is installed only with --jwt-secret
            raise ConnectError("Authentication error")
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            if not self.config.has_fault("accept-bad-token"):
                raise ConnectError("Invalid token") from None
            claims = {}
        socket.data["claims"] = claims if isinstance(claims, dict) else {}

    @staticmethod
    def require_admin(socket: Socket, auth: dict[str, Any]) -> None:
        if socket.data.get("claims", {}).get("admin") is not True:
            raise ConnectError("Not authorized")

    def user_id_of(self, socket: Socket) -> str | None:
        if self.config.jwt_secret:
            return normalize_user_id(socket.data.get("claims", {}).get("userId"))
        return normalize_user_id(socket.auth.get("userId"))

    # -- documents --------------------------------------------------------------------------

    def document(self, doc_id: str) -> dict[str, Any]:
        doc = self.documents.get(doc_id)
        if doc is None:
            doc = self.documents[doc_id] = {"version": 0, "content": {}}
        return doc

    # -- notifications ----------------------------------------------------------------------

    def notify(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Store a notification; returns it and the user key.

        Memory is bounded (docs/events.md "Notifications"): per user at most
        ``NOTIFICATIONS_PER_USER`` entries and ``notification_bytes_per_user`` bytes, over all
        users ``notification_bytes_total`` bytes; past a bound the oldest go first (the user's
        own for a per-user bound, the oldest of all for the total).

        Raises:
            ValueError: a bad body.
            OverflowError: the notification alone is larger than the per-user bound.
        """
        user = normalize_user_id(body.get("userId"))
        if user is None:
            raise ValueError("userId must be a non-empty string or an integer")
        if "type" not in body or "message" not in body:
            raise ValueError('body needs keys "type" and "message"')
        note = {"id": self.next_notification_id, "userId": body["userId"]}
        note["type"], note["message"] = body["type"], body["message"]
        note.update(body)
        note["id"], note["userId"] = self.next_notification_id, body["userId"]
        note["timestamp"] = iso_now()
        size = len(json.dumps(note, separators=(",", ":"), ensure_ascii=False).encode())
        c = self.config
        if size > min(c.notification_bytes_per_user, c.notification_bytes_total):
            raise OverflowError(
                f"notification of {size} bytes exceeds the stored-notification limit "
                f"({min(c.notification_bytes_per_user, c.notification_bytes_total)} bytes)"
            )
        self.next_notification_id += 1
        store = self.notifications.setdefault(user, deque())
        store.append((note, size))
        self.notification_order[note["id"]] = user
        self.user_bytes[user] = self.user_bytes.get(user, 0) + size
        self.notification_bytes += size
        while (
            len(store) > NOTIFICATIONS_PER_USER
            or self.user_bytes[user] > c.notification_bytes_per_user
        ):
            self._evict_oldest_of(user)
        while self.notification_bytes > c.notification_bytes_total:
            _, oldest_user = next(iter(self.notification_order.items()))
            self._evict_oldest_of(oldest_user)
        return note, user

    def _evict_oldest_of(self, user: str) -> None:
        store = self.notifications[user]
        note, size = store.popleft()
        del self.notification_order[note["id"]]
        self.notification_bytes -= size
        self.user_bytes[user] -= size
        if not store:
            del self.notifications[user], self.user_bytes[user]

    def notifications_since(self, user: str, since: int) -> list[dict[str, Any]]:
        return [n for n, _ in self.notifications.get(user, ()) if n["id"] > since]
