"""Each function's deployed requirements.txt installs every library its code can import.

Terraform zips ``functions/<dir>/`` (with its own requirements.txt) and ``shared/``; the cloud
build installs only that requirements.txt. So every third-party module that the function's
main.py or any ``shared`` module it reaches imports (at the top or lazily, inside a function;
not under ``TYPE_CHECKING``) must come from a distribution that file lists, or from one of
their dependencies. Locally everything is installed in one venv, so only this check catches a
function that would fail with ImportError in the cloud.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

from shared.resources import manifest
from tests.unit.terraform.crosscheck import REPO
from tests.unit.terraform.test_firestore import _modules_reached

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _typing_only(tree: ast.AST) -> set[int]:
    """The nodes under ``if TYPE_CHECKING:`` (never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    return skipped


def _imports_in(tree: ast.AST, skipped: set[int]) -> set[str]:
    """Module names imported under ``tree`` that are neither ours nor the standard library."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found |= {f"{node.module}.{a.name}" for a in node.names}  # a name or a module
    ours = ("shared", "functions", "devstack", "tests", "ops", "bench")
    return {
        name
        for name in found
        if name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] not in ours
    }


def _third_party_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return _imports_in(tree, _typing_only(tree))


def _client_factories() -> tuple[set[str], dict[str, set[str]]]:
    """``shared.clients``: what it imports at the top, and what each of its functions imports
    lazily (with the functions of the module it calls). Its factories import one client
    library each, only when called, so a function needs only the libraries of the factories
    its code uses."""
    tree = ast.parse((REPO / "shared" / "clients.py").read_text())
    skipped = _typing_only(tree)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    top = _imports_in(ast.Module(body=[n for n in tree.body if n not in functions.values()],
                                 type_ignores=[]), skipped)  # fmt: skip
    needs = {}
    for name in functions:
        todo, seen = [name], {name}
        while todo:
            for call in ast.walk(functions[todo.pop()]):
                if isinstance(call, ast.Name) and call.id in functions and call.id not in seen:
                    seen.add(call.id)
                    todo.append(call.id)
        needs[name] = set().union(*(_imports_in(functions[n], skipped) for n in seen))
    return top, needs


def _factories_used(path: Path) -> set[str]:
    """The ``shared.clients`` functions a module names (``clients.x`` or imported by name)."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "clients"
        ):
            used.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module == "shared.clients":
            used |= {a.name for a in node.names}
    return used


@cache
def _owners() -> dict[str, str]:
    """Installed module name (``google.cloud.firestore``) -> the distribution that ships it."""
    owners: dict[str, str] = {}
    for dist in metadata.distributions():
        for file in dist.files or ():
            parts = Path(str(file)).with_suffix("").parts
            if str(file).endswith(".py") and parts and ".." not in parts:
                module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                owners.setdefault(module, _normal(dist.metadata["Name"]))
    return owners


def _owner(module: str) -> str | None:
    """The distribution of ``module`` or of its nearest package (a name imported from a
    module, ``from grpc import aio``, is looked up as its module)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        owner = _owners().get(".".join(parts[:end]))
        if owner:
            return owner
    return None


def _with_dependencies(names: set[str]) -> set[str]:
    """The distributions ``names`` install, with their dependencies. Optional extras are left
    out, except ``grpc``, which the Google client libraries ask for; environment markers are
    not evaluated (a dependency for another Python counts as installed)."""
    todo, seen = list(names), set(names)
    while todo:
        try:
            requires = metadata.requires(todo.pop()) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement and "grpc" not in requirement:
                continue  # an optional extra the function does not ask for (grpc is asked for)
            match = _NAME.match(requirement)
            if match and (name := _normal(match.group(1))) not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def _listed(path: Path) -> set[str]:
    lines = (line.split("#", 1)[0] for line in path.read_text().splitlines())
    return {_normal(m.group(1)) for line in lines if (m := _NAME.match(line))}


def missing_requirements(
    function: dict[str, str], listed: set[str] | None = None
) -> dict[str, str]:
    """Imported module -> its distribution, for each one the function's requirements (or
    ``listed``) miss."""
    folder = REPO / function["source"]
    files = [folder / "main.py"]
    for name in _modules_reached(folder / "main.py"):
        for candidate in (
            REPO / (name.replace(".", "/") + ".py"),
            REPO / name.replace(".", "/") / "__init__.py",
        ):
            if candidate.is_file() and candidate not in files:
                files.append(candidate)
    clients_file = REPO / "shared" / "clients.py"
    top, factories = _client_factories()
    imported = set()
    for path in files:
        if path == clients_file:
            imported |= top
        else:
            imported |= _third_party_imports(path)
            for factory in _factories_used(path) & set(factories):
                imported |= factories[factory]
    if listed is None:
        listed = _listed(folder / "requirements.txt")
    installed = _with_dependencies(listed)
    missing = {}
    for module in imported:
        owner = _owner(module)  # None: a namespace alone (google.cloud), nothing to install
        if owner is not None and owner not in installed:
            missing[module] = owner
    return missing


def test_every_function_installs_what_its_code_imports() -> None:
    functions = manifest()["functions"]
    assert functions
    problems = {fn["name"]: missing_requirements(fn) for fn in functions}
    assert {name: found for name, found in problems.items() if found} == {}


def test_the_root_requirements_hold_every_function_s() -> None:
    root = _listed(REPO / "requirements.txt")
    for fn in manifest()["functions"]:
        assert _listed(REPO / fn["source"] / "requirements.txt") <= root, fn["name"]


def test_a_requirement_left_out_is_caught() -> None:
    quota_api = next(fn for fn in manifest()["functions"] if fn["name"] == "quota-api")
    listed = _listed(REPO / quota_api["source"] / "requirements.txt")
    missing = missing_requirements(quota_api, listed - {"google-cloud-firestore"})
    assert "google-cloud-firestore" in missing.values()
