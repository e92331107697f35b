"""Property: random names, sizes, content types, metadata and content thrown at the handler
in-process against the emulators never crash it, and every event ends as a row or a dead
letter."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from cloudevents.http import CloudEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.stack import LocalStack
from shared.events import STORAGE_DELETED, STORAGE_FINALIZED
from shared.handler import cloud_event_handler
from shared.uploads.handler import handle

FINALIZED = STORAGE_FINALIZED
DELETED = STORAGE_DELETED
HEADS = [
    b"\xff\xd8\xff\xe0",
    b"\x89PNG\r\n\x1a\n",
    b"ID3\x04",
    b"\x00\x00\x00\x18ftypisom",
    b"%PDF-1.4",
    b"MZ\x90\x00",
    b"\x7fELF",
    b"#!/bin/sh\n",
    b"",
]
segment = st.text(min_size=0, max_size=12)
well_formed = st.builds(
    lambda c, r, m, f: f"{c}/{r}/{m}/{f}",
    st.from_regex(r"\Ac[a-z0-9_-]{1,8}\Z"),
    st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,8}\Z"), segment),
    st.sampled_from(["audio", "video", "image", "document", "other", ".."]),
    st.one_of(
        st.builds(
            lambda s, e: f"{s}.{e}",
            st.text(min_size=1, max_size=10),
            st.sampled_from(["jpg", "png", "mp3", "mp4", "pdf", "exe", "txt", "bin"]),
        ),
        segment,
    ),
)
names = st.one_of(well_formed, st.text(max_size=40), st.lists(segment, max_size=6).map("/".join))
content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "image/jpeg",
            "image/png",
            "audio/mpeg",
            "video/mp4",
            "application/pdf",
            "application/octet-stream",
            "text/plain",
            "application/x-msdownload",
        ]
    ),
    st.text(max_size=20),
)
metadata = st.dictionaries(
    st.sampled_from(["record-id", "customer-id", "note", "x"]) | st.text(max_size=8),
    st.text(max_size=16),
    max_size=3,
)
content = st.builds(lambda h, t: h + t, st.sampled_from(HEADS), st.binary(max_size=40))
garbage = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=20),
    st.dictionaries(
        st.sampled_from(["bucket", "name", "generation", "size", "metadata"]),
        st.one_of(st.integers(), st.text(max_size=8), st.none(), st.lists(st.none())),
        max_size=5,
    ),
)


def test_random_events_end_as_row_or_dead_letter(stack: LocalStack) -> None:
    bucket_name = f"{stack.project}-uploads-property"
    bucket = stack.ensure_bucket(bucket_name)

    def call(event: Any) -> None:
        handle(event)

    handler = cloud_event_handler("uploads")(call)
    generations = itertools.count(10**15 + uuid.uuid4().int % 10**12)
    seen: list[str] = []

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        name=names,
        ctype=content_types,
        meta=metadata,
        body=content,
        size=st.one_of(st.none(), st.integers(0, 10**13)),
        upload=st.booleans(),
        kind=st.sampled_from([FINALIZED, FINALIZED, DELETED, "google.cloud.storage.object.v1.x"]),
        broken=st.one_of(st.none(), garbage),
    )
    def one(
        *,
        name: str,
        ctype: str | None,
        meta: dict[str, str],
        body: bytes,
        size: int | None,
        upload: bool,
        kind: str,
        broken: Any,
    ) -> None:
        resource: dict[str, Any] = {
            "bucket": bucket_name,
            "name": name,
            "generation": str(next(generations)),
            "metadata": meta,
            "timeCreated": "2026-01-02T03:04:05.000Z",
        }
        if ctype is not None:
            resource["contentType"] = ctype
        if size is not None:
            resource["size"] = str(size)
        if upload and name:
            try:
                blob = bucket.blob(name)
                blob.upload_from_string(body, content_type=ctype or None)
                blob.reload()
                resource = {**dict(blob._properties), "metadata": meta}
            except Exception:  # noqa: S110 - some random names are not valid object names
                pass
        event_id = uuid.uuid4().hex
        attributes = {
            "id": event_id,
            "type": kind,
            "specversion": "1.0",
            "source": f"//storage.googleapis.com/projects/_/buckets/{bucket_name}",
        }
        event = CloudEvent(attributes, broken if broken is not None else resource)
        handler(event)  # must not raise: the emulators are up, so nothing is transient
        seen.append(event_id)

    one()
    rows = stack.query(
        f"SELECT event_id FROM `{stack.project}.warehouse.media_files` "
        "WHERE event_id IN UNNEST(@ids)",
        {"ids": seen},
    )
    letters = stack.query(
        f"SELECT event_id FROM `{stack.project}.ops.dead_letters` "
        "WHERE function = 'uploads' AND event_id IN UNNEST(@ids)",
        {"ids": seen},
    )
    landed = {r["event_id"] for r in rows} | {d["event_id"] for d in letters}
    assert set(seen) <= landed, f"{len(set(seen) - landed)} events left no trace"
