"""``plumb migrate firestore`` on the Firestore emulator: dry run, batches, an interrupted run
resumed without duplicates, verification by counts and checksums that catches a change."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.stack import LocalStack
from ops import firestore_copy as fc
from tests.e2e.cli.helpers import plumb, plumb_json

pytestmark = pytest.mark.stack
FEEDBACK, JOBS = 450, 23


def _feedback(i: int) -> dict[str, Any]:
    from google.cloud.firestore_v1 import GeoPoint

    return {
        "rating": i % 5 + 1,
        "score": i / 7,
        "whole": 3.0,
        "text": f"great product #{i} — ünïcode ✓",
        "tags": ["a", "b"] if i % 2 else [],
        "meta": {"source": "app", "nested": {"depth": 2, "ok": True}},
        "created": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
        "blob": base64.b64decode("AAEC"),
        "where": GeoPoint(52.5, 13.4),
        "none": None,
    }


@pytest.fixture(scope="module")
def collections(stack: LocalStack) -> dict[str, int]:
    db = stack.firestore()
    for name in ("feedback", "jobs"):
        for snap in db.collection(name).list_documents():
            snap.delete()
    batch = db.batch()
    for i in range(FEEDBACK):
        batch.set(db.collection("feedback").document(f"fb-{i:05d}"), _feedback(i))
        if i % 200 == 199:
            batch.commit()
            batch = db.batch()
    for i in range(JOBS):
        batch.set(
            db.collection("jobs").document(f"job-{i}"),
            {
                "state": "done" if i % 3 else "failed",
                "attempts": i,
                "owner": db.document("users/u1"),
            },
        )
    batch.commit()
    return {"feedback": FEEDBACK, "jobs": JOBS}


def _rows(stack: LocalStack, table: str) -> int:
    return int(
        stack.query(f"SELECT COUNT(*) AS n FROM `{stack.project}.warehouse.{table}`")[0]["n"]
    )


def test_dry_run_then_interrupted_copy_resumes_and_verifies(
    stack: LocalStack, collections: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    for table in ("firestore_feedback", "firestore_jobs"):
        stack.query(f"DELETE FROM `{stack.project}.warehouse.{table}` WHERE TRUE")
    dry = plumb_json("migrate", "firestore", "--dry-run")
    plans = {c["collection"]: c for c in dry["collections"]}
    assert plans["feedback"]["documents"] == FEEDBACK and plans["feedback"]["to_copy"] == FEEDBACK
    assert plans["jobs"]["documents"] == JOBS
    assert _rows(stack, "firestore_feedback") == 0

    # interrupted: the third load job of feedback dies (two batches of 100 committed)
    real_load = fc.load_batch
    calls = {"n": 0}

    def flaky(route: fc.Route, rows: list[dict[str, Any]]) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("network lost mid-migration")
        real_load(route, rows)

    monkeypatch.setattr(fc, "load_batch", flaky)
    broken = plumb("migrate", "firestore", "--collection", "feedback", "--batch", "100", ok=False)
    assert broken.exit_code == 3, broken.output
    assert _rows(stack, "firestore_feedback") == 200
    monkeypatch.undo()

    # resumed: continues after fb-00199, no duplicates, verified
    done = plumb_json("migrate", "firestore", "--batch", "100")
    by = {c["collection"]: c for c in done["collections"]}
    assert done["ok"] is True
    assert by["feedback"]["copy"]["resumed_after"] == "fb-00199"
    assert by["feedback"]["copy"]["rows_written"] == FEEDBACK - 200
    assert by["feedback"]["copy"]["batches"] == 3 and by["feedback"]["copy"]["complete"]
    assert by["jobs"]["copy"]["rows_written"] == JOBS
    for name, count in collections.items():
        check = by[name]["verify"]
        assert check["firestore_documents"] == check["bigquery_rows"] == count
        assert check["bigquery_distinct_ids"] == count
        assert check["firestore_checksum"] == check["bigquery_checksum"]
    assert _rows(stack, "firestore_feedback") == FEEDBACK
    # a second run copies nothing
    again = plumb_json("migrate", "firestore")
    assert [c["copy"]["rows_written"] for c in again["collections"]] == [0, 0]

    # the copy is faithful: typed values as canonical JSON
    row = stack.query(
        f"SELECT data, doc_sha256 FROM `{stack.project}.warehouse.firestore_feedback` "
        "WHERE doc_id = 'fb-00007'"
    )[0]
    data = fc.renormalize(row["data"])
    assert '"rating":3' in data and '"$bytes":"AAEC"' in data and '"$geo":[52.5,13.4]' in data
    assert '"created":"2026-01-01T00:07:00Z"' in data and "ünïcode" in data
    assert row["doc_sha256"] == fc.doc_digest("fb-00007", data)


def test_verification_catches_a_change_and_restart_recopies(
    stack: LocalStack, collections: dict[str, int]
) -> None:
    plumb("migrate", "firestore")
    stack.firestore().collection("jobs").document("job-1").update({"attempts": 99})
    failed = plumb("--json", "migrate", "firestore", "--verify-only", ok=False)
    assert failed.exit_code == 1
    import json

    by = {c["collection"]: c["verify"] for c in json.loads(failed.stdout)["collections"]}
    assert by["feedback"]["ok"] is True
    assert by["jobs"]["ok"] is False
    assert by["jobs"]["firestore_documents"] == by["jobs"]["bigquery_rows"] == JOBS
    redone = plumb_json("migrate", "firestore", "--collection", "jobs", "--restart")
    assert redone["ok"] is True
    assert redone["collections"][0]["emptied_rows"] == JOBS
    unknown = plumb("migrate", "firestore", "--collection", "users", ok=False)
    assert unknown.exit_code == 2 and "not declared" in unknown.output
