"""What the project's checkov policies share (imported by them as a sibling module: checkov puts
this folder on ``sys.path`` before it loads the policies), and the role lists that
tests/unit/terraform/crosscheck.py checks the same Terraform against without checkov. Plain
Python: no checkov import, so the main virtualenv can load it too. It defines no check.
"""

from __future__ import annotations

import re
from typing import Any

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

# Groups a dataset access block must never name: the project-wide defaults and the public.
OPEN_GROUPS = ("projectReaders", "projectWriters", "allAuthenticatedUsers", "allUsers")
