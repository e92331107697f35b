"""Run the CLI in-process (click's runner) against the session stack's emulators."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from ops import commands
from ops.app import cli

commands.register(cli)


def plumb(*args: str, ok: bool = True) -> Result:
    """Invoke ``plumb ARGS``; with ``ok`` assert exit 0 (showing the output otherwise)."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, (args, result.exit_code, result.output)
    return result


def plumb_json(*args: str, ok: bool = True) -> Any:
    result = plumb("--json", *args, ok=ok)
    return json.loads(result.stdout)
