"""wsbench.protocol is sans-I/O: importing it loads no I/O, event loop or heavy library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = ("aiohttp", "asyncio", "yaml", "matplotlib", "locust", "gevent")


def test_import_protocol_loads_nothing_heavy():
    code = (
        "import json, sys\n"
        "import wsbench.protocol\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(json.dumps([wsbench.protocol.__file__, loaded]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    module_file, loaded = json.loads(out.stdout)
    assert Path(module_file).is_relative_to(ROOT)  # this checkout, not an installed copy
    assert loaded == []
