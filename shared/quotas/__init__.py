"""Quotas: plans as data, atomic admission with leases, alerts, sweeps, API keys."""
