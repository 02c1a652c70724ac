"""wsbench's reference Socket.IO server: a strictly conformant Engine.IO v4 / Socket.IO v5
server on aiohttp and :mod:`wsbench.protocol`, implementing docs/events.md.

``python -m reference_server``, or ``reference_server.app.create_app(config)`` /
``reference_server.app.run(config)`` with a :class:`~reference_server.config.ServerConfig`.
The Node twin of the same contract lives in ``reference_server/node``.
"""

from reference_server.config import FAULTS, ServerConfig

__all__ = ["FAULTS", "ServerConfig"]
