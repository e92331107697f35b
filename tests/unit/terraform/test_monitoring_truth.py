"""Monitoring truth: every log-based metric in Terraform counts an ``event`` the code logs.

A metric filtering on ``jsonPayload.event="x"`` when no code ever logs ``event: "x"`` can
never fire (the quota alert metric did exactly that). The code's events are found statically:
every string a dict literal gives its ``"event"`` key (including both sides of a conditional)
and every ``event="x"`` keyword, in shared/ and functions/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import hcl2

REPO = Path(__file__).resolve().parents[3]
EVENT_FILTER = re.compile(r'jsonPayload\.event\s*=\s*\\?"([A-Za-z0-9_.-]+)\\?"')


def _strings(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    return set()


def logged_events(roots: tuple[Path, ...]) -> set[str]:
    found: set[str] = set()
    for root in roots:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Dict):
                    for key, value in zip(node.keys, node.values, strict=True):
                        if isinstance(key, ast.Constant) and key.value == "event":
                            found |= _strings(value)
                elif isinstance(node, ast.keyword) and node.arg == "event":
                    found |= _strings(node.value)
    return found


def _all_strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _all_strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _all_strings(value)]
    return []


def metric_events(monitoring_tf: Path) -> dict[str, set[str]]:
    with monitoring_tf.open() as handle:
        parsed = hcl2.load(handle)
    # filters may live in locals or in resources: search every string of the tree too
    text = " ".join(_all_strings(parsed))
    metrics: dict[str, set[str]] = {}
    for block in parsed.get("locals", []):
        for name, metric in (block.get("log_metrics") or {}).items():
            metrics[name] = set(EVENT_FILTER.findall(str(metric.get("filter", ""))))
    metrics["<anywhere>"] = set(EVENT_FILTER.findall(text))
    return metrics


def test_every_metric_event_is_logged_by_the_code() -> None:
    metrics = metric_events(REPO / "terraform" / "monitoring.tf")
    assert metrics["<anywhere>"], "no jsonPayload.event filter found: the parser lost them"
    assert {"quota_alert", "upload_rejected"} <= metrics["<anywhere>"]
    logged = logged_events((REPO / "shared", REPO / "functions"))
    missing = {name: sorted(events - logged) for name, events in metrics.items() if events - logged}
    assert not missing, f"log-based metrics count events no code logs: {missing}"


def test_the_check_fails_for_an_event_nobody_logs(tmp_path: Path) -> None:
    tf = tmp_path / "monitoring.tf"
    tf.write_text(
        "locals {\n  log_metrics = {\n    ghost = {\n"
        '      filter = "x AND jsonPayload.event=\\"never_logged\\""\n    }\n  }\n}\n'
    )
    code = tmp_path / "code"
    code.mkdir()
    (code / "m.py").write_text(
        'import logging\nlogging.info("x", extra={"fields": {"event": "a" if 1 else "b"}})\n'
    )
    assert metric_events(tf)["ghost"] == {"never_logged"}
    assert logged_events((code,)) == {"a", "b"}
    assert not metric_events(tf)["ghost"] <= logged_events((code,))
