"""Project-wide conventions that a reviewer would otherwise have to check by hand.

- One exception root: every exception class defined under ``shared/``, ``functions/`` and
  ``devstack/`` derives from :class:`shared.errors.PipelineError`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from shared.errors import PipelineError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "functions", "devstack")


def _module_names() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join(parts))
    return names


def _classes(owner: ModuleType | type, module: str) -> Iterator[type]:
    """Classes defined in ``module``, including classes nested in them."""
    for value in vars(owner).values():
        if inspect.isclass(value) and value.__module__ == module and value is not owner:
            yield value
            yield from _classes(value, module)


def test_every_module_is_walked() -> None:
    names = _module_names()
    assert "shared.errors" in names
    assert "functions.uploads.main" in names
    assert "devstack.processes" in names


def test_every_exception_class_derives_from_pipeline_error() -> None:
    offenders = []
    for name in _module_names():
        module = importlib.import_module(name)
        for cls in _classes(module, module.__name__):
            if issubclass(cls, BaseException) and not issubclass(cls, PipelineError):
                bases = ", ".join(base.__name__ for base in cls.__bases__)
                offenders.append(f"{name}.{cls.__qualname__}({bases})")
    assert not offenders, (
        "exception classes must derive from shared.errors.PipelineError (or PermanentError, "
        "TransientError, ConfigurationError): " + ", ".join(offenders)
    )
