"""Terraform's Firestore database and who may use it, cross-checked with the manifest and code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from shared.resources import manifest
from tests.unit.terraform.crosscheck import REPO, _first, parse_terraform, resources


def _modules_reached(entry: Path, root: Path = REPO) -> set[str]:
    """Every shared.* module a function's main.py imports, transitively (static, including
    ``importlib.import_module("shared...")`` with a literal name), within the tree ``root``."""
    seen: set[str] = set()
    todo = [entry]
    while todo:
        tree = ast.parse(todo.pop().read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("shared")
            ):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("shared")]
            elif (  # importlib.import_module("shared.x")
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).startswith("shared")
            ):
                names = [str(node.args[0].value)]
            for name in names:
                path = root / (name.replace(".", "/") + ".py")
                package = root / name.replace(".", "/") / "__init__.py"
                for candidate in (path, package):
                    if candidate.exists() and name not in seen:
                        seen.add(name)
                        todo.append(candidate)
    return seen


def _uses_firestore(modules: set[str]) -> bool:
    return any(
        "clients.firestore()" in (REPO / (m.replace(".", "/") + ".py")).read_text()
        for m in modules
        if (REPO / (m.replace(".", "/") + ".py")).exists()
    )


def test_database_is_native_with_pitr_and_delete_protection() -> None:
    db = resources(parse_terraform(), "google_firestore_database")["this"]
    assert _first(db["type"]) == "FIRESTORE_NATIVE"
    assert _first(db["name"]) == "(default)"  # what shared.clients.firestore() opens
    assert _first(db["location_id"]) == "${var.firestore_location}"
    assert _first(db["point_in_time_recovery_enablement"]) == "POINT_IN_TIME_RECOVERY_ENABLED"
    assert _first(db["delete_protection_state"]) == "DELETE_PROTECTION_ENABLED"
    assert _first(db["deletion_policy"]) == "ABANDON"


def test_only_functions_declaring_firestore_get_datastore_user_on_that_database() -> None:
    grant = resources(parse_terraform(), "google_project_iam_member")["firestore_user"]
    assert _first(grant["role"]) == "roles/datastore.user"
    assert "f.access.firestore" in str(grant["for_each"])
    condition = _first(grant["condition"])
    assert "databases/(default)" in str(condition["expression"])


def test_manifest_firestore_access_matches_the_code() -> None:
    declared = {f["name"] for f in manifest()["functions"] if f.get("access", {}).get("firestore")}
    used = {
        f["name"]
        for f in manifest()["functions"]
        if _uses_firestore(_modules_reached(REPO / f["source"] / "main.py"))
    }
    assert used, "the import walk found no Firestore user at all: it is broken"
    assert declared == used


def test_packed_fields_are_exempt_from_indexing() -> None:
    from shared.quotas.store import PACKED_FIELDS

    field = resources(parse_terraform(), "google_firestore_field")["packed"]
    declared = set(re.findall(r'"([a-z_]+/[a-z_]+)"', str(_first(field["for_each"]))))
    assert declared == {f"{collection}/{name}" for collection, name in PACKED_FIELDS}
    assert _first(field["index_config"]) in ({}, [{}])  # empty: no single-field index


def test_the_composite_index_and_the_ttl_policy_are_the_ones_the_code_uses() -> None:
    from shared.quotas.store import RUN_LEASE_INDEX, TTL_COLLECTIONS, TTL_FIELD

    index = resources(parse_terraform(), "google_firestore_index")["run_leases"]
    collection, paths = RUN_LEASE_INDEX
    assert _first(index["collection"]) == collection
    assert [_first(f["field_path"]) for f in index["fields"]] == list(paths)
    ttl = resources(parse_terraform(), "google_firestore_field")["ttl"]
    declared = set(re.findall(r'"([a-z_]+)"', str(_first(ttl["for_each"]))))
    assert declared == set(TTL_COLLECTIONS)
    assert (_first(ttl["collection"]), _first(ttl["field"])) == ("${each.key}", TTL_FIELD)
    assert _first(ttl["ttl_config"]) in ({}, [{}])
    assert _first(ttl["index_config"]) in ({}, [{}])
