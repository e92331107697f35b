"""Backfill: walk an existing bucket (or a prefix) and write the rows the function would have.

Usage::

    python -m shared.uploads.backfill --bucket BUCKET [--prefix P] [--resume-after NAME]
        [--dry-run] [--batch 500]

Each object's current generation goes through the same judge and row builder as the
function, with the same deterministic row key, so running it twice (or alongside the
function) changes nothing in ``media_files_current``. Progress goes to stderr; at the end it
counts the listed objects against ``media_files_current`` for the same bucket and prefix and
exits 1 when they differ.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from shared import clients
from shared.bigquery.writer import Row
from shared.events import STORAGE_FINALIZED, storage_object_from_event
from shared.resources import manifest, table_id
from shared.settings import get_settings
from shared.uploads import detect, handler, reader, rows, sink
from shared.uploads.naming import parse_name


@dataclass
class _Event:
    """The minimal CloudEvent shape :func:`storage_object_from_event` reads."""

    attributes: dict[str, str]
    data: Any

    def __getitem__(self, key: str) -> Any:
        return self.attributes[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.attributes.get(key, default)


def row_for(resource: dict[str, Any], read_head: reader.HeadReader = reader.read_head) -> Row:
    """The row the function writes for a finalized event of this object resource."""
    event_id = (
        f"backfill:{resource.get('bucket')}/{resource.get('name')}#{resource.get('generation')}"
    )
    obj = storage_object_from_event(_Event({"id": event_id, "type": STORAGE_FINALIZED}, resource))
    path = parse_name(obj.name, obj.metadata)
    limit = handler.max_bytes()
    head = None
    if rows.needs_read(obj, path, limit):
        head = read_head(obj.bucket, obj.name, obj.generation, detect.SNIFF_BYTES)
    return rows.build_row(obj, path, rows.judge(obj, path, head, limit))


def batched(items: Iterable[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Progress:
    """A one-line stderr counter (no dependency): objects seen, rows written, rate."""

    def __init__(self, out: TextIO = sys.stderr, every: int = 50) -> None:
        self.out = out
        self.every = every
        self.seen = 0
        self.start = time.monotonic()

    def tick(self, n: int = 1) -> None:
        self.seen += n
        if self.seen % self.every < n:
            self.show()

    def show(self, end: str = "\r") -> None:
        rate = self.seen / max(time.monotonic() - self.start, 1e-6)
        self.out.write(f"backfill: {self.seen} objects ({rate:.0f}/s){end}")
        self.out.flush()


def count_current(bucket: str, prefix: str, after: str = "") -> int:
    from shared import bigquery

    dataset = manifest().view("media_files_current")["dataset"]
    view = table_id(get_settings().project_id, dataset, "media_files_current")
    found = bigquery.query(
        f"SELECT COUNT(*) AS n FROM `{view}` WHERE bucket = @bucket"
        " AND STARTS_WITH(name, @prefix) AND name > @after",
        {"bucket": bucket, "prefix": prefix, "after": after},
    )
    return int(found[0]["n"])


def run(
    bucket: str,
    prefix: str = "",
    *,
    dry_run: bool = False,
    batch_size: int = 500,
    out: TextIO = sys.stdout,
    progress: Progress | None = None,
    write: Callable[[list[Row]], None] | None = None,
    resume_after: str = "",
) -> int:
    """Backfill and verify; returns the exit code (0 when the counts match).

    Objects are listed in name order; after each written batch a ``checkpoint: NAME`` line
    names the last object written. ``resume_after=NAME`` starts the listing after that object
    (an interrupted run resumes where its last checkpoint was), and the verification then
    covers the objects after it.
    """
    progress = progress or Progress()
    statuses: Counter[str] = Counter()
    listed = 0
    writer = sink.make_writer("single")  # each batch of the listing is one append
    do_write = write or writer.write

    def generate() -> Iterator[Row]:
        nonlocal listed
        blobs = clients.storage().list_blobs(
            bucket, prefix=prefix or None, start_offset=resume_after or None
        )
        for blob in blobs:
            if blob.name <= resume_after:  # start_offset is inclusive
                continue
            listed += 1
            row = row_for(dict(blob._properties))
            statuses[row[1]["status"]] += 1
            progress.tick()
            yield row

    for batch in batched(generate(), batch_size):
        if not dry_run:
            do_write(batch)
            out.write(f"checkpoint: {batch[-1][1]['name']}\n")
    progress.show(end="\n")
    summary = ", ".join(f"{k}={v}" for k, v in sorted(statuses.items())) or "nothing"
    action = "would write" if dry_run else "wrote"
    out.write(f"{listed} objects listed in gs://{bucket}/{prefix}; {action} rows: {summary}\n")
    if dry_run:
        return 0
    current = count_current(bucket, prefix, resume_after)
    # vanished objects (deleted while listing) are not live: they must not be counted
    expected = listed - statuses[rows.DELETED]
    verdict = "OK" if current == expected else "MISMATCH"
    out.write(
        f"verify: {expected} live objects, {current} rows in media_files_current: {verdict}\n"
    )
    return 0 if current == expected else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.uploads.backfill", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--bucket", required=True, help="bucket name (not the manifest key)")
    parser.add_argument("--prefix", default="", help="only objects under this prefix")
    parser.add_argument(
        "--resume-after", default="", help="start after this object (the last checkpoint)"
    )
    parser.add_argument("--dry-run", action="store_true", help="judge and count, write nothing")
    parser.add_argument("--batch", type=int, default=500, help="rows per insertAll (max 500)")
    args = parser.parse_args(argv)
    return run(
        args.bucket,
        args.prefix,
        dry_run=args.dry_run,
        batch_size=min(args.batch, 500),
        resume_after=args.resume_after,
    )


if __name__ == "__main__":
    sys.exit(main())
