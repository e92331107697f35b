"""Warehouse-wide tooling (inventory and cost audit) over the BigQuery door."""
