"""Every lazy import of the BigQuery client libraries is taken under ``BIGQUERY_IMPORTS``
(shared/imports.py says why: two threads of a fresh instance importing google.cloud.bigquery and
google.cloud.bigquery_storage_v1 at once got a partially initialised module, a 500)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LIBRARIES = ("google.cloud.bigquery", "google.cloud.bigquery_storage")


def _imports_bigquery(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom) and node.module:
        if node.module.startswith(LIBRARIES):
            return True
        return node.module == "google.cloud" and any(
            a.name.startswith("bigquery") for a in node.names
        )
    if isinstance(node, ast.Import):
        return any(a.name.startswith(LIBRARIES) for a in node.names)
    return False


def unlocked_imports(tree: ast.Module) -> list[int]:
    """Line numbers of function-level BigQuery imports outside ``with BIGQUERY_IMPORTS``."""
    found: list[int] = []

    def visit(node: ast.AST, in_function: bool, locked: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_locked = locked or (
                isinstance(child, ast.With)
                and any(
                    isinstance(item.context_expr, ast.Name)
                    and item.context_expr.id == "BIGQUERY_IMPORTS"
                    for item in child.items
                )
            )
            is_function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if (
                in_function
                and not child_locked
                and isinstance(child, ast.Import | ast.ImportFrom)
                and _imports_bigquery(child)
            ):
                found.append(child.lineno)
            visit(child, in_function or is_function, child_locked)

    visit(tree, False, False)
    return found


def test_every_lazy_bigquery_import_takes_the_lock() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in ("shared", "functions")
        for path in sorted((ROOT / package).rglob("*.py"))
        for line in unlocked_imports(ast.parse(path.read_text()))
    ]
    assert not offenders, f"import under shared.imports.BIGQUERY_IMPORTS: {offenders}"


def test_the_scan_sees_an_unlocked_import_and_accepts_a_locked_one() -> None:
    source = (
        "def f():\n    from google.cloud import bigquery\n"
        "def g():\n    with BIGQUERY_IMPORTS:\n"
        "        from google.cloud.bigquery_storage_v1 import types\n"
        "def h():\n    import google.cloud.bigquery_storage_v1\n"
    )
    assert unlocked_imports(ast.parse(source)) == [2, 7]
