"""Refreshes: a scheduler-driven orchestrator for derived BigQuery tables.

Definitions (``definitions/*.sql``) -> graph -> runner (leases, checkpoints, audit, checks)
-> notifications; ``api`` serves the HTTP routes. See docs/refresh.md.
"""
