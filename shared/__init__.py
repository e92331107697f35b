"""Utilities shared by every function: settings, clients, logging, events, errors, writers.

Nothing here imports a Google client library at import time: clients are created on first use
(see :mod:`shared.clients`) so a function's cold start pays only for what it uses.
"""
