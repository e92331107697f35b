"""Every BigQuery statement of the refresh orchestrator, with bound parameters only.

Tables changed by DML (configs, checkpoints, leases, cut-overs) are only ever written by DML
here; ``refresh_runs`` is append-only and streamed (deduplicated at read by the
``refresh_runs_current`` view). Mutating DML is retried on serialization conflicts. Implements
:class:`shared.refresh.ports.Store`; table and view names come from the resource manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from shared import bigquery as bq
from shared.imports import BIGQUERY_IMPORTS
from shared.refresh.definitions import Definition
from shared.refresh.ports import (
    AuditRow,
    Override,
    Params,
    ParamValue,
    PriorAttempt,
    QueryStats,
    Row,
)
from shared.resources import manifest

if TYPE_CHECKING:
    from google.cloud import bigquery

    from shared.bigquery.writer import StorageWriter


def fq(project: str, name: str) -> str:
    """Fully qualified id of a manifest table or view (validated identifiers)."""
    return manifest().relation_id(project, name)


class Store:
    """BigQuery access for the orchestrator (client injected; default: shared.clients)."""

    def __init__(self, client: bigquery.Client, project: str) -> None:
        self.client = client
        self._project = project
        self._audit_writer: StorageWriter | None = None

    @property
    def project(self) -> str:
        return self._project

    # ------------------------------------------------------------------ queries
    def query(
        self,
        sql: str,
        params: Params | None = None,
        *,
        dry_run: bool = False,
        timeout_s: float | None = None,
    ) -> tuple[list[Row], QueryStats]:
        """Run one statement; returns (rows, what it cost and changed)."""
        with BIGQUERY_IMPORTS:
            from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=bq.to_parameters(params),
            dry_run=dry_run,
            use_query_cache=False,
        )
        job = self.client.query(sql, job_config=config)
        rows = [] if dry_run else [dict(row.items()) for row in job.result(timeout=timeout_s)]
        stats = QueryStats(
            bytes_processed=int(job.total_bytes_processed or 0),
            rows_affected=0 if dry_run else int(job.num_dml_affected_rows or 0),
        )
        return rows, stats

    def dml(self, sql: str, params: Params | None = None) -> int:
        """A mutating statement under the one DML policy (serialization conflicts retried)."""
        return bq.dml(sql, params, client=self.client)

    def t(self, name: str) -> str:
        return fq(self.project, name)

    def ensure_copy(self, source_table: str, copy_table: str) -> None:
        with BIGQUERY_IMPORTS:
            from google.cloud import bigquery

        live = self.client.get_table(source_table)
        self.client.create_table(bigquery.Table(copy_table, schema=live.schema), exists_ok=True)

    # ------------------------------------------------------------------ configs
    def sync_configs(self, definitions: Mapping[str, Definition]) -> None:
        """Upsert every definition into refresh_configs (one MERGE), create lease rows and
        sweep checkpoints and leases of tables no longer defined (retention).

        API overrides (``*_override``) are never touched by a sync.
        """
        if not definitions:
            return
        from shared.refresh.definitions import dependencies

        params: dict[str, ParamValue] = {"now": datetime.now(UTC)}
        selects = []
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
        names = {"names": sorted(definitions)}
        self.dml(
            f"""MERGE `{self.t("refresh_leases")}` T
USING (SELECT name FROM UNNEST(@names) AS name) S
ON T.table_name = S.name
WHEN NOT MATCHED THEN INSERT (table_name) VALUES (S.name)""",
            names,
        )
        self.sweep(sorted(definitions))

    def sweep(self, defined: Sequence[str]) -> int:
        """Delete checkpoints and idle leases of tables no definition has any more."""
        gone = self.dml(
            f"DELETE FROM `{self.t('refresh_checkpoints')}` WHERE table_name NOT IN UNNEST(@names)",
            {"names": list(defined)},
        )
        gone += self.dml(
            f"DELETE FROM `{self.t('refresh_leases')}` WHERE table_name NOT IN UNNEST(@names)"
            " AND (holder IS NULL OR expires_at < CURRENT_TIMESTAMP())",
            {"names": list(defined)},
        )
        return gone

    def configs(self) -> list[Row]:
        rows, _ = self.query(f"SELECT * FROM `{self.t('refresh_configs')}` ORDER BY table_name")
        return rows

    def overrides(self) -> dict[str, Override]:
        rows, _ = self.query(
            "SELECT table_name, enabled_override, priority_override, shadow_override"
            f" FROM `{self.t('refresh_configs')}`"
        )
        return {
            str(r["table_name"]): Override(
                enabled=_opt_bool(r.get("enabled_override")),
                priority=_opt_int(r.get("priority_override")),
                shadow=_opt_bool(r.get("shadow_override")),
            )
            for r in rows
        }

    def set_override(
        self,
        table: str,
        *,
        enabled: bool | None = None,
        priority: int | None = None,
        shadow: bool | None = None,
    ) -> int:
        """API change: enable/disable, reprioritise, cut over (NULL keeps that override)."""
        return self.dml(
            f"""UPDATE `{self.t("refresh_configs")}`
SET enabled_override = COALESCE(@enabled, enabled_override),
    priority_override = COALESCE(@priority, priority_override),
    shadow_override = COALESCE(@shadow, shadow_override),
    updated_at = @now
WHERE table_name = @table""",
            {
                "enabled": bq.typed(enabled, "BOOL"),
                "priority": bq.typed(priority, "INT64"),
                "shadow": bq.typed(shadow, "BOOL"),
                "now": datetime.now(UTC),
                "table": table,
            },
        )

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
    def audit(self, rows: Sequence[AuditRow]) -> None:
        """Append audit rows (Storage Write API); key = run/table/attempt/status, and the
        ``refresh_runs_current`` view deduplicates at read, so a retried append is harmless."""
        from shared.bigquery.writer import table_writer

        if self._audit_writer is None:
            self._audit_writer = table_writer("refresh_runs", max_wait_s=0.005)
        self._audit_writer.write([(r.insert_id(), r.to_json()) for r in rows])

    def run_rows(self, run_id: str) -> list[PriorAttempt]:
        rows, _ = self.query(
            f"SELECT table_name, attempt, status, partitions_to"
            f" FROM `{self.t('refresh_runs_current')}` WHERE run_id = @run_id",
            {"run_id": run_id},
        )
        return [
            PriorAttempt(
                table=str(r["table_name"]),
                attempt=_opt_int(r.get("attempt")) or 0,
                status=str(r["status"]),
                partitions_to=_opt_date(r.get("partitions_to")),
            )
            for r in rows
        ]


def _opt_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None
