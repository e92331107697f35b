"""checkov over terraform/ with zero failed checks (skips carry a written justification),
including the project's own policies in terraform/checks/policies, which are shown to fail on
a mutated copy (a dropped dataset access block, a widened deployer, a planner that reads data)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
POLICIES = REPO / "terraform" / "checks" / "policies"
HINT = (
    "checkov is not installed: run `bash terraform/checks/setup_checkov.sh` (creates .venv-checkov)"
)


def _checkov(directory: Path) -> list[dict[str, Any]]:
    if not CHECKOV.exists():
        pytest.fail(HINT)
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(directory),
            "--framework",
            "terraform",
            "--skip-download",
            "--external-checks-dir",
            str(POLICIES),
            "--quiet",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "Cannot load external check" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    reports: list[dict[str, Any]] = report if isinstance(report, list) else [report]
    return reports


def test_checkov_reports_no_failed_check() -> None:
    reports = _checkov(REPO / "terraform")
    failed = [c for r in reports for c in r["results"]["failed_checks"]]
    passed = sum(r["summary"]["passed"] for r in reports)
    assert passed > 30, "checkov scanned (almost) nothing"
    assert failed == [], "\n".join(
        f"{c['check_id']} {c['resource']} {c['file_path']}" for c in failed
    )


def _mutate(root: Path, file: str, old: str, new: str) -> None:
    path = root / file
    text = path.read_text()
    assert old in text, (file, old)
    path.write_text(text.replace(old, new, 1))


def test_project_policies_fail_on_regressions(tmp_path: Path) -> None:
    root = tmp_path / "terraform"
    shutil.copytree(
        REPO / "terraform", root, ignore=shutil.ignore_patterns(".terraform", "build", "checks")
    )
    (tmp_path / "shared").symlink_to(REPO / "shared", target_is_directory=True)
    text = (root / "bigquery.tf").read_text()
    start = text.index("  access {\n")
    (root / "bigquery.tf").write_text(text[:start] + text[text.index("  }\n", start) + 4 :])
    _mutate(root, "bootstrap/main.tf", "  condition {", "  dynamic_off {")
    _mutate(root, "bootstrap/main.tf", '"roles/browser",', '"roles/browser",\n    "roles/viewer",')
    failed = {
        (c["check_id"], c["resource"])
        for r in _checkov(root)
        for c in r["results"]["failed_checks"]
        if c["check_id"].startswith("CKV_PLUMB_")
    }
    assert ("CKV_PLUMB_1", "google_bigquery_dataset.this") in failed, failed
    assert ("CKV_PLUMB_2", "google_project_iam_member.deployer_grants") in failed, failed
    assert any(c == "CKV_PLUMB_3" and "roles/viewer" in r for c, r in failed), failed
