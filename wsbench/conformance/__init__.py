"""``wsbench conform``: the conformance gate for any Socket.IO server (check catalog, runner, results)."""
