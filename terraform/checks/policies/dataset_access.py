"""CKV_PLUMB_1: every BigQuery dataset declares its ACL (access blocks), none of them public.

Without access blocks BigQuery gives projectReaders (every principal with roles/viewer on the
project) READER on every table: raw webhook payloads and dead letters included.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from plumb_policy import OPEN_GROUPS, blocks


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
            b
            for b in conf.get("access", [])
            if isinstance(b, dict) and "access.value" not in str(b)
        ]
        if not static:
            return CheckResult.FAILED
        access = blocks(conf, "access")
        for block in access:
            values = str(block.get("special_group", "")) + str(block.get("iam_member", ""))
            if any(group in values for group in OPEN_GROUPS) or block.get("domain"):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = DatasetAccessBlocks()
