"""CKV_PLUMB_1: every BigQuery dataset declares its ACL (access blocks), none of them public.

Without access blocks BigQuery gives projectReaders (every principal with roles/viewer on the
project) READER on every table: raw webhook payloads and dead letters included.
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

OPEN = ("projectReaders", "projectWriters", "allAuthenticatedUsers", "allUsers")


class DatasetAccessBlocks(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="BigQuery datasets declare access blocks (no projectReaders, nothing public)",
            id="CKV_PLUMB_1",
            categories=[CheckCategories.IAM],
            supported_resources=["google_bigquery_dataset"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        # A static block is required: dynamic ones may expand to nothing (a dataset no function
        # uses), and a dataset with no access block at all gets the projectReaders default.
        # (checkov also lists the dynamic blocks under "access", unexpanded: skip those)
        static = [
            b for b in conf.get("access", []) if isinstance(b, dict) and "access.value" not in str(b)
        ]
        if not static:
            return CheckResult.FAILED
        access = blocks(conf, "access")
        for block in access:
            values = str(block.get("special_group", "")) + str(block.get("iam_member", ""))
            if any(group in values for group in OPEN) or block.get("domain"):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = DatasetAccessBlocks()
