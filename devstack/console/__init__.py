"""The local console: one read-only, server-rendered page over the stack's BigQuery and Pub/Sub.

``make run`` serves it on 127.0.0.1 (URL in the report and in ``.local/run/stack.json``):
per area the last events, row counts per table and view, dead letters by reason, refresh runs
as a dependency graph with status colours, quota utilization per customer as bars, and the
Pub/Sub topics with their subscriptions. Flask + Jinja (already in the venv), no build step,
the page reloads itself every few seconds.
"""
