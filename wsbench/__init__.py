"""wsbench: load testing and protocol conformance for Socket.IO servers.

Importing this package loads nothing heavy: the protocol core, the asyncio
client, the scenario driver and the Locust integration are imported from their
own subpackages.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
