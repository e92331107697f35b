"""Where the CLI points: the local stack or a real Google Cloud project.

Order of precedence (``--target auto``, the default):
1. emulator variables already in the environment (``source .local/run/stack.env``) -> local;
2. a stack file (``--stack``, default ``.local/run/stack.json`` of this checkout) -> local, its
   ``env`` is exported into this process so the official clients reach the emulators;
3. otherwise real Google Cloud through Application Default Credentials: the project comes from
   ``PROJECT_ID`` or ``--project`` (never guessed from gcloud's default).

``--project`` never switches targets: when it disagrees with the project of the target
(PROJECT_ID or the stack file), the command is refused, so a typo cannot write to the wrong
project.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import ConfigurationError
from shared.settings import EMULATOR_VARS

REPO = Path(__file__).resolve().parents[1]
DEFAULT_STACK_FILE = REPO / ".local" / "run" / "stack.json"
TARGETS = ("auto", "local", "cloud")


class TargetError(ConfigurationError):
    """The target cannot be used; ``exit_code`` 2 = refused (mismatch), 3 = not configured."""

    def __init__(self, message: str, exit_code: int = 3) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Target:
    kind: str  # "local" or "cloud"
    project: str
    source: str  # where the target came from, for `stack status` and errors
    stack: dict[str, Any] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.kind == "local"


def _read_stack(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TargetError(f"cannot read stack file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("env"), dict):
        raise TargetError(f"{path} is not a stack file written by `make run`")
    return data


def _check_project(wanted: str | None, actual: str, where: str) -> None:
    if wanted and wanted != actual:
        raise TargetError(
            f"--project {wanted} does not match the target project {actual} ({where}); "
            "refusing to run against a different project than the one you named",
            exit_code=2,
        )


def resolve(
    kind: str = "auto",
    *,
    project: str | None = None,
    stack_file: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Target:
    """Pick the target and export what the official clients and :mod:`shared.settings` read."""
    env = os.environ if environ is None else environ
    if kind not in TARGETS:
        raise TargetError(f"--target must be one of {', '.join(TARGETS)}", exit_code=2)
    emulated = [v for v in EMULATOR_VARS if env.get(v)]
    path = stack_file or Path(env.get("PLUMB_STACK", str(DEFAULT_STACK_FILE)))
    if kind in ("auto", "local") and emulated:
        actual = env.get("PROJECT_ID", "")
        if not actual:
            raise TargetError("emulator variables are set but PROJECT_ID is not")
        _check_project(project, actual, "PROJECT_ID with emulator variables")
        env.setdefault("APP_ENV", "local")
        return Target("local", actual, "environment (emulator variables)")
    if kind in ("auto", "local") and path.exists():
        stack = _read_stack(path)
        actual = str(stack.get("project_id") or stack["env"].get("PROJECT_ID", ""))
        _check_project(project, actual, str(path))
        for key, value in stack["env"].items():
            env[str(key)] = str(value)
        return Target("local", actual, str(path), stack)
    if kind == "local":
        raise TargetError(
            f"no local stack: start one with `make run` (it writes {path}) "
            "or export the emulator variables"
        )
    if env.get("APP_ENV") == "local":
        raise TargetError("APP_ENV=local but no emulator variables and no stack file")
    actual = env.get("PROJECT_ID") or ""
    if actual:
        _check_project(project, actual, "PROJECT_ID")
    else:
        actual = project or ""
    if not actual:
        raise TargetError(
            "no target: no emulator variables, no stack file and no project "
            "(pass --project or set PROJECT_ID; credentials come from ADC: "
            "`gcloud auth application-default login`)"
        )
    env["PROJECT_ID"] = actual
    env.setdefault("APP_ENV", "prod")
    return Target("cloud", actual, "Application Default Credentials")
