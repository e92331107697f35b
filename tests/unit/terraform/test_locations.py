"""Resources that must share their data's location do, in every environment.

- **Storage triggers**: Eventarc refuses a Cloud Storage trigger outside its bucket's location
  ('Bucket location "eu" does not match trigger location "europe-west1". Try again by creating
  the trigger in "eu"'). prod's manifest buckets are dual-region (``bucket_replication``,
  location ``EU``) while the functions run in ``europe-west1``: their triggers must be in ``eu``.
- **CMEK keys**: a key must be where the data it encrypts is, under Cloud KMS's own name for
  that place: BigQuery's and Cloud Storage's multi-region ``EU`` is KMS's ``europe`` and ``US``
  is ``us`` (KMS has no ``eu``); a region keeps its name. The datasets are in ``EU`` by default,
  so their key cannot sit in the functions' ``europe-west1`` key ring.

The wiring (the module's ``trigger_region``, the extra triggers' ``location``, each key's key
ring) is held by the cross-check and below; the locations are evaluated with the real
``terraform console`` and each environment's tfvars.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.terraform import crosscheck as cc
from tests.unit.terraform import expand

ENVIRONMENTS = sorted(p.stem for p in (cc.TERRAFORM / "environments").glob("*.tfvars"))
KMS_NAME = {"EU": "europe", "US": "us", "ASIA": "asia"}  # Cloud KMS's locations page


def _kms_location(data_location: str) -> str:
    return KMS_NAME.get(data_location.upper(), data_location.lower())


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


def _locations(tmp_path: Path, tfvars: str) -> dict[str, Any]:
    cc.require_terraform()
    return expand.console(
        {
            "functions": "var.region",
            "bucket": "local.manifest_bucket_location",
            "trigger": "local.storage_trigger_location",
            "datasets": "var.bigquery_location",
            "bigquery_key": "local.bigquery_key_location",
            "replicated_key": "local.replicated_key_location",
            "extra_key_rings": "local.data_key_locations",
        },
        tmp_path,
        cc.TERRAFORM,
        cc.REPO / "shared",
        tfvars,
    )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_triggers_and_keys_follow_their_data(environment: str, tmp_path: Path) -> None:
    got = _locations(tmp_path, _tfvars(environment))
    assert got["trigger"] == got["bucket"].lower()
    assert got["bigquery_key"] == _kms_location(got["datasets"])
    replicated = got["bucket"] != got["functions"]
    assert got["replicated_key"] == (_kms_location(got["bucket"]) if replicated else None)
    wanted = {got["bigquery_key"], got["replicated_key"]} - {None, got["functions"]}
    assert set(got["extra_key_rings"]) == wanted
    if environment == "prod":  # dual-region buckets, EU datasets, functions in a region
        assert (got["bucket"], got["trigger"], got["functions"]) == ("EU", "eu", "europe-west1")
        assert (got["bigquery_key"], got["replicated_key"]) == ("europe", "europe")


def test_regional_data_keeps_the_functions_region(tmp_path: Path) -> None:
    tfvars = expand.STUB_TFVARS + 'region = "us-east4"\nbigquery_location = "us-east4"\n'
    got = _locations(tmp_path, tfvars)
    assert (got["bucket"], got["trigger"], got["bigquery_key"]) == ("us-east4",) * 3
    assert (got["replicated_key"], got["extra_key_rings"]) == (None, [])


def test_each_data_key_is_in_its_locations_ring() -> None:
    parsed = cc.parse_terraform()
    keys = cc.resources(parsed, "google_kms_crypto_key")
    ring = cc.resources(parsed, "google_kms_key_ring")["data"]
    assert cc._first(ring["for_each"]) == "${local.data_key_locations}"
    assert cc._first(ring["location"]) == "${each.key}"
    assert "google_kms_key_ring.data[local.bigquery_key_location]" in str(
        keys["bigquery"]["key_ring"]
    )
    assert cc._first(keys["storage_replicated"]["key_ring"]) == (
        "${google_kms_key_ring.data[local.replicated_key_location].id}"
    )
