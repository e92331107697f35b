"""``plumb stack status``: what ``make run`` started, read from its stack file."""

from __future__ import annotations

import os
from typing import Any

import click

from ops.app import State, UnreachableError, json_option, table, translate_errors


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def _answers(url: str) -> bool:
    from devstack.processes import http_ok

    return http_ok(url, accept_any_status=True)


def status_rows(stack: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per process: PID alive, and for functions/console whether the URL answers."""
    urls: dict[str, str] = {f"function-{k}": v for k, v in stack.get("functions", {}).items()}
    if stack.get("storage_bridge"):
        urls["storage-bridge"] = stack["storage_bridge"]
    if stack.get("console"):
        urls["console"] = stack["console"]
    rows = []
    for name, pid in sorted(stack.get("pids", {}).items()):
        url = urls.get(name, "")
        rows.append(
            {
                "process": name,
                "pid": pid,
                "alive": _alive(pid),
                "url": url,
                # the console's page runs queries: its health route answers at once
                "answers": _answers(f"{url}/healthz" if name == "console" else url)
                if url
                else None,
            }
        )
    return rows


@click.group("stack")
def stack_group() -> None:
    """The local stack started by `make run`."""


@stack_group.command("status")
@json_option
@click.pass_obj
@translate_errors
def status(state: State) -> None:
    """Processes, endpoints and health of the local stack (exit 1 when something is down)."""
    target = state.target()
    if not target.is_local or not target.stack:
        raise UnreachableError(
            f"no stack file for target {target.kind} ({target.source}): `make run` writes "
            ".local/run/stack.json; pass --stack PATH for another one"
        )
    stack = target.stack
    rows = status_rows(stack)
    down = [r["process"] for r in rows if not r["alive"] or r["answers"] is False]
    emulators = {
        "pubsub": stack.get("pubsub_emulator_host"),
        "storage": stack.get("storage_emulator_host"),
        "bigquery": stack.get("bigquery_endpoint"),
        "firestore": stack.get("firestore_emulator_host"),
    }
    data: dict[str, Any] = {
        "project_id": target.project,
        "source": target.source,
        "console": stack.get("console"),
        "emulators": {k: v for k, v in emulators.items() if v},
        "processes": rows,
        "down": down,
        "healthy": not down,
    }

    def text() -> None:
        click.echo(f"project {target.project}   stack file {target.source}")
        if stack.get("console"):
            click.echo(f"console {stack['console']}")
        for name, host in emulators.items():
            click.echo(f"  {name:<9} {host}")
        table(rows)
        click.echo("healthy" if not down else f"DOWN: {', '.join(down)}")

    state.emit(data, text)
    if down:
        click.echo(f"{len(down)} process(es) down: {', '.join(down)}", err=True)
        raise click.exceptions.Exit(1)
