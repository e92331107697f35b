"""Every BigQuery statement of the refresh orchestrator, with bound parameters only.

Tables changed by DML (configs, checkpoints, leases) are only ever written by DML here;
``refresh_runs`` is append-only and streamed (deduplicated at read by the
``refresh_runs_current`` view). Mutating DML is retried on serialization conflicts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared import bigquery as bq
from shared.refresh.definitions import Definition
from shared.resources import manifest, table_id


def fq(project: str, name: str) -> str:
    """Fully qualified id of a manifest table (validated identifiers)."""
    return table_id(project, manifest().table(name)["dataset"], name)


class Store:
    """BigQuery access for the orchestrator (client injected; default: shared.clients)."""

    def __init__(self, client: Any, project: str) -> None:
        self.client = client
        self.project = project
        self._audit_writer: Any = None

    # ------------------------------------------------------------------ queries
    def query(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = False,
        timeout_s: float | None = None,
    ) -> tuple[list[dict[str, Any]], Any]:
        """Run one statement; returns (rows, job)."""
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=bq.to_parameters(params),
            dry_run=dry_run,
            use_query_cache=False,
        )
        job = self.client.query(sql, job_config=config)
        if dry_run:
            return [], job
        rows = [dict(row.items()) for row in job.result(timeout=timeout_s)]
        return rows, job

    def dml(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """A mutating statement under the one DML policy (serialization conflicts retried)."""
        return bq.dml(sql, params, client=self.client)

    def t(self, name: str) -> str:
        return fq(self.project, name)

    # ------------------------------------------------------------------ configs
    def sync_configs(self, definitions: Mapping[str, Definition]) -> None:
        """Upsert every definition into refresh_configs (one MERGE) and create lease rows.

        API overrides (``*_override``) are never touched by a sync.
        """
        if not definitions:
            return
        params: dict[str, Any] = {"now": datetime.now(UTC)}
        selects = []
        from shared.refresh.definitions import dependencies

        deps = dependencies(dict(definitions))
        for i, d in enumerate(sorted(definitions.values(), key=lambda x: x.name)):
            params.update(
                {
                    f"n{i}": d.name,
                    f"ds{i}": d.dataset,
                    f"m{i}": d.mode,
                    f"p{i}": d.priority,
                    f"e{i}": d.enabled,
                    f"s{i}": d.schedule,
                    f"dep{i}": sorted(deps[d.name]),
                    f"def{i}": json.dumps(d.settings(), sort_keys=True),
                    f"h{i}": hashlib.sha256(d.sql.encode()).hexdigest(),
                }
            )
            selects.append(
                f"SELECT @n{i} AS table_name, @ds{i} AS dataset, @m{i} AS mode, @p{i} AS priority,"
                f" @e{i} AS enabled, @s{i} AS schedule, @dep{i} AS depends_on,"
                f" @def{i} AS definition, @h{i} AS sql_sha256"
            )
        source = "\nUNION ALL\n".join(selects)
        self.dml(
            f"""MERGE `{self.t("refresh_configs")}` T
USING ({source}) S
ON T.table_name = S.table_name
WHEN MATCHED THEN UPDATE SET dataset = S.dataset, mode = S.mode, priority = S.priority,
  enabled = S.enabled, schedule = S.schedule, depends_on = S.depends_on,
  definition = S.definition, sql_sha256 = S.sql_sha256, synced_at = @now
WHEN NOT MATCHED THEN INSERT (table_name, dataset, mode, priority, enabled, schedule,
  depends_on, definition, sql_sha256, synced_at, updated_at)
  VALUES (S.table_name, S.dataset, S.mode, S.priority, S.enabled, S.schedule, S.depends_on,
  S.definition, S.sql_sha256, @now, @now)""",
            params,
        )
        self.dml(
            f"""MERGE `{self.t("refresh_leases")}` T
