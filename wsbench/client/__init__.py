"""asyncio I/O for the client role: transports, connections, the user API and the pool.

The only package that opens client sockets. Everything protocol-related is
decided by :mod:`wsbench.protocol.client`; this package moves bytes, keeps time
with the event loop and runs one reader task per connection.
"""

from wsbench.client.api import Client, connect, new_http_session
from wsbench.client.connection import Connection
from wsbench.client.loop import run
from wsbench.client.pool import ClientPool
from wsbench.client.socket import Socket
from wsbench.client.transport import TransportOption

__all__ = [
    "Client",
    "ClientPool",
    "Connection",
    "Socket",
    "TransportOption",
    "connect",
    "new_http_session",
    "run",
]
