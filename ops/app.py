"""The root ``plumb`` group: global options, the target, output and exit codes."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from ops import target as targets
from shared.errors import PipelineError


class FailedError(click.ClickException, PipelineError):
    """The operation ran but failed or found a problem: exit 1."""

    exit_code = 1


class RefusedError(click.ClickException, PipelineError):
    """Bad input the command could not catch as a usage error: exit 2."""

    exit_code = 2


class UnreachableError(click.ClickException, PipelineError):
    """The target is not configured or does not answer: exit 3."""

    exit_code = 3


@dataclass
class State:
    """What every command gets through ``click.pass_obj``."""

    json: bool = False
    target_kind: str = "auto"
    project: str | None = None
    stack_file: Path | None = None
    _target: targets.Target | None = field(default=None, repr=False)

    def target(self) -> targets.Target:
        """Resolve the target once (exports emulator variables for the official clients)."""
        if self._target is None:
            try:
                self._target = targets.resolve(
                    self.target_kind, project=self.project, stack_file=self.stack_file
                )
            except targets.TargetError as exc:
                error = RefusedError if exc.exit_code == 2 else UnreachableError
                raise error(str(exc)) from None
            from shared import clients, settings

            settings.get_settings.cache_clear()
            clients.reset()
        return self._target

    def emit(self, data: Any, text: Callable[[], None] | str | None = None) -> None:
        """Print ``data`` as JSON with --json, else the human text (a string or a printer)."""
        if self.json:
            click.echo(json.dumps(data, indent=2, default=jsonable, sort_keys=False))
        elif callable(text):
            text()
        elif text is not None:
            click.echo(text)
        else:
            click.echo(json.dumps(data, indent=2, default=jsonable))


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | tuple | frozenset):
        return list(value)
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Echo rows as an aligned text table (cells cut at 48 characters)."""
    if not rows:
        click.echo("(none)")
        return
    cols = list(columns or rows[0].keys())

    def cell(value: Any) -> str:
        text = (
            "" if value is None else str(jsonable(value) if not isinstance(value, str) else value)
        )
        text = text.replace("\n", " ")
        return text if len(text) <= 48 else text[:45] + "..."

    widths = {c: max(len(c), *(len(cell(r.get(c))) for r in rows)) for c in cols}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip())
    for row in rows:
        click.echo("  ".join(cell(row.get(c)).ljust(widths[c]) for c in cols).rstrip())


def json_option[F: Callable[..., Any]](func: F) -> F:
    """``--json`` on a sub-command (the same as ``plumb --json ...``)."""

    def callback(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            ctx.ensure_object(State).json = True
        return value

    return click.option(
        "--json",
        "json_flag",
        is_flag=True,
        expose_value=False,
        callback=callback,
        is_eager=True,
        help="Print one JSON document on stdout.",
    )(func)


def translate_errors[F: Callable[..., Any]](func: F) -> F:
    """Map library errors to exit codes: bad input 2, unreachable 3, other failures 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from shared.errors import PermanentError

        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except PermanentError as exc:
            raise RefusedError(f"{exc.reason}: {exc.detail}") from None
        except Exception as exc:
            if _unreachable(exc):
                raise UnreachableError(f"target unreachable: {type(exc).__name__}: {exc}") from None
            raise FailedError(f"{type(exc).__name__}: {str(exc)[:500]}") from None

    return wrapper  # type: ignore[return-value]


def _unreachable(exc: BaseException) -> bool:
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    if isinstance(
        exc,
        gexc.ServiceUnavailable
        | gexc.RetryError
        | auth_exc.DefaultCredentialsError
        | ConnectionError,
    ):
        return True
    import requests

    return isinstance(exc, requests.ConnectionError)


class PlumbGroup(click.Group):
    """Errors as one JSON document on stdout when --json is on (still with the exit code)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            state = ctx.find_object(State)
            if state is not None and state.json and not isinstance(exc, click.UsageError):
                click.echo(json.dumps({"ok": False, "error": exc.format_message()}))
            raise


@click.group(cls=PlumbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "json_out", is_flag=True, help="Print one JSON document on stdout.")
@click.option(
    "--target",
    "target_kind",
    type=click.Choice(targets.TARGETS),
    default="auto",
    envvar="PLUMB_TARGET",
    show_default=True,
    help="local = emulators (env or stack file); cloud = Google Cloud via ADC.",
)
@click.option(
    "--project",
    help="Expected project id; refused (exit 2) when the target is another project.",
)
@click.option(
    "--stack",
    "stack_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Stack file of a running `make run` (default {targets.DEFAULT_STACK_FILE}).",
)
@click.version_option("0.1.0", prog_name="plumb")
@click.pass_context
def cli(
    ctx: click.Context,
    json_out: bool,
    target_kind: str,
    project: str | None,
    stack_file: Path | None,
) -> None:
    """Operate the event plumbing: customers, keys, uploads, webhooks, refreshes, quotas,
    migrations and the local stack.

    Exit codes: 0 done, 1 failed or found a problem, 2 bad arguments or refused target,
    3 target not configured or unreachable.
    """
    state = ctx.ensure_object(State)
    state.json = state.json or json_out
    state.target_kind = target_kind
    state.project = project
    state.stack_file = stack_file


def main() -> None:
    from ops import commands

    commands.register(cli)
    cli.main(prog_name="plumb", windows_expand_args=False)
    sys.exit(0)
