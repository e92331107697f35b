"""CKV_PLUMB_2 / CKV_PLUMB_3: what the CI identities may do at project level.

CKV_PLUMB_2 (deployer): never owner/editor/security admin/role admin/pool admin; the right to
change project IAM (projectIamAdmin) only with an IAM condition on
iam.googleapis.com/modifiedGrantsByRole ... hasOnly([...]).
CKV_PLUMB_3 (planner): metadata only, never a role that reads data (roles/viewer included:
project viewers read datasets without access blocks and much more).
"""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ROLE = re.compile(r"roles/[A-Za-z.]+|projects/[^'\"\s]+/roles/\w+")


def text(conf: dict[str, Any], key: str) -> str:
    """Everything under ``key`` as one string (checkov wraps values in lists)."""
    return str(conf.get(key, ""))


def roles(conf: dict[str, Any]) -> set[str]:
    """Roles a (possibly for_each) IAM member resource grants."""
    found = set(ROLE.findall(text(conf, "role")))
    if "each." in text(conf, "role"):
        found |= set(ROLE.findall(text(conf, "for_each")))
    return found


def blocks(conf: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Static blocks ``name`` plus the content of ``dynamic "name"`` blocks."""
    found = [b for b in conf.get(name, []) if isinstance(b, dict)]
    for dynamic in conf.get("dynamic", []):
        if isinstance(dynamic, dict) and name in dynamic:
            body = dynamic[name]
            content = body.get("content", [{}]) if isinstance(body, dict) else [{}]
            found += [c for c in content if isinstance(c, dict)]
    return found

DEPLOYER_FORBIDDEN = {
    "roles/owner",
    "roles/editor",
    "roles/iam.securityAdmin",
    "roles/iam.roleAdmin",
    "roles/iam.organizationRoleAdmin",
    "roles/iam.workloadIdentityPoolAdmin",
    "roles/resourcemanager.organizationAdmin",
}
NEEDS_CONDITION = {"roles/resourcemanager.projectIamAdmin"}
PLANNER_FORBIDDEN = {
    "roles/owner",
    "roles/editor",
    "roles/viewer",
    "roles/bigquery.admin",
    "roles/bigquery.dataOwner",
    "roles/bigquery.dataEditor",
    "roles/bigquery.dataViewer",
    "roles/bigquery.user",
    "roles/storage.admin",
    "roles/storage.objectAdmin",
    "roles/storage.objectViewer",
    "roles/pubsub.admin",
    "roles/pubsub.editor",
    "roles/pubsub.subscriber",
    "roles/secretmanager.admin",
    "roles/secretmanager.secretAccessor",
    "roles/datastore.owner",
    "roles/datastore.user",
    "roles/datastore.viewer",
    "roles/cloudkms.cryptoKeyDecrypter",
    "roles/cloudkms.cryptoKeyEncrypterDecrypter",
}


def _conditioned(conf: dict[str, Any]) -> bool:
    expression = text(conf, "condition")
    return "iam.googleapis.com/modifiedGrantsByRole" in expression and ".hasOnly(" in expression


class DeployerRoles(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="CI deployer: no owner-level roles; project IAM changes only for a fixed role list",
            id="CKV_PLUMB_2",
            categories=[CheckCategories.IAM],
            supported_resources=["google_project_iam_member"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if "deployer" not in text(conf, "member"):
            return CheckResult.PASSED
        granted = roles(conf)
        if granted & DEPLOYER_FORBIDDEN:
            return CheckResult.FAILED
        if granted & NEEDS_CONDITION and not _conditioned(conf):
            return CheckResult.FAILED
        return CheckResult.PASSED


class PlannerRoles(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="CI planner: metadata roles only (no roles/viewer, no data access)",
            id="CKV_PLUMB_3",
            categories=[CheckCategories.IAM],
            supported_resources=["google_project_iam_member"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if "planner" not in text(conf, "member"):
            return CheckResult.PASSED
        return CheckResult.FAILED if roles(conf) & PLANNER_FORBIDDEN else CheckResult.PASSED


deployer_check = DeployerRoles()
planner_check = PlannerRoles()
