"""Uploads: every Cloud Storage object generation becomes a row in ``warehouse.media_files``.

Modules: :mod:`naming` (the bucket layout), :mod:`detect` (type sniffing from the first
bytes), :mod:`rows` (row building and the deterministic row key), :mod:`reader` (ranged reads),
:mod:`sink` (the BigQuery writer), :mod:`handler` (the event flow) and :mod:`backfill`
(the command that walks an existing bucket).
"""
