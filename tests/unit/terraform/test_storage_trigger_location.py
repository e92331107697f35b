"""Storage triggers are created in their bucket's location, in every environment.

Eventarc refuses a Cloud Storage trigger outside its bucket's location ('Bucket location "eu"
does not match trigger location "europe-west1". Try again by creating the trigger in "eu"').
prod's manifest buckets are dual-region (``bucket_replication``, location ``EU``) while the
functions run in ``europe-west1``: their triggers must be in ``eu``. The wiring (the module's
``trigger_region`` and the extra triggers' ``location`` read ``local.storage_trigger_location``)
is held by the cross-check; this evaluates that local against the bucket's location with the
real ``terraform console`` and each environment's tfvars.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.terraform import crosscheck as cc
from tests.unit.terraform import expand

ENVIRONMENTS = sorted(p.stem for p in (cc.TERRAFORM / "environments").glob("*.tfvars"))


def _tfvars(environment: str) -> str:
    """The environment's tfvars, plus the stub's value of any variable it leaves to the CLI."""
    text = (cc.TERRAFORM / "environments" / f"{environment}.tfvars").read_text()
    given = set(re.findall(r"^(\w+)\s*=", text, re.MULTILINE))
    extra = [
        line
        for line in expand.STUB_TFVARS.splitlines()
        if line.split("=", 1)[0].strip() not in given
    ]
    return text + "\n" + "\n".join(extra) + "\n"


def _locations(tmp_path: Path, tfvars: str) -> dict[str, str]:
    cc.require_terraform()
    return expand.console(
        {
            "bucket": "local.manifest_bucket_location",
            "trigger": "local.storage_trigger_location",
            "functions": "var.region",
        },
        tmp_path,
        cc.TERRAFORM,
        cc.REPO / "shared",
        tfvars,
    )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_triggers_follow_the_bucket_location(environment: str, tmp_path: Path) -> None:
    got = _locations(tmp_path, _tfvars(environment))
    assert got["trigger"] == got["bucket"].lower()
    if environment == "prod":  # the dual-region case: not the functions' region
        assert (got["bucket"], got["trigger"], got["functions"]) == ("EU", "eu", "europe-west1")


def test_a_regional_bucket_keeps_the_functions_region(tmp_path: Path) -> None:
    got = _locations(tmp_path, expand.STUB_TFVARS + 'region = "us-east4"\n')
    assert got == {"bucket": "us-east4", "trigger": "us-east4", "functions": "us-east4"}
