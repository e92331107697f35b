"""The customer-credentials KMS key: granted, and named in the env, exactly to the functions
whose code encrypts or decrypts customer credentials (``shared.quotas.credentials``)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from shared.resources import load, manifest
from tests.unit.terraform import crosscheck as cc
from tests.unit.terraform.test_firestore import _modules_reached

CREDENTIALS_MODULE = "shared.quotas.credentials"


@pytest.fixture(autouse=True)
def _terraform_binary() -> None:
    cc.require_terraform()


def kms_mismatches(root: Path, functions: list[dict[str, Any]]) -> list[str]:
    """Functions whose ``access.kms`` differs from whether their code (main.py and every
    shared module it imports, transitively) reaches the credentials module."""
    problems = []
    for fn in functions:
        uses = CREDENTIALS_MODULE in _modules_reached(root / fn["source"] / "main.py", root)
        declared = bool(fn.get("access", {}).get("kms"))
        if uses and not declared:
            problems.append(f"function {fn['name']} uses {CREDENTIALS_MODULE} without access.kms")
        if declared and not uses:
            problems.append(f"function {fn['name']} declares access.kms but never uses the key")
    return problems


def test_manifest_kms_access_matches_the_code() -> None:
    functions = manifest()["functions"]
    assert functions, "no functions in the manifest: the check would pass on nothing"
    assert kms_mismatches(cc.REPO, functions) == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of shared/ plus two functions: one that stores credentials, one that does not."""
    root = tmp_path / "repo"
    shutil.copytree(
        cc.REPO / "shared", root / "shared", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name, code in (
        ("vault", "from shared.quotas import credentials\n"),
        ("plain", "from shared.quotas import admission\n"),
    ):
        (root / "functions" / name).mkdir(parents=True)
        (root / "functions" / name / "main.py").write_text(textwrap.dedent(code))
    return root


def _fn(name: str, kms: bool) -> dict[str, Any]:
    return {"name": name, "source": f"functions/{name}", "access": {"kms": kms}}


def test_a_credentials_user_without_access_kms_fails(tree: Path) -> None:
    problems = kms_mismatches(tree, [_fn("vault", False), _fn("plain", False)])
    assert problems == [f"function vault uses {CREDENTIALS_MODULE} without access.kms"]


def test_access_kms_without_using_the_key_fails(tree: Path) -> None:
    problems = kms_mismatches(tree, [_fn("vault", True), _fn("plain", True)])
    assert problems == ["function plain declares access.kms but never uses the key"]


def test_a_transitive_import_counts(tree: Path) -> None:
    (tree / "shared" / "quotas" / "vault_api.py").write_text(
        "from shared.quotas.credentials import store\n"
    )
    (tree / "functions" / "plain" / "main.py").write_text("from shared.quotas import vault_api\n")
    assert kms_mismatches(tree, [_fn("vault", True), _fn("plain", True)]) == []


def test_the_grant_follows_access_kms_on_the_credentials_key() -> None:
    grant = cc.resources(cc.parse_terraform(), "google_kms_crypto_key_iam_member")
    rule = grant["customer_credentials"]
    assert "f.access.kms" in str(rule["for_each"])
    assert cc._first(rule["crypto_key_id"]) == "${google_kms_crypto_key.customer_credentials.id}"
    assert cc._first(rule["role"]) == "roles/cloudkms.cryptoKeyEncrypter"  # seal only


def _key_name_from_secrets_tf(project: str, region: str, environment: str) -> str:
    parsed = cc.parse_terraform()
    ring = cc._first(cc.resources(parsed, "google_kms_key_ring")["this"]["name"])
    key = cc.resources(parsed, "google_kms_crypto_key")["customer_credentials"]
    assert cc._first(key["key_ring"]) == "${google_kms_key_ring.this.id}"
    ring = str(ring).replace("${var.environment}", environment)
    return (
        f"projects/{project}/locations/{region}/keyRings/{ring}/cryptoKeys/{cc._first(key['name'])}"
    )


def test_a_function_declaring_kms_gets_the_key_name_in_its_env(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shutil.copytree(cc.REPO / "shared" / "resources", shared / "resources")
    quotas = shared / "resources" / "quotas.json"
    fragment = json.loads(quotas.read_text())
    for fn in fragment["functions"]:  # exactly one holder: the first, whoever holds it now
        fn["access"]["kms"] = False
    fragment["functions"][0]["access"]["kms"] = True
    quotas.write_text(json.dumps(fragment))
    chosen = fragment["functions"][0]["name"]
    evaluated = cc.evaluate_manifest_locals(shared, tmp_path / "work")
    want = _key_name_from_secrets_tf(cc.PROJECT, "europe-west1", "prod")
    assert evaluated["credentials_kms_key"] == want
    for name, fn in evaluated["functions"].items():
        if name == chosen:
            assert fn["env"]["CREDENTIALS_KMS_KEY"] == want
            assert fn["access"]["kms"] is True
        else:
            assert "CREDENTIALS_KMS_KEY" not in fn["env"]
    # and the cross-check accepts it (the env var is expected, not a stray)
    assert cc.check_evaluated(evaluated, load(shared / "resources")) == []
