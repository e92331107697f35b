"""Definitions parse/validate and the dependency graph (no emulators)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.refresh import definitions, graph, request

HEADER = '/* refresh {{"target": "warehouse.{name}", "mode": "replace"}} */\n'


def write(tmp: Path, name: str, reads: list[str]) -> None:
    sql = " UNION ALL ".join(f"SELECT 1 AS x FROM `${{project}}.warehouse.{r}`" for r in reads)
    (tmp / f"{name}.sql").write_text(HEADER.format(name=name) + (sql or "SELECT 1 AS x"))


def test_shipped_definitions_are_valid_and_acyclic() -> None:
    defs = definitions.load()
    deps = definitions.dependencies(defs)
    assert deps["campaign_roi_daily"] == {"campaign_performance_daily", "platform_events_daily"}
    graph.check_acyclic(deps)


def test_cycle_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "a", ["b"])
    write(tmp_path, "b", ["c"])
    write(tmp_path, "c", ["a"])
    deps = definitions.dependencies(definitions.load(tmp_path))
    with pytest.raises(graph.CycleError) as info:
        graph.check_acyclic(deps)
    assert info.value.cycle[0] == info.value.cycle[-1]


def test_unknown_source_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a", ["nowhere"])
    defs = definitions.load(tmp_path)
    with pytest.raises(definitions.DefinitionError, match="nowhere"):
        definitions.validate_references(defs, {("warehouse", "elsewhere")})


def test_select_widens_to_dependents_and_dependencies() -> None:
    deps = {"a": set(), "b": set(), "c": {"a", "b"}}
    assert graph.select(deps, None) == {"a", "b", "c"}
    assert graph.select(deps, ["a"], with_dependents=True) == {"a", "c"}
    assert graph.select(deps, ["c"], with_dependencies=True) == {"a", "b", "c"}


@given(st.dictionaries(st.text(max_size=12), st.one_of(st.none(), st.integers(), st.text())))
def test_bad_requests_never_crash(body: dict[str, object]) -> None:
    with contextlib.suppress(request.RequestError):
        request.parse(body)


@given(st.text(max_size=400))
def test_bad_definitions_never_crash(text: str) -> None:
    with contextlib.suppress(definitions.DefinitionError):
        definitions.parse(text)
