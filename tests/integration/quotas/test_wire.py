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

    # the commit's own update_time stands in for a read; a removed field is dropped
    name = store.name_of(ref)
    store.commit_writes([wire.update(name, {"i": 10}, committed[ref.path], ("n",))])
    assert ref.get().to_dict() == {**{k: v for k, v in data.items() if k != "n"}, "i": 10}

    # increments need no precondition; the write result gives each field's value after it
    counter = ref.parent.document(uuid.uuid4().hex)
    results = store.commit_writes([wire.increment(store.name_of(counter), {"a": 3, "b": -1})])
    assert [v.integer_value for v in results[0].transform_results] == [3, -1]
    results = store.commit_writes([wire.increment(store.name_of(counter), {"a": 2})])
    assert results[0].transform_results[0].integer_value == 5
    assert counter.get().to_dict() == {"a": 5, "b": -1}

    # a delete with the read's update time fails once the document changed
    read = ref.get()
    store.commit_writes([wire.update(name, {"i": 11}, read.update_time)])
    with pytest.raises(store.Conflict):
        store.commit_writes([wire.delete(name, read.update_time)])
    store.commit_writes([wire.delete(name, ref.get().update_time)])
    assert not ref.get().exists

    # a set replaces the whole document; an update of a missing document fails
    ref = ref.parent.document(uuid.uuid4().hex)
    store.commit_writes([wire.set_document(store.name_of(ref), {"only": 1})])
    assert ref.get().to_dict() == {"only": 1}
    missing = ref.parent.document(uuid.uuid4().hex)
    with pytest.raises(NotFound):
        store.commit_writes([wire.update_existing(store.name_of(missing), {"x": 1})])
    assert not missing.get().exists
