"""The one door to BigQuery: bound parameters, queries, DML, dry runs, error classification.

``from shared import bigquery`` then ``bigquery.query(sql, {"id": 1})``,
``bigquery.dml(sql, params)``, ``bigquery.dry_run_bytes(sql)``,
``bigquery.to_parameter(name, value)`` / ``bigquery.typed(None, "INT64")`` and
``bigquery.classify(exc)``. Row writes go through :mod:`shared.bigquery.writer` (Storage Write
API). Importing this package is cheap: the Google client libraries load on first use.
"""

from shared.bigquery.errors import classify, is_conflict, is_transient, reason_of
from shared.bigquery.jobs import DML_RETRY, dml, dry_run_bytes, execute, query, run_job
from shared.bigquery.params import Typed, parameter_type, to_parameter, to_parameters, typed

__all__ = [
    "DML_RETRY",
    "Typed",
    "classify",
    "dml",
    "dry_run_bytes",
    "execute",
    "is_conflict",
    "is_transient",
    "parameter_type",
    "query",
    "reason_of",
    "run_job",
    "to_parameter",
    "to_parameters",
    "typed",
]
