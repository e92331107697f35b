"""The dependency graph of refresh definitions: cycles and selections (readiness during a run
is tracked by ``graphlib.TopologicalSorter`` in the runner)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.errors import ConfigurationError


class CycleError(ConfigurationError):
    """The definitions depend on each other in a loop (a ``ValueError`` too, as before)."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__("dependency cycle: " + " -> ".join(cycle))
        self.cycle = cycle


def find_cycle(deps: Mapping[str, set[str]]) -> list[str] | None:
    """A cycle as a list of names (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(deps.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(deps):
        if node not in state and (found := visit(node)):
            return found
    return None


def check_acyclic(deps: Mapping[str, set[str]]) -> None:
    cycle = find_cycle(deps)
    if cycle:
        raise CycleError(cycle)


def dependents_of(deps: Mapping[str, set[str]], names: Iterable[str]) -> set[str]:
    """Every table that (transitively) reads one of ``names``, not including them."""
    result: set[str] = set()
    frontier = set(names)
    while frontier:
        nxt = {n for n, ds in deps.items() if ds & frontier and n not in result}
        result |= nxt
        frontier = nxt
    return result - set(names)


def dependencies_of(deps: Mapping[str, set[str]], names: Iterable[str]) -> set[str]:
    """Every table that ``names`` (transitively) read, not including them."""
    result: set[str] = set()
    frontier = set(names)
    while frontier:
        nxt = {d for n in frontier for d in deps.get(n, ()) if d not in result}
        result |= nxt
        frontier = nxt
    return result - set(names)


def select(
    deps: Mapping[str, set[str]],
    tables: Iterable[str] | None,
    *,
    with_dependents: bool = False,
    with_dependencies: bool = False,
) -> set[str]:
    """The tables a run covers: all, or a selection widened as asked."""
    if tables is None:
        return set(deps)
    chosen = set(tables)
    if with_dependents:
        chosen |= dependents_of(deps, chosen)
    if with_dependencies:
        chosen |= dependencies_of(deps, chosen)
    return chosen
