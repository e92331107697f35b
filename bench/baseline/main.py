"""Cold-start baseline: the same function, with functions-framework and all six Google client
libraries (BigQuery, BigQuery Storage Write, Storage, Pub/Sub, Secret Manager, KMS) imported
eagerly at start-up.

``BENCH_FUNCTION_MAIN`` names the function's ``main.py`` and ``BENCH_ENTRY_POINT`` its entry
point, re-exported here, so the baseline answers the same first event with the same work: the
only difference is what is imported before serving.
"""

import importlib.util
import os

import functions_framework
from google.cloud import bigquery, bigquery_storage_v1, kms, pubsub_v1, secretmanager, storage

LOADED = (
    functions_framework,
    bigquery,
    bigquery_storage_v1,
    kms,
    pubsub_v1,
    secretmanager,
    storage,
)

_spec = importlib.util.spec_from_file_location("function_main", os.environ["BENCH_FUNCTION_MAIN"])
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
globals()[os.environ["BENCH_ENTRY_POINT"]] = getattr(_module, os.environ["BENCH_ENTRY_POINT"])
