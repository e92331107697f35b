"""Protobuf descriptors built at run time from BigQuery JSON schemas, and rows encoded to them.

The Storage Write API takes rows as serialized protocol buffers described by a
``DescriptorProto`` sent with the first request of a stream. Our manifest already holds every
table's JSON schema, so there is no ``.proto`` file and no compile step: :func:`row_codec`
turns a schema into a message class once per table and process, and :meth:`RowCodec.encode`
turns the same dict rows the product always built into bytes.

Type mapping (what BigQuery accepts for each column type):

===========================  =======================  ===========================================
BigQuery type                proto field              Python values accepted
===========================  =======================  ===========================================
STRING                       string                   str (int/float/Decimal as their text)
JSON                         string (JSON text)       str holding JSON text, or any JSON value
INT64 / INTEGER              int64                    int, decimal str
FLOAT64 / FLOAT              double                   float, int, numeric str
NUMERIC / BIGNUMERIC         string                   Decimal, int, float, numeric str
BOOL / BOOLEAN               bool                     bool, "true"/"false"
BYTES                        bytes                    bytes, base64 str (insertAll's convention)
TIMESTAMP                    int64 (µs since epoch)   datetime (naive = UTC), ISO-8601 str,
                                                      int/float epoch seconds
DATE                         int32 (days since epoch) date, ISO date str
DATETIME / TIME / GEOGRAPHY  string                   str (datetime/time as ISO text)
RECORD / STRUCT              nested message           dict
mode REPEATED                repeated field           list (None = empty)
===========================  =======================  ===========================================

A value that does not fit (or an unknown column, or a missing REQUIRED one) raises
:class:`RowEncodingError` for that row alone, before anything is sent: the writer dead-letters
it and still writes its neighbours. Fields are proto2 ``optional`` so NULL is "not set".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from shared.errors import PipelineError
from shared.once import OncePerKey

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DATE = dt.date(1970, 1, 1)
# descriptor_pb2 is generated code without type information for mypy
_FD: Any = descriptor_pb2.FieldDescriptorProto  # type: ignore[attr-defined]
_FILE: Any = descriptor_pb2.FileDescriptorProto  # type: ignore[attr-defined]
_PROTO_TYPES = {
    "STRING": _FD.TYPE_STRING,
    "JSON": _FD.TYPE_STRING,
    "NUMERIC": _FD.TYPE_STRING,
    "BIGNUMERIC": _FD.TYPE_STRING,
    "DATETIME": _FD.TYPE_STRING,
    "TIME": _FD.TYPE_STRING,
    "GEOGRAPHY": _FD.TYPE_STRING,
    "INT64": _FD.TYPE_INT64,
    "INTEGER": _FD.TYPE_INT64,
    "TIMESTAMP": _FD.TYPE_INT64,
    "DATE": _FD.TYPE_INT32,
    "FLOAT64": _FD.TYPE_DOUBLE,
    "FLOAT": _FD.TYPE_DOUBLE,
    "BOOL": _FD.TYPE_BOOL,
    "BOOLEAN": _FD.TYPE_BOOL,
    "BYTES": _FD.TYPE_BYTES,
    "RECORD": _FD.TYPE_MESSAGE,
    "STRUCT": _FD.TYPE_MESSAGE,
}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class RowEncodingError(PipelineError, ValueError):
    """One row cannot be encoded for its table (wrong type, unknown or missing column)."""


# ----------------------------------------------------------------------------- descriptors
def _type_name(parent: str, column: str) -> str:
    return f"{parent}_{column}".title().replace("_", "")


def _add_message(
    container: Any, name: str, fields: Sequence[Mapping[str, Any]], *, path: str
) -> None:
    msg = container.add()
    msg.name = name
    for number, field in enumerate(fields, start=1):
        column = str(field["name"])
        kind = str(field.get("type", "STRING")).upper()
        if not _NAME_RE.fullmatch(column):
            raise ValueError(f"{path}.{column}: not a protobuf-compatible column name")
        if kind not in _PROTO_TYPES:
            raise ValueError(f"{path}.{column}: unsupported BigQuery type {kind}")
        proto_field = msg.field.add()
        proto_field.name = column
        proto_field.number = number
        proto_field.type = _PROTO_TYPES[kind]
        repeated = str(field.get("mode", "NULLABLE")).upper() == "REPEATED"
        proto_field.label = _FD.LABEL_REPEATED if repeated else _FD.LABEL_OPTIONAL
        if proto_field.type == _FD.TYPE_MESSAGE:
            nested = _type_name(name, column)
            nested_fields = field.get("fields") or []
            _add_message(msg.nested_type, nested, nested_fields, path=f"{path}.{column}")
            proto_field.type_name = nested


def descriptor_for(schema: Sequence[Mapping[str, Any]], name: str = "Row") -> Any:
    """The ``DescriptorProto`` of a BigQuery JSON schema (self-contained: nested types inside)."""
    file_proto = _FILE()
    _add_message(file_proto.message_type, name, schema, path=name)
    return file_proto.message_type[0]


def message_class(schema: Sequence[Mapping[str, Any]], name: str = "Row") -> type[message.Message]:
    """A protobuf message class for ``schema`` (its own descriptor pool, so names never clash)."""
    descriptor = descriptor_for(schema, name)
    digest = hashlib.sha256(descriptor.SerializeToString()).hexdigest()[:16]
    file_proto = _FILE(name=f"bq_{digest}.proto", package=f"bq_{digest}", syntax="proto2")
    file_proto.message_type.add().CopyFrom(descriptor)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    cls: type[message.Message] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"bq_{digest}.{name}")
    )
    return cls


# ----------------------------------------------------------------------------- values
# BigQuery's TIMESTAMP range, 0001-01-01 00:00:00 to 9999-12-31 23:59:59.999999 UTC. A value
# outside it must never reach the stream: the local BigQuery ends the whole stream on it.
_MIN_MICROS = -62_135_596_800_000_000
_MAX_MICROS = 253_402_300_799_999_999


def timestamp_micros(value: Any) -> int:
    micros = _micros(value)
    if not _MIN_MICROS <= micros <= _MAX_MICROS:
        raise RowEncodingError(f"{value!r} is outside BigQuery's TIMESTAMP range")
    return micros


def _micros(value: Any) -> int:
    if isinstance(value, bool):
        raise RowEncodingError(f"boolean {value!r} is not a TIMESTAMP")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise RowEncodingError(f"{value!r} is not a TIMESTAMP")
        return round(value * 1_000_000)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace(" UTC", "+00:00"))
        except ValueError as exc:
            raise RowEncodingError(f"{value!r} is not an ISO-8601 TIMESTAMP") from exc
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        delta = aware - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise RowEncodingError(f"{type(value).__name__} is not a TIMESTAMP")


def date_days(value: Any) -> int:
    if isinstance(value, dt.datetime):
        raise RowEncodingError(f"datetime {value!r} is not a DATE")
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise RowEncodingError(f"{value!r} is not an ISO DATE") from exc
    if isinstance(value, dt.date):
        return (value - _EPOCH_DATE).days
    raise RowEncodingError(f"{type(value).__name__} is not a DATE")


def _int64(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RowEncodingError(f"{value!r} is not an INT64")
    try:
        number = int(value)
    except ValueError as exc:
        raise RowEncodingError(f"{value!r} is not an INT64") from exc
    if not -(2**63) <= number < 2**63:
        raise RowEncodingError(f"{value!r} is out of INT64 range")
    return number


def _float64(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str | decimal.Decimal):
        raise RowEncodingError(f"{value!r} is not a FLOAT64")
    try:
        return float(value)
    except ValueError as exc:
        raise RowEncodingError(f"{value!r} is not a FLOAT64") from exc


def _numeric(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str | decimal.Decimal):
        raise RowEncodingError(f"{value!r} is not a NUMERIC")
    try:
        number = decimal.Decimal(str(value).strip())
    except decimal.InvalidOperation as exc:
        raise RowEncodingError(f"{value!r} is not a NUMERIC") from exc
    if not number.is_finite():
        raise RowEncodingError(f"{value!r} is not a finite NUMERIC")
    return str(number)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise RowEncodingError(f"{value!r} is not a BOOL")


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise RowEncodingError("BYTES given as text must be base64") from exc
    raise RowEncodingError(f"{type(value).__name__} is not BYTES")


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        return str(value)
    raise RowEncodingError(f"{type(value).__name__} is not a STRING")


def _json(value: Any) -> str:
    # JSON text is validated here: invalid JSON in a JSON column makes the Write API end the
    # whole stream (every request in flight fails), so it must never reach the server.
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError as exc:
            raise RowEncodingError(f"invalid JSON text: {exc}") from exc
        return value
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RowEncodingError(f"value is not JSON-serializable: {exc}") from exc


def _civil(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.time | dt.date):
        return value.isoformat()
    return _string(value)


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "STRING": _string,
    "GEOGRAPHY": _string,
    "JSON": _json,
    "NUMERIC": _numeric,
    "BIGNUMERIC": _numeric,
    "DATETIME": _civil,
    "TIME": _civil,
    "INT64": _int64,
    "INTEGER": _int64,
    "TIMESTAMP": timestamp_micros,
    "DATE": date_days,
    "FLOAT64": _float64,
    "FLOAT": _float64,
    "BOOL": _bool,
    "BOOLEAN": _bool,
    "BYTES": _bytes,
}


# ----------------------------------------------------------------------------- codec
@dataclass(frozen=True)
class _Column:
    name: str
    kind: str
    mode: str
    fields: tuple[_Column, ...]


def _columns(schema: Sequence[Mapping[str, Any]]) -> tuple[_Column, ...]:
    return tuple(
        _Column(
            name=str(f["name"]),
            kind=str(f.get("type", "STRING")).upper(),
            mode=str(f.get("mode", "NULLABLE")).upper(),
            fields=_columns(f.get("fields") or []),
        )
        for f in schema
    )


def _fill(target: Any, row: Mapping[str, Any], columns: tuple[_Column, ...], path: str) -> None:
    if not isinstance(row, Mapping):
        raise RowEncodingError(f"{path or 'row'}: expected an object, got {type(row).__name__}")
    known = {c.name for c in columns}
    unknown = [k for k in row if k not in known]
    if unknown:
        raise RowEncodingError(f"{path or 'row'}: no such field: {', '.join(map(str, unknown))}")
    for column in columns:
        where = f"{path}.{column.name}" if path else column.name
        value = row.get(column.name)
        if value is None:
            if column.mode == "REQUIRED":
                raise RowEncodingError(f"{where}: missing required field")
            continue
        try:
            _set(target, column, value, where)
        except RowEncodingError as exc:
            text = str(exc)
            raise RowEncodingError(text if text.startswith(where) else f"{where}: {text}") from exc
        except (TypeError, ValueError, OverflowError) as exc:  # protobuf range/type checks
            raise RowEncodingError(f"{where}: {exc}") from exc


def _set(target: Any, column: _Column, value: Any, where: str) -> None:
    if column.mode != "REPEATED":
        if column.fields:
            _fill(getattr(target, column.name), value, column.fields, where)
        else:
            setattr(target, column.name, _SCALARS[column.kind](value))
        return
    if not isinstance(value, list | tuple):
        raise RowEncodingError(f"expected a list, got {type(value).__name__}")
    repeated = getattr(target, column.name)
    if column.fields:
        for i, item in enumerate(value):
            _fill(repeated.add(), item, column.fields, f"{where}[{i}]")
    else:
        convert = _SCALARS[column.kind]
        repeated.extend(convert(v) for v in value if v is not None)


class RowCodec:
    """Descriptor and encoder of one table's rows."""

    def __init__(self, schema: Sequence[Mapping[str, Any]], name: str = "Row") -> None:
        self.columns = _columns(schema)
        self.message_class = message_class(schema, name)
        self.descriptor = descriptor_for(schema, name)

    def encode(self, row: Mapping[str, Any]) -> bytes:
        """The serialized row; raises RowEncodingError naming the offending column."""
        msg = self.message_class()
        _fill(msg, row, self.columns, "")
        return bytes(msg.SerializeToString())

    def decode(self, data: bytes) -> dict[str, Any]:
        """The row's fields as protobuf sees them (tests, debugging)."""
        from google.protobuf import json_format

        msg = self.message_class()
        msg.ParseFromString(data)
        return dict(json_format.MessageToDict(msg, preserving_proto_field_name=True))


_codecs: OncePerKey[str, RowCodec] = OncePerKey()


def row_codec(table: str) -> RowCodec:
    """The codec of a manifest table (built once per process)."""

    def make() -> RowCodec:
        from shared.resources import manifest

        return RowCodec(manifest().table_schema(table))

    return _codecs.get(table, make)
