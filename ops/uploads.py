"""``plumb uploads backfill``: wraps :mod:`shared.uploads.backfill` with a progress bar.

The backfill writes the same deterministic row per object generation as the function, so a
second run (after an interruption, or beside the live function) changes nothing in
``media_files_current``. To resume without walking the bucket again, pass the last
``checkpoint`` it reported as ``--resume-after`` (``--json`` reports it as ``checkpoint``):
objects are listed in name order and the verification then covers the objects after it.
"""

from __future__ import annotations

import io
from typing import Any

import click

from ops import progress
from ops.app import State, json_option, translate_errors


def bucket_name(state: State, bucket: str) -> str:
    """A manifest bucket key (``uploads``) becomes its name in the target project."""
    from shared.resources import manifest

    target = state.target()
    known = target.stack.get("buckets", {}) if target.stack else {}
    if bucket in known:
        return str(known[bucket])
    try:
        return manifest().bucket_name(bucket, target.project)
    except KeyError:
        return bucket


def count_objects(bucket: str, prefix: str, after: str = "") -> int:
    from shared import clients

    blobs = clients.storage().list_blobs(
        bucket,
        prefix=prefix or None,
        start_offset=after or None,
        fields="items(name),nextPageToken",
    )
    return sum(1 for blob in blobs if blob.name > after)


@click.group()
def uploads() -> None:
    """Files in Cloud Storage and their media_files rows."""


@uploads.command("backfill")
@click.option("--bucket", required=True, help="Bucket name or manifest key (e.g. uploads).")
@click.option("--prefix", default="", help="Only objects under this prefix.")
@click.option(
    "--resume-after", default="", help="Start after this object (a checkpoint of an earlier run)."
)
@click.option("--dry-run", is_flag=True, help="Judge and count, write nothing.")
@click.option(
    "--batch", type=click.IntRange(1, 500), default=500, show_default=True, help="Rows per write."
)
@json_option
@click.pass_obj
@translate_errors
def backfill(  # noqa: PLR0917
    state: State, bucket: str, prefix: str, resume_after: str, dry_run: bool, batch: int
) -> None:
    """Write the rows the uploads function would have written for existing objects, then
    verify the live objects against media_files_current (exit 1 on mismatch)."""
    from shared.uploads import backfill as lib

    name = bucket_name(state, bucket)
    total = count_objects(name, prefix, resume_after)
    report = io.StringIO()
    with progress.bar(total, f"gs://{name}/{prefix}", quiet=state.json) as bar:

        class _Bar(lib.Progress):
            def tick(self, n: int = 1) -> None:
                self.seen += n
                bar.update(n)

            def show(self, end: str = "\r") -> None:
                return None

        code = lib.run(
            name,
            prefix,
            dry_run=dry_run,
            batch_size=batch,
            out=report,
            progress=_Bar(out=io.StringIO()),
            resume_after=resume_after,
        )
    lines = [line for line in report.getvalue().splitlines() if line]
    checkpoints = [line.split(": ", 1)[1] for line in lines if line.startswith("checkpoint: ")]
    data: dict[str, Any] = {
        "bucket": name,
        "prefix": prefix,
        "objects": total,
        "resume_after": resume_after,
        "checkpoint": checkpoints[-1] if checkpoints else resume_after,
        "dry_run": dry_run,
        "ok": code == 0,
        "report": lines,
    }
    state.emit(data, "\n".join(lines))
    if code:
        raise click.exceptions.Exit(code)
