"""``plumb webhooks replay``: wraps :mod:`shared.webhooks.replay` with a progress bar."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from ops import progress
from ops.app import State, json_option, table, translate_errors


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an RFC 3339 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.group()
def webhooks() -> None:
    """Webhook ingest: dead letters and replays."""


@webhooks.command("replay")
@click.option("--id", "ids", multiple=True, help="dead_letter_id (repeatable).")
@click.option("--source", help="The message's `source` attribute.")
@click.option("--reason", help="Dead letter reason, e.g. invalid_payload.")
@click.option("--since", help="received_at >= (RFC 3339).")
@click.option("--until", help="received_at < (RFC 3339).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--dry-run", is_flag=True, help="List what would be replayed, publish nothing.")
@json_option
@click.pass_obj
@translate_errors
def replay(  # noqa: PLR0917
    state: State,
    ids: tuple[str, ...],
    source: str | None,
    reason: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    dry_run: bool,
) -> None:
    """Re-publish chosen dead letters to their topic, once each (recorded in
    ops.dead_letter_replays, so a second run replays nothing)."""
    from shared.webhooks import replay as lib

    if not (ids or source or reason or since or until):
        raise click.UsageError("choose letters with --id, --source, --reason, --since or --until")
    since_t, until_t = _time(since), _time(until)
    state.target()
    letters = lib.find(
        list(ids), source=source, reason=reason, since=since_t, until=until_t, limit=limit
    )
    listed = [
        {k: letter.get(k) for k in ("dead_letter_id", "reason", "topic", "received_at")}
        for letter in letters
    ]
    if dry_run:

        def planned() -> None:
            table(listed)
            click.echo(f"{len(listed)} dead letter(s) would be replayed")

        state.emit({"dry_run": True, "would_replay": len(listed), "letters": listed}, planned)
        return
    done: list[dict[str, Any]] = []
    with progress.bar(len(letters), "replaying", quiet=state.json) as bar:
        for letter in letters:
            done += lib.replay([letter], by="plumb")
            bar.update(1)

    def replayed() -> None:
        table(done)
        click.echo(f"replayed {len(done)} dead letter(s)")

    state.emit({"dry_run": False, "replayed": len(done), "letters": done}, replayed)
