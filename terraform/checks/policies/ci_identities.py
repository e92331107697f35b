"""CKV_PLUMB_2 / CKV_PLUMB_3: what the CI identities may do at project level.

CKV_PLUMB_2 (deployer): never owner/editor/security admin/role admin/pool admin; the right to
change project IAM (projectIamAdmin) only with an IAM condition on
iam.googleapis.com/modifiedGrantsByRole ... hasOnly([...]).
CKV_PLUMB_3 (planner): metadata only, never a role that reads data (roles/viewer included:
project viewers read datasets without access blocks and much more).
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from plumb_policy import DEPLOYER_FORBIDDEN, NEEDS_CONDITION, PLANNER_FORBIDDEN, roles, text


def _conditioned(conf: dict[str, Any]) -> bool:
    expression = text(conf, "condition")
    return "iam.googleapis.com/modifiedGrantsByRole" in expression and ".hasOnly(" in expression


class DeployerRoles(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="CI deployer: no owner-level roles; project IAM only for a fixed role list",
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
