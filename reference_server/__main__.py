"""``python -m reference_server [options]``: see ``--help`` and docs/events.md."""

from __future__ import annotations

import sys

from reference_server.app import run
from reference_server.config import parse_args

if __name__ == "__main__":
    sys.exit(run(parse_args()))
