"""The quotas' raw protobuf commits on the emulator: read back through the official client as
written, and the preconditions hold (a stale read or an existing document is a Conflict)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from google.api_core.exceptions import NotFound

from devstack.stack import LocalStack
from shared import clients
from shared.quotas import store, wire

pytestmark = pytest.mark.stack

T0 = datetime(2026, 11, 24, 23, 59, 30, 123456, tzinfo=UTC)


def test_raw_commits_read_back_and_keep_their_preconditions(stack: LocalStack) -> None:
    ref = clients.firestore().collection("wire_test").document(uuid.uuid4().hex)
    data = {"s": "ü", "i": 7, "b": True, "f": 0.5, "n": None, "t": T0, "m": {"a": [1, "x"]}}
    created = store.Plan()
    created.create(ref, data)
    store.commit(created)
    assert ref.get().to_dict() == data

    with pytest.raises(store.Conflict):
        store.commit(created)  # it exists now

    read = ref.get()
    update = store.Plan()
    update.write(ref, read, {"i": 8})
    committed = store.commit(update)
    assert ref.get().to_dict() == {**data, "i": 8}

    stale = store.Plan()
    stale.write(ref, read, {"i": 9})
    with pytest.raises(store.Conflict):
        store.commit(stale)

    # the commit's own update_time stands in for a read (what a lane keeps)
    kept = store.Plan()
    kept.write(ref, store.Kept(ref, {}, committed[ref.path]), {"i": 10})
    store.commit(kept)
    assert (ref.get().to_dict() or {})["i"] == 10

    # a set replaces the whole document; an update of a missing document fails
    store.commit_writes([wire.set_document(store.name_of(ref), {"only": 1})])
    assert ref.get().to_dict() == {"only": 1}
    missing = ref.parent.document(uuid.uuid4().hex)
    with pytest.raises(NotFound):
        store.commit_writes([wire.update_existing(store.name_of(missing), {"x": 1})])
    assert not missing.get().exists
