"""Validators anchored with ``^...$`` must be applied with ``fullmatch``: with ``match``, ``$``
also matches before a trailing newline, so ``"acme\\n"`` passed as a customer id, an SQL
identifier or a run id (found by the HTTP-boundary property tests)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "functions", "ops", "devstack")


def _anchored_patterns(tree: ast.Module) -> set[str]:
    """Names bound at module level to ``re.compile(r"...$")``."""
    names = set()
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        call = node.value
        if not (isinstance(call.func, ast.Attribute) and call.func.attr == "compile"):
            continue
        if call.args and isinstance(call.args[0], ast.Constant):
            text = call.args[0].value
            if isinstance(text, str) and text.endswith("$") and not text.endswith("\\$"):
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _match_calls(tree: ast.Module, names: set[str]) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "match"
        ):
            target = node.func.value
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name in names:
                lines.append(node.lineno)
    return lines


def test_no_dollar_anchored_validator_is_applied_with_match() -> None:
    trees = {
        path: ast.parse(path.read_text())
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    anchored = set().union(*(_anchored_patterns(tree) for tree in trees.values()))
    assert {"CUSTOMER_ID", "_IDENTIFIER", "SOURCE_RE", "_ID"} <= anchored  # the scan sees them
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path, tree in trees.items()
        for line in _match_calls(tree, anchored)
    ]
    assert not offenders, f"use fullmatch: {offenders}"


def test_the_scan_would_see_a_match_call() -> None:
    tree = ast.parse('import re\nX = re.compile(r"^a$")\nok = X.match("a\\n")\n')
    assert _match_calls(tree, _anchored_patterns(tree)) == [3]


@pytest.mark.parametrize("value", ["acme\n", "acme-1\n"])
def test_trailing_newline_is_not_a_valid_id(value: str) -> None:
    from shared.uploads.naming import CUSTOMER_ID

    assert re.match(r"^[a-z0-9][a-z0-9_-]{1,62}$", value)  # what match() used to accept
    assert not CUSTOMER_ID.fullmatch(value)
