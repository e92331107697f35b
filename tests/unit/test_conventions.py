"""Project-wide conventions that a reviewer would otherwise have to check by hand.

- One exception root: every exception class defined under ``shared/``, ``functions/``,
  ``devstack/`` and ``ops/`` derives from :class:`shared.errors.PipelineError`.
- No environment reads outside :mod:`shared.settings` in ``shared/`` and ``functions/``: areas
  declare typed settings dataclasses read through it (``devstack/``, ``tests/`` and ``bench/``
  may read the environment).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from shared.errors import PipelineError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "functions", "devstack", "ops")


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


ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
ENV_READERS = ("shared/settings.py",)


def _env_reads(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line`` of every ``os.environ``/``os.getenv``-like use (also ``from os import``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            names = [node.attr] if node.value.id in ("os", "posix") else []
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "posix"):
            names = [alias.name for alias in node.names]
        if ENV_NAMES.intersection(names) and isinstance(node, ast.expr | ast.stmt):
            found.append((node.lineno, f"{path.relative_to(root)}:{node.lineno}"))
    return [where for _, where in sorted(found)]


def test_env_read_detector_finds_every_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nfrom os import getenv\n"
        "a = os.environ.get('A')\nb = os.getenv('B')\nc = getenv('C')\nd = os.path.join('x')\n"
    )
    assert _env_reads(sample, tmp_path) == ["sample.py:2", "sample.py:3", "sample.py:4"]


def test_no_environment_reads_outside_settings() -> None:
    offenders = []
    for package in ("shared", "functions"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if str(path.relative_to(ROOT)) not in ENV_READERS:
                offenders += _env_reads(path)
    assert not offenders, (
        "read the environment only through shared/settings.py (declare the variable in the "
        "area's settings dataclass with shared.settings.env): " + ", ".join(offenders)
    )
