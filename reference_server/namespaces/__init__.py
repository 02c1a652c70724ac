"""The docs/events.md application: one module per namespace (``/``, ``/chat``, ``/admin``,
``/custom``), plus the shared handler conventions in :mod:`.common`."""
