"""Backfill of a bucket the function never saw: dry run, real run, idempotent re-run."""

from __future__ import annotations

import io
import uuid

from devstack.stack import LocalStack
from shared.uploads import backfill
from tests.e2e.uploads import helpers


def test_backfill_dry_run_then_idempotent_runs(stack: LocalStack) -> None:
    name = f"{stack.project}-uploads-backfill"
    bucket = stack.ensure_bucket(name)
    p = f"c-{uuid.uuid4().hex[:8]}/"
    files = {
        f"{p}r1/image/a.jpg": helpers.JPEG,
        f"{p}r1/audio/b.mp3": helpers.MP3,
        f"{p}r2/document/c.pdf": helpers.PDF,
        f"{p}r2/image/evil.jpg": helpers.EXE,
        f"{p}loose.txt": b"hello",
    }
    for key, data in files.items():
        # upload_from_string declares text/plain unless told: declare nothing useful instead
        bucket.blob(key).upload_from_string(data, content_type="application/octet-stream")
    bucket.blob(f"other-{p}x/r/image/a.jpg").upload_from_string(helpers.JPEG)  # outside prefix

    out, err = io.StringIO(), io.StringIO()
    code = backfill.run(name, p, dry_run=True, out=out, progress=backfill.Progress(err, every=1))
    assert code == 0
    assert "5 objects listed" in out.getvalue() and "would write" in out.getvalue()
    assert "backfill: 5 objects" in err.getvalue()
    assert helpers.raw_rows(stack, name, p) == []

    out = io.StringIO()
    assert backfill.run(name, p, out=out, progress=backfill.Progress(io.StringIO())) == 0
    reasons = [(r["name"], r["reason"]) for r in helpers.current(stack, name, p)]
    assert "active=3" in out.getvalue() and "rejected=2" in out.getvalue(), reasons
    assert "OK" in out.getvalue()
    rows = {r["name"]: r for r in helpers.current(stack, name, p)}
    assert len(rows) == 5
    assert rows[f"{p}r2/image/evil.jpg"]["status"] == "rejected"

    # the command line, run twice: same rows, verification still OK
    for _ in range(2):
        done = stack.run_module("shared.uploads.backfill", "--bucket", name, "--prefix", p)
        assert done.returncode == 0, done.stderr
        assert "OK" in done.stdout
    raw = helpers.raw_rows(stack, name, p)
    assert len({r["row_key"] for r in raw}) == 5
    assert len(helpers.current(stack, name, p)) == 5
