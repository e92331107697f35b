"""Write-only functions never import google-cloud-bigquery (cold start, issue 12 item 5).

A fresh interpreter imports the function's ``main.py`` and builds everything its write path
builds (settings, row codecs, the writer over the Write API client) without sending: the
BigQuery REST client library must not be among the loaded modules.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from devstack.stack import REPO

SNIPPET = """
import importlib.util, os, sys
os.environ.update({
    "PROJECT_ID": "demo-local", "APP_ENV": "local",
    "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:1", "BIGQUERY_WRITE_EMULATOR_HOST": "127.0.0.1:1",
    "PUBSUB_EMULATOR_HOST": "127.0.0.1:1", "STORAGE_EMULATOR_HOST": "http://127.0.0.1:1",
    "FIRESTORE_EMULATOR_HOST": "127.0.0.1:1",
})
spec = importlib.util.spec_from_file_location("main", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from shared import clients
from shared.bigquery.writer import table_writer
from shared.dead_letters import default_sink
for table in sys.argv[2:]:
    table_writer(table)
default_sink._table()
clients.bigquery_write()
rest = "google.cloud.bigquery"
print(sorted(m for m in sys.modules if m == rest or m.startswith(rest + ".")))
"""


@pytest.mark.parametrize(
    ("function", "tables"),
    [
        ("uploads", ["media_files"]),
        ("webhooks", ["integration_raw_data", "platform_events", "campaign_metrics"]),
    ],
)
def test_write_path_does_not_import_the_bigquery_client(function: str, tables: list[str]) -> None:
    main = REPO / "functions" / function / "main.py"
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET, str(main), *tables],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
