"""The canonical form and checksum the Firestore migration verifies with."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from google.cloud.firestore_v1 import GeoPoint

from ops import firestore_copy as fc


def test_plain_turns_every_firestore_type_into_json() -> None:
    fields = {
        "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        "blob": b"\x00\x01",
        "geo": GeoPoint(1.5, -2.25),
        "whole": 3.0,
        "nan": float("nan"),
        "nested": {"list": [1, 2.5, None, True]},
    }
    plain = fc.plain(fields)
    assert plain["when"] == "2026-01-02T01:04:05Z"
    assert plain["blob"] == {"$bytes": "AAE="}
    assert plain["geo"] == {"$geo": [1.5, -2.25]}
    assert plain["whole"] == 3 and isinstance(plain["whole"], int)
    assert plain["nan"] == {"$float": "nan"}
    assert plain["nested"] == {"list": [1, 2.5, None, True]}
    json.dumps(plain, allow_nan=False)


def test_read_back_json_renormalizes_to_the_same_text() -> None:
    fields = fc.plain({"b": 1.0, "a": {"z": [2.0, "x"], "y": "ü"}})
    text = fc.canonical(fields)
    assert fc.renormalize(json.dumps(fields, indent=2)) == text
    assert fc.renormalize({"a": {"y": "ü", "z": [2, "x"]}, "b": 1.0}) == text


def test_checksum_ignores_order_but_sees_changes_losses_and_duplicates() -> None:
    docs = [(f"d{i}", fc.canonical({"n": i})) for i in range(5)]

    def total(items: list[tuple[str, str]]) -> str:
        check = fc.Checksum()
        for doc_id, text in items:
            check.add(doc_id, text)
        return check.hexdigest()

    base = total(docs)
    assert total(list(reversed(docs))) == base
    assert total(docs[:-1]) != base
    assert total([*docs, docs[0]]) != base
    assert total([*docs[:-1], ("d4", fc.canonical({"n": 5}))]) != base
    assert len(base) == 64


def test_manifest_declares_both_seed_collections() -> None:
    routes = fc.routes()
    assert {"feedback", "jobs"} <= set(routes)
    assert routes["feedback"].table == "firestore_feedback"
    assert fc.Route("jobs", "firestore_jobs", "warehouse").collection == "jobs"
