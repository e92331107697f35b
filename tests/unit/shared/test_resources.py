import json
import shutil
from pathlib import Path

import pytest

from devstack.stack import REPO
from shared import resources
from shared.resources import ManifestError, load, table_id


def test_manifest_loads_and_is_consistent() -> None:
    manifest = load()
    assert {d["id"] for d in manifest["datasets"]} >= {"warehouse", "ops", "customers"}
    assert manifest.table("dead_letters")["dataset"] == "ops"
    fields = {f["name"] for f in manifest.table_schema("dead_letters")}
    assert {"reason", "payload", "event_id"} <= fields
    assert "`demo-local.ops.dead_letters`" in manifest.view_sql(
        "dead_letters_current", "demo-local"
    )


def test_every_function_source_exists() -> None:
    for function in load()["functions"]:
        main = REPO / function["source"] / "main.py"
        assert main.is_file(), function["name"]
        assert f"def {function['entry_point']}(" in main.read_text(), function["name"]


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "resources"
    shutil.copytree(resources.ROOT, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "extra.json").write_text(json.dumps({"datasets": [{"id": "ops"}]}))
    with pytest.raises(ManifestError, match="declared twice"):
        load(root)


def test_unknown_references_are_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "extra.json").write_text(
        json.dumps({"subscriptions": [{"name": "s", "topic": "no-such-topic"}]})
    )
    with pytest.raises(ManifestError, match="unknown topic"):
        load(root)


def test_a_push_shorter_than_its_handler_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    quotas = json.loads((root / "quotas.json").read_text())
    [push] = [s for s in quotas["subscriptions"] if s.get("push_function") == "quotas"]
    [handler] = [f for f in quotas["functions"] if f["name"] == "quotas"]
    push["ack_deadline_seconds"] = handler["timeout_s"]  # equal: the push outlasts the handler
    (root / "quotas.json").write_text(json.dumps(quotas))
    load(root)
    push["ack_deadline_seconds"] = handler["timeout_s"] - 1
    (root / "quotas.json").write_text(json.dumps(quotas))
    with pytest.raises(ManifestError, match="ack_deadline_seconds is below quotas's timeout_s"):
        load(root)
    del push["ack_deadline_seconds"]  # the default, 60 s
    (root / "quotas.json").write_text(json.dumps(quotas))
    with pytest.raises(ManifestError, match="ack_deadline_seconds is below"):
        load(root)


def test_missing_schema_file_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "extra.json").write_text(
        json.dumps({"tables": [{"dataset": "ops", "name": "t", "schema": "schemas/none.json"}]})
    )
    with pytest.raises(ManifestError, match="schema file"):
        load(root)


def test_table_id_validates_identifiers() -> None:
    assert table_id("demo-local", "ops", "dead_letters") == "demo-local.ops.dead_letters"
    for bad in ("ops`; DROP", "a.b", ""):
        with pytest.raises(ValueError):
            table_id("demo-local", bad, "t")
