"""The local stack: real emulators, functions under functions-framework, production-like triggers.

Used by ``make run`` (:mod:`devstack.run`), the tests (``tests/conftest.py``) and ``bench/``.
"""
