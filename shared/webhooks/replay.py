"""Re-publish chosen dead letters of the webhook ingest after a fix, idempotently.

    python -m shared.webhooks.replay --id <dead_letter_id> [--id ...]
    python -m shared.webhooks.replay --source shop --since 2026-11-20T00:00:00Z --until ...
    python -m shared.webhooks.replay --reason invalid_payload --dry-run

Reads ``ops.dead_letters_current`` (bound parameters only), skips letters already listed in
``ops.dead_letter_replays``, re-publishes the original bytes and attributes (plus
``replay_of=<dead_letter_id>``) to the original topic, then records the replay.

Why a replay table rather than only a marker attribute: the table makes a second run a no-op
before anything is published and leaves an audit trail. Publish happens before the record, so
a crash in between can at worst publish a letter twice; that is harmless because the ingest
dedups on the provider event id / content hash, never on the message id.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shared import clients
from shared.bigquery.writer import table_writer
from shared.resources import table_id
from shared.settings import get_settings
from shared.webhooks.contract import ATTR_REPLAY_OF, TOPIC

FUNCTION = "webhooks"


def select_sql(project: str) -> str:
    letters = table_id(project, "ops", "dead_letters_current")
    replays = table_id(project, "ops", "dead_letter_replays")
    return f"""
SELECT d.dead_letter_id, d.topic, d.payload, d.attributes, d.reason, d.received_at
FROM `{letters}` AS d
LEFT JOIN (SELECT DISTINCT dead_letter_id FROM `{replays}`) AS r USING (dead_letter_id)
WHERE d.function = @function AND r.dead_letter_id IS NULL
  AND (ARRAY_LENGTH(@ids) = 0 OR d.dead_letter_id IN UNNEST(@ids))
  AND (@source IS NULL OR JSON_VALUE(d.attributes, '$.source') = @source)
  AND (@reason IS NULL OR d.reason = @reason)
  AND (@since IS NULL OR d.received_at >= @since)
  AND (@until IS NULL OR d.received_at < @until)
ORDER BY d.received_at
LIMIT @limit"""


def find(
    ids: Sequence[str] = (),
    *,
    source: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    from shared import bigquery

    project = get_settings().project_id
    return bigquery.query(
        select_sql(project),
        {
            "function": FUNCTION,
            "ids": bigquery.typed(list(ids), "ARRAY<STRING>"),
            "source": source,
            "reason": reason,
            "since": bigquery.typed(since, "TIMESTAMP"),
            "until": bigquery.typed(until, "TIMESTAMP"),
            "limit": limit,
        },
    )


def _payload(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return base64.b64decode(value or "")


def _attributes(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if not str(k).startswith("ce-")}


def replay(letters: list[dict[str, Any]], *, by: str = "replay-cli") -> list[dict[str, str]]:
    """Publish each letter, then record it; returns what was replayed."""
    publisher: Any = clients.publisher()
    recorder = table_writer("dead_letter_replays", group_commit=False)
    done = []
    for letter in letters:
        topic = letter.get("topic") or TOPIC
        attributes = {
            **_attributes(letter.get("attributes")),
            ATTR_REPLAY_OF: letter["dead_letter_id"],
        }
        message_id = publisher.publish(
            clients.topic_path(topic), _payload(letter.get("payload")), **attributes
        ).result(timeout=30)
        row = {
            "dead_letter_id": letter["dead_letter_id"],
            "topic": topic,
            "message_id": str(message_id),
            "replayed_by": by,
            "replayed_at": datetime.now(UTC).isoformat(),
        }
        recorder.write([(f"{letter['dead_letter_id']}:{message_id}", row)])
        done.append({k: str(v) for k, v in row.items()})
    return done


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--id", action="append", default=[], help="dead_letter_id (repeatable)")
    parser.add_argument("--source", help="the message's `source` attribute")
    parser.add_argument("--reason", help="dead letter reason, e.g. invalid_payload")
    parser.add_argument("--since", type=_time, help="received_at >= (RFC 3339)")
    parser.add_argument("--until", type=_time, help="received_at < (RFC 3339)")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--dry-run", action="store_true", help="list, do not publish")
    args = parser.parse_args(argv)
    if not (args.id or args.source or args.reason or args.since or args.until):
        parser.error("choose letters with --id, --source, --reason, --since or --until")
    letters = find(
        args.id,
        source=args.source,
        reason=args.reason,
        since=args.since,
        until=args.until,
        limit=args.limit,
    )
    if args.dry_run:
        for letter in letters:
            print(letter["dead_letter_id"], letter["reason"], letter["received_at"])
        print(f"{len(letters)} dead letter(s) would be replayed")
        return 0
    done = replay(letters)
    print(json.dumps({"replayed": len(done), "letters": done}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
