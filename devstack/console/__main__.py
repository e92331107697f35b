"""``python -m devstack.console --port N [--stack FILE]``: serve the console on 127.0.0.1.

The emulator variables come from the environment (the stack passes its own to every child).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from devstack.console.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stack", type=Path, help="stack.json of the running stack")
    args = parser.parse_args()
    stack = json.loads(args.stack.read_text()) if args.stack and args.stack.exists() else {}
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # bound to loopback only; the built-in server is enough for one local reader
    create_app(stack).run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
