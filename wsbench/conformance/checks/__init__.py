"""The check catalog, one module per area; importing a module registers its checks.

Ids are dotted (``eio.handshake.polling.opens-session``); titles are behaviour sentences;
official suite cases keep their label (E1..E25 for the Engine.IO suite, S1..S32 for the
Socket.IO suite, research conformance.md §1.2-1.3) and their official ``it(...)`` name.
"""
