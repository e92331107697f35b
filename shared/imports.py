"""One lock for the first import of the BigQuery client libraries.

``google.cloud.bigquery`` imports ``google.cloud.bigquery_storage_v1`` on its way in. When a second
thread of a fresh instance imports ``google.cloud.bigquery_storage_v1`` at the same moment (the
Write API writer's first append), the two threads' per-module import locks form a cycle, which
importlib breaks by handing one thread a partially initialised module: ``AttributeError:
partially initialized module ... big_query_read``, a 500 on the instance's first requests (seen
by the refresh HTTP-boundary property test). Every lazy import of either library takes this lock;
once they are imported it costs one uncontended acquire.
"""

from __future__ import annotations

import threading

BIGQUERY_IMPORTS = threading.RLock()
