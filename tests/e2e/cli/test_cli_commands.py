"""Every ``plumb`` command on the emulators: customers, keys (both APIs), quotas, refresh,
uploads backfill, webhooks replay, plus exit codes and errors for bad arguments."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from devstack.stack import REPO, LocalStack
from tests.e2e.cli.helpers import plumb, plumb_json

pytestmark = pytest.mark.stack
PLUMB = REPO / ".venv" / "bin" / "plumb"


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def test_customers_create_list_suspend(stack: LocalStack) -> None:
    cid = f"cli-cust-{_tag()}"
    created = plumb_json("customers", "create", cid, "--plan", "starter", "--name", "CLI Co")
    assert created == {
        "customer_id": cid,
        "plan": "STARTER",
        "status": "ACTIVE",
        "action": "created",
    }
    again = plumb_json("customers", "create", cid, "--plan", "PROFESSIONAL")
    assert again["action"] == "updated"
    listed = {c["customer_id"]: c for c in plumb_json("customers", "list")["customers"]}
    assert listed[cid]["plan"] == "PROFESSIONAL"
    assert listed[cid]["daily_limit"] == 25
    assert plumb_json("customers", "suspend", cid)["status"] == "SUSPENDED"
    suspended = plumb_json("customers", "list", "--status", "suspended")["customers"]
    assert cid in {c["customer_id"] for c in suspended}
    text = plumb("customers", "list").output
    assert cid in text and "SUSPENDED" in text
    missing = plumb("customers", "suspend", f"nobody-{_tag()}", ok=False)
    assert missing.exit_code == 1 and "no customer" in missing.output


def _authenticates(key: str, scope: str = "runs") -> bool:
    from shared import api_keys

    try:
        api_keys.authenticate({"Authorization": f"Bearer {key}"}, scope)
    except api_keys.ApiKeyError:
        return False
    return True


def test_quota_keys_and_admission_through_the_http_api(stack: LocalStack) -> None:
    cid = f"cli-keys-{_tag()}"
    plumb("customers", "create", cid, "--plan", "STARTER", "--daily-limit", "2")
    created = plumb_json("keys", "create", "--api", "quota", "--customer", cid, "--name", "ci")
    key = created["key"]
    assert _authenticates(key)
    listed = plumb_json("keys", "list", "--api", "quota", "--customer", cid)["keys"]
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert key not in json.dumps(listed) and "hash" not in json.dumps(listed)
    # the key the CLI printed admits runs through the real admission API, up to the limit
    url = stack.function_url("quota-api")
    codes = [
        requests.post(
            f"{url}/runs/start",
            json={"pipeline": "p", "run_id": f"{cid}-{i}"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        ).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]
    usage = plumb_json("quotas", "usage", "--customer", cid)["usage"]
    assert usage[0]["pipelines_run"] == 2 and usage[0]["daily_limit"] == 2
    assert usage[0]["running"] == 2
    # rotate: the new key works at once, the old one no longer
    rotated = plumb_json("keys", "rotate", created["key_id"])
    assert rotated["replaces"] == created["key_id"]
    assert _authenticates(rotated["key"])
    assert not _authenticates(key)
    assert plumb_json("keys", "revoke", rotated["key_id"])["active"] is False
    assert not _authenticates(rotated["key"])
    twice = plumb("keys", "revoke", rotated["key_id"], ok=False)
    assert twice.exit_code == 1 and "already inactive" in twice.output


def test_quotas_admit_until_refused(stack: LocalStack) -> None:
    cid = f"cli-admit-{_tag()}"
    plumb("customers", "create", cid, "--plan", "STARTER", "--daily-limit", "1")
    first = plumb_json("quotas", "admit", cid, "--pipeline", "etl", "--finish", "COMPLETED")
    assert first["admitted"] is True and first["finished"] is True
    refused = plumb("--json", "quotas", "admit", cid, "--pipeline", "etl", ok=False)
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["reason"] == "daily_limit_reached"
    usage = plumb_json("quotas", "usage", "--customer", cid)["usage"][0]
    assert usage["pipelines_run"] == 1 and usage["running"] == 0


def test_refresh_keys_open_the_refresh_api_until_revoked(stack: LocalStack) -> None:
    created = plumb_json("keys", "create", "--api", "refresh", "--role", "viewer", "--name", "ci")
    url = stack.function_url("refresh-api")
    headers = {"X-API-Key": created["key"]}
    assert requests.get(f"{url}/status", headers=headers, timeout=60).status_code == 200
    # a viewer may not trigger
    assert requests.post(f"{url}/trigger", headers=headers, json={}, timeout=60).status_code == 403
    listed = plumb_json("keys", "list", "--api", "refresh")["keys"]
    assert created["key_id"] in {k["key_id"] for k in listed}
    plumb("keys", "revoke", created["key_id"])
    assert requests.get(f"{url}/status", headers=headers, timeout=60).status_code == 401


@pytest.mark.usefixtures("refresh_retries_purged")
def test_refresh_trigger_wait_status_history(stack: LocalStack) -> None:
    from shared.refresh import seed

    seed.load(stack.bigquery(), stack.project, datetime.now(UTC).date(), days=3)
    run_id = f"cli-run-{_tag()}"
    result = plumb_json(
        "refresh",
        "trigger",
        "--table",
        "platform_events_daily",
        "--run-id",
        run_id,
        "--wait",
        "--timeout",
        "240",
    )
    assert result["run_id"] == run_id and result["ok"] is True
    assert result["tables"] == {"platform_events_daily": "success"}
    history = plumb_json("refresh", "history", "--run-id", run_id)["runs"]
    assert {r["table_name"] for r in history} == {"platform_events_daily"}
    assert history[0]["status"] == "success"
    status = {t["table_name"]: t for t in plumb_json("refresh", "status")["tables"]}
    assert status["platform_events_daily"]["last_status"] == "success"
    unknown = plumb("refresh", "trigger", "--table", "no_such_table", ok=False)
    assert unknown.exit_code == 2 and "unknown tables" in unknown.output


def test_uploads_backfill_dry_run_then_write_and_verify(stack: LocalStack) -> None:
    bucket = f"cli-backfill-{_tag()}"
    stack.storage().create_bucket(bucket)
    for i in range(3):
        stack.storage().bucket(bucket).blob(
            f"cust-1/rec-{i}/documents/f{i}.pdf"
        ).upload_from_string(b"%PDF-1.4 test", content_type="application/pdf")
    dry = plumb_json("uploads", "backfill", "--bucket", bucket, "--dry-run")
    assert dry["objects"] == 3 and dry["ok"] is True
    assert (
        stack.query(
            "SELECT COUNT(*) AS n FROM `demo-local.warehouse.media_files` WHERE bucket = @b",
            {"b": bucket},
        )[0]["n"]
        == 0
    )
    done = plumb_json("uploads", "backfill", "--bucket", bucket, "--batch", "2")
    assert done["ok"] is True
    assert any("OK" in line for line in done["report"])
    assert done["checkpoint"] == "cust-1/rec-2/documents/f2.pdf"
    # resuming after the first object lists and verifies only the two after it
    resumed = plumb_json(
        "uploads", "backfill", "--bucket", bucket, "--resume-after", "cust-1/rec-0/documents/f0.pdf"
    )
    assert resumed["objects"] == 2 and resumed["ok"] is True
    assert any("2 live objects, 2 rows" in line for line in resumed["report"])
    # running it again from the start changes nothing
    assert plumb_json("uploads", "backfill", "--bucket", bucket)["ok"] is True
    current = stack.query(
        "SELECT COUNT(*) AS n FROM `demo-local.warehouse.media_files_current` WHERE bucket = @b",
        {"b": bucket},
    )
    assert current[0]["n"] == 3


def test_webhooks_replay_dry_run_then_once(stack: LocalStack) -> None:
    from shared.webhooks import replay

    run = _tag()
    body = json.dumps({"id": f"evt_cli_{run}", "type": "charge.succeeded"}).encode()
    stack.publish("webhook-events", body, source="payments", event_type="bad type!")

    def letter() -> list[str]:
        return [
            str(r["dead_letter_id"])
            for r in replay.find(source="payments")
            if run.encode() in replay._payload(r["payload"])
        ]

    ids = stack.wait_until(letter, timeout=60, what="dead letter")
    dry = plumb_json("webhooks", "replay", "--id", ids[0], "--dry-run")
    assert dry["would_replay"] == 1
    assert plumb_json("webhooks", "replay", "--id", ids[0])["replayed"] == 1
    assert plumb_json("webhooks", "replay", "--id", ids[0])["replayed"] == 0
    nothing = plumb("webhooks", "replay", ok=False)
    assert nothing.exit_code == 2 and "choose letters" in nothing.output


def test_bad_arguments_and_project_mismatch(stack: LocalStack) -> None:
    bad_plan = plumb("customers", "create", "x-1", "--plan", "GOLD", ok=False)
    assert bad_plan.exit_code == 2 and "GOLD" in bad_plan.output
    no_customer = plumb("keys", "create", "--api", "quota", ok=False)
    assert no_customer.exit_code == 2 and "--customer is required" in no_customer.output
    bad_id = plumb("customers", "create", "bad id!", "--plan", "STARTER", ok=False)
    assert bad_id.exit_code == 2 and "customer_id" in bad_id.output
    mismatch = plumb("--json", "--project", "someone-elses-prod", "customers", "list", ok=False)
    assert mismatch.exit_code == 2
    assert "does not match" in json.loads(mismatch.stdout)["error"]
    assert plumb("--project", stack.project, "customers", "list").exit_code == 0


def _installed(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``.venv/bin/plumb`` from another directory with a bare environment."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [str(PLUMB), *args],
        capture_output=True,
        text=True,
        env=keep,
        cwd=cwd,
        check=False,
        timeout=120,
    )


def test_installed_entry_point_stack_status_and_unconfigured_target(
    stack: LocalStack, tmp_path: Path
) -> None:
    assert PLUMB.exists(), "run `make setup`: it installs .venv/bin/plumb"
    status = _installed(tmp_path, "--stack", str(stack.endpoints_file), "--json", "stack", "status")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["healthy"] is True and data["project_id"] == stack.project
    assert {"pubsub-emulator", "bigquery-emulator"} <= {p["process"] for p in data["processes"]}
    # no emulator variables, no stack file, no project: a clear error and exit 3
    none = str(tmp_path / "none.json")
    missing = _installed(tmp_path, "--stack", none, "customers", "list")
    assert missing.returncode == 3 and "no target" in missing.stderr
    local_only = _installed(tmp_path, "--target", "local", "--stack", none, "quotas", "usage")
    assert local_only.returncode == 3 and "make run" in local_only.stderr


def test_warehouse_audit_lists_the_manifest(stack: LocalStack) -> None:
    from shared.resources import manifest

    audit = plumb_json("warehouse", "audit", "--dataset", "customers")
    names = {t["name"] for d in audit["datasets"] for t in d["tables"]}
    declared = {
        t["name"]
        for t in [*manifest()["tables"], *manifest()["views"]]
        if t["dataset"] == "customers"
    }
    assert declared <= names
    assert audit["project"] == stack.project
    assert "customer_profiles" in plumb("warehouse", "audit", "--dataset", "customers").output


@pytest.mark.usefixtures("refresh_retries_purged")
def test_refresh_cutover_demote_guard_promote(stack: LocalStack) -> None:
    table = "uploads_by_customer"
    assert plumb_json("refresh", "trigger", "--table", table, "--wait", "--timeout", "240")["ok"]
    demoted = plumb_json("refresh", "cutover", "demote", table, "--reason", "new SQL")
    assert demoted["mode"] == "shadow" and demoted["action"] == "demote"
    status = plumb_json("refresh", "cutover", "status", table, "--min-clean-runs", "2")
    assert status["mode"] == "shadow" and status["promotable"] is False
    assert "0 shadow runs since the last cut-over, 2 needed" in status["problems"]
    refused = plumb("refresh", "cutover", "promote", table, "--min-clean-runs", "2", ok=False)
    assert refused.exit_code == 1 and "promote refused" in refused.output
    for _ in range(2):
        run = plumb_json("refresh", "trigger", "--table", table, "--wait", "--timeout", "240")
        assert run["ok"], run
    status = plumb_json("refresh", "cutover", "status", table, "--min-clean-runs", "2")
    assert status["promotable"] is True, status
    promoted = plumb_json(
        "refresh", "cutover", "promote", table, "--min-clean-runs", "2", "--reason", "2 clean"
    )
    assert promoted["mode"] == "live" and promoted["clean_runs"] == 2
    again = plumb("refresh", "cutover", "promote", table, ok=False)
    assert again.exit_code == 1 and "already live" in again.output
    unknown = plumb("refresh", "cutover", "status", "no_such_table", ok=False)
    assert unknown.exit_code == 2 and "unknown table" in unknown.output
