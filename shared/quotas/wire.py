"""The quotas' commits, and the outbox's query, as raw protobuf through the Firestore GAPIC client.

An admission's commit is the hot path of every quota call. Built with the high-level
``WriteBatch``, each field value becomes a proto-plus message and each write goes through the
library's field-path parsing; with 64 callers in one instance that encoding kept the
instance's Python at a full core. The same ``Commit`` request built here from the protobuf
classes (``Message.pb()``) cost a quarter less of the caller's CPU (0.50 -> 0.37 s per 1,024
admissions) and took the 64-caller p95 from 79 to 53 ms, side by side (docs/quotas.md, run 8).
Reads of a customer's state stay on the high-level client. The outbox drain's query is built
here too (:func:`due_query`): read through the high-level client, its ~420 documents per 1,024
admissions cost 50 ms of the instance's CPU to decode, against 9 ms as raw protobuf with only
the fields the drain reads (docs/quotas.md, run 12).

Only the value types the quotas' documents hold are encoded (None, bool, int, float, str,
datetime, and maps and lists of them); anything else is a programming error and raises
TypeError before any write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.types import common, document, query, write
from google.protobuf import timestamp_pb2

_Value = document.Value.pb()
_Map = document.MapValue.pb()
_Array = document.ArrayValue.pb()
_Document = document.Document.pb()
_Write = write.Write.pb()
_Transform = write.DocumentTransform.FieldTransform.pb()
_Mask = common.DocumentMask.pb()
_Precondition = common.Precondition.pb()
_Query = query.StructuredQuery.pb()
# timestamp_pb2 is generated code without type information for mypy
Timestamp: Any = timestamp_pb2.Timestamp  # type: ignore[attr-defined]


def timestamp(value: Any) -> Any:
    """A protobuf Timestamp of a commit's ``update_time`` (kept as it came) or a datetime
    (a snapshot's ``DatetimeWithNanoseconds`` keeps its nanoseconds)."""
    if isinstance(value, Timestamp):
        return value
    to_pb = getattr(value, "timestamp_pb", None)
    if to_pb is not None:
        return to_pb()
    if isinstance(value, datetime):
        pb = Timestamp()
        pb.FromDatetime(value)
        return pb
    raise TypeError(f"not a timestamp: {type(value).__name__}")


def value(v: Any) -> Any:  # noqa: PLR0911 - one return per type
    """One Firestore ``Value`` (bool before int: a bool is an int in Python)."""
    if v is None:
        return _Value(null_value=0)
    if isinstance(v, bool):
        return _Value(boolean_value=v)
    if isinstance(v, int):
        return _Value(integer_value=v)
    if isinstance(v, float):
        return _Value(double_value=v)
    if isinstance(v, str):
        return _Value(string_value=v)
    if isinstance(v, datetime):
        return _Value(timestamp_value=timestamp(v))
    if isinstance(v, Mapping):
        return _Value(map_value=_Map(fields={str(k): value(x) for k, x in v.items()}))
    if isinstance(v, list | tuple):
        return _Value(array_value=_Array(values=[value(x) for x in v]))
    raise TypeError(f"no Firestore encoding here for {type(v).__name__}")


def _document(name: str, fields: Mapping[str, Any]) -> Any:
    return _Document(name=name, fields={key: value(v) for key, v in fields.items()})


def update(
    name: str, fields: Mapping[str, Any], last_update_time: Any, remove: Sequence[str] = ()
) -> Any:
    """Set ``fields`` (top-level names only) of document ``name``, and drop the ``remove``
    fields, if it is still as read."""
    return _Write(
        update=_document(name, fields),
        update_mask=_Mask(field_paths=[*fields, *remove]),
        current_document=_Precondition(update_time=timestamp(last_update_time)),
    )


def increment(
    name: str, amounts: Mapping[str, int], fields: Mapping[str, Any] | None = None
) -> Any:
    """Add ``amounts`` to the integer fields of document ``name`` (created if missing), and set
    ``fields``, with no precondition: the server applies concurrent increments one after the
    other, and the commit's write result gives each field's value after this one
    (``transform_results``, in the order of ``amounts``)."""
    fields = fields or {}
    return _Write(
        update=_document(name, fields),
        update_mask=_Mask(field_paths=list(fields)),
        update_transforms=[
            _Transform(field_path=field, increment=value(amount))
            for field, amount in amounts.items()
        ],
    )


def create(name: str, data: Mapping[str, Any]) -> Any:
    """Create document ``name`` with ``data``; the commit fails if it exists."""
    return _Write(update=_document(name, data), current_document=_Precondition(exists=False))


def set_document(name: str, data: Mapping[str, Any]) -> Any:
    """Write document ``name`` whole, whether or not it exists (``set`` without merge)."""
    return _Write(update=_document(name, data))


def update_existing(name: str, fields: Mapping[str, Any]) -> Any:
    """Set ``fields`` of document ``name``; the commit fails (not found) if it is missing."""
    return _Write(
        update=_document(name, fields),
        update_mask=_Mask(field_paths=list(fields)),
        current_document=_Precondition(exists=True),
    )


def delete(name: str, last_update_time: Any = None) -> Any:
    """Delete document ``name`` (deleting a missing document succeeds), or only if it is still
    as read when ``last_update_time`` is given."""
    if last_update_time is None:
        return _Write(delete=name)
    return _Write(
        delete=name, current_document=_Precondition(update_time=timestamp(last_update_time))
    )


def due_query(
    collection_id: str, field: str, due_by: datetime, select: Sequence[str], limit: int
) -> Any:
    """The documents of top-level collection ``collection_id`` whose ``field`` is at most
    ``due_by``, with only the ``select`` fields (a missing one is left out), at most ``limit``."""
    sq = _Query(
        select=_Query.Projection(fields=[_Query.FieldReference(field_path=f) for f in select]),
        where=_Query.Filter(
            field_filter=_Query.FieldFilter(
                field=_Query.FieldReference(field_path=field),
                op=_Query.FieldFilter.Operator.LESS_THAN_OR_EQUAL,
                value=value(due_by),
            )
        ),
        limit={"value": limit},
    )
    sq.from_.add(collection_id=collection_id)
    return sq