USING (SELECT name FROM UNNEST(@names) AS name) S
ON T.table_name = S.name
WHEN NOT MATCHED THEN INSERT (table_name) VALUES (S.name)""",
            {"names": sorted(definitions)},
        )

    def configs(self) -> list[dict[str, Any]]:
        rows, _ = self.query(f"SELECT * FROM `{self.t('refresh_configs')}` ORDER BY table_name")
        return rows

    def set_override(self, table: str, *, enabled: bool | None, priority: int | None) -> int:
        """API change: enable/disable or reprioritise (NULL keeps the other override)."""
        return self.dml(
            f"""UPDATE `{self.t("refresh_configs")}`
SET enabled_override = COALESCE(@enabled, enabled_override),
    priority_override = COALESCE(@priority, priority_override),
    updated_at = @now
WHERE table_name = @table""",
            self._override_params(table, enabled, priority),
        )

    def _override_params(
        self, table: str, enabled: bool | None, priority: int | None
    ) -> dict[str, Any]:
        # NULL parameters need an explicit type
        return {
            "enabled": bq.typed(enabled, "BOOL"),
            "priority": bq.typed(priority, "INT64"),
            "now": datetime.now(UTC),
            "table": table,
        }

    # ------------------------------------------------------------------ leases
    def acquire_lease(self, table: str, holder: str, run_id: str, ttl_s: int) -> bool:
        """One conditional UPDATE: take the lease only if it is free or expired."""
        now = datetime.now(UTC)
        affected = self.dml(
            f"""UPDATE `{self.t("refresh_leases")}`
SET holder = @holder, run_id = @run_id, acquired_at = @now, expires_at = @expires
WHERE table_name = @table
  AND (holder IS NULL OR holder = @holder OR expires_at < CURRENT_TIMESTAMP())""",
            {
                "holder": holder,
                "run_id": run_id,
                "now": now,
                "expires": now + timedelta(seconds=ttl_s),
                "table": table,
            },
        )
        return affected == 1

    def release_lease(self, table: str, holder: str) -> None:
        self.dml(
            f"""UPDATE `{self.t("refresh_leases")}`
SET holder = NULL, expires_at = NULL
WHERE table_name = @table AND holder = @holder""",
            {"table": table, "holder": holder},
        )

    def lease_holder(self, table: str) -> str | None:
        rows, _ = self.query(
            f"SELECT run_id FROM `{self.t('refresh_leases')}` WHERE table_name = @table"
            " AND holder IS NOT NULL AND expires_at >= CURRENT_TIMESTAMP()",
            {"table": table},
        )
        return str(rows[0]["run_id"]) if rows else None

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, table: str) -> date | None:
        rows, _ = self.query(
            f"SELECT partition_through FROM `{self.t('refresh_checkpoints')}`"
            " WHERE table_name = @table",
            {"table": table},
        )
        value = rows[0]["partition_through"] if rows else None
        return value if isinstance(value, date) else None

    def set_checkpoint(self, table: str, through: date, run_id: str) -> None:
        self.dml(
            f"""MERGE `{self.t("refresh_checkpoints")}` T
USING (SELECT @table AS table_name) S ON T.table_name = S.table_name
WHEN MATCHED THEN UPDATE SET partition_through = @through, run_id = @run_id, updated_at = @now
WHEN NOT MATCHED THEN INSERT (table_name, partition_through, run_id, updated_at)
  VALUES (@table, @through, @run_id, @now)""",
            {"table": table, "through": through, "run_id": run_id, "now": datetime.now(UTC)},
        )

    # ------------------------------------------------------------------ audit
    def audit(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append audit rows (Storage Write API); key = run/table/attempt/status, and the
        ``refresh_runs_current`` view deduplicates at read, so a retried append is harmless."""
        from shared.bigquery.writer import table_writer

        if self._audit_writer is None:
            self._audit_writer = table_writer("refresh_runs", max_wait_s=0.005)
        keyed = [
            (f"{r['run_id']}/{r['table_name']}/{r['attempt']}/{r['status']}", _jsonable(r))
            for r in rows
        ]
        self._audit_writer.write(keyed)

    def run_rows(self, run_id: str) -> list[dict[str, Any]]:
        rows, _ = self.query(
            f"SELECT * FROM `{self.project}.ops.refresh_runs_current` WHERE run_id = @run_id"
            " ORDER BY started_at, attempt",
            {"run_id": run_id},
        )
        return rows


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime | date):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out
