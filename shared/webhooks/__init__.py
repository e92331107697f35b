"""Webhooks: integration events (ad platforms, shops, payment providers) into BigQuery.

- :mod:`.contract`: message attributes, limits, event keys (the one message contract);
- :mod:`.normalize`: money, currencies, timestamps, bounded strings;
- :mod:`.sources`: one mapping module per integration source (payload -> typed rows);
- :mod:`.ingest`: decode, validate, route one Pub/Sub message to its tables;
- :mod:`.sink`: one group-commit writer per table;
- :mod:`.signature` and :mod:`.receiver`: the HTTP receiver's HMAC check and publish;
- :mod:`.replay`: re-publish chosen dead letters after a fix, idempotently.
"""
