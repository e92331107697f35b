"""README.md and docs/*.md cannot drift silently from the repository.

- every ``make <target>`` they mention as a command (in inline code or a code block) is a target
  of the Makefile;
- every repository path they mention exists: relative links, and paths in inline code or code
  blocks that start with a top-level folder of the repository (``shared/...``, ``tests/...``);
- every ``python -m`` module of this repository they run exists, and every ``plumb`` command
  line names real sub-commands;
- every environment variable they name in inline code (``UPLOADS_MAX_BYTES``) is read or set
  somewhere in the code, the Makefile, Terraform or CI, and README's configuration reference
  names every core setting of ``shared/settings.py``;
- every bare file name in inline code (``constraints.txt``, ``retries.py``) is a file somewhere
  in the repository.

Files that only exist at run time (``.local/``, ``.venv/``, benchmark results) and placeholders
(``functions/<name>/main.py``, ``functions/NAME/main.py``, ``bench/*.py``) are not paths.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "terraform" / "README.md"]
# Written by the stack, the benches or the tests, never committed.
GENERATED_PREFIXES = (".local/", ".venv/", ".venv-checkov/", ".emulators/", "bench/results/")
GENERATED_NAMES = {"stack.json", "stack.env", "latest.json", "console.png"}
FILE_SUFFIXES = ("py", "json", "txt", "sh", "tf", "md", "toml", "sql", "html", "cfg", "ini")

_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
_INLINE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
_PATH = re.compile(r"(?<![\w./$-])(\.?[\w-]+(?:/[\w.@-]+)+/?)")
_BARE_FILE = re.compile(rf"^[\w-]+(?:\.[\w-]+)*\.(?:{'|'.join(FILE_SUFFIXES)})$")
_MAKE = re.compile(r"\bmake ([a-z][\w-]*)")
_MODULE = re.compile(r"python -m ([a-z_][\w.]*)")
_PLUMB = re.compile(r"\bplumb((?: +[\w\[\]|\\<>=.-]+)+)")


@cache
def _tracked() -> frozenset[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return frozenset(out.split())


@cache
def _top_level() -> frozenset[str]:
    return frozenset(p.split("/", 1)[0] for p in _tracked() if "/" in p)


def _exists(path: str, base: Path) -> bool:
    path = path.rstrip("/")
    return (REPO / path).exists() or (base / path).exists()


def _generated(path: str) -> bool:
    return path.startswith(GENERATED_PREFIXES) or path.rsplit("/", 1)[-1] in GENERATED_NAMES


def _placeholder(path: str) -> bool:
    return bool(re.search(r"[<>*{}$]|\b[A-Z]{2,}\b", path))


# What a stack writes in its state folder (.local/run for `make run`, .local/test for tests,
# STACK_STATE_DIR=.local/<name> for side-by-side sessions): never directly under .local/.
_STATE_FILE = re.compile(r"^\.local/(?:[^/]+/)?(stack\.json|stack\.env|logs)(?:/|$)")
_IN_STATE_DIR = re.compile(r"^\.local/[\w-]+/(stack\.json|stack\.env|logs)(?:/|$)")


def _runtime_path_ok(path: str) -> bool:
    """A stack file named under .local/ lies in a state folder (``.local/run/stack.json``)."""
    return not _STATE_FILE.match(path) or bool(_IN_STATE_DIR.match(path))


def _missing_paths(doc: Path) -> list[str]:
    text = doc.read_text()
    fenced = _FENCE.findall(text)
    prose = _FENCE.sub("", text)
    missing = []
    for target in _LINK.findall(prose):
        if not re.match(r"^[a-z]+:", target) and not _exists(target, doc.parent):
            missing.append(f"link {target}")
    spans = _INLINE.findall(prose)
    for chunk in [*spans, *fenced]:
        for found in _PATH.findall(chunk):
            path = found.rstrip(".,:;")
            if not _runtime_path_ok(path):
                missing.append(path)
            head = path.split("/", 1)[0]
            if head not in _top_level() or _generated(path) or _placeholder(path):
                continue
            if not _exists(path, doc.parent):
                missing.append(path)
    names = {p.rsplit("/", 1)[-1] for p in _tracked()}
    for span in spans:
        name = span.strip()
        if _BARE_FILE.match(name) and name not in GENERATED_NAMES and name not in names:
            missing.append(name)
    return missing


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_repository_path_exists(doc: Path) -> None:
    assert _missing_paths(doc) == []


def _make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*)\s*:(?!=)", text, re.M))


def _make_commands(text: str) -> set[str]:
    return {target for chunk in _code(text) for target in _MAKE.findall(chunk)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_make_target_exists(doc: Path) -> None:
    assert _make_commands(doc.read_text()) - _make_targets() == set()


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The extractors see what a drifting page would say."""
    page = tmp_path / "page.md"
    page.write_text(
        "Run `make nonsense`; see [x](docs/nope.md), `shared/nope.py`, `nope_at_all.py`.\n"
        "```bash\n.venv/bin/python -m x shared/also_nope/thing.py\n```\n"
        "Wrong too: `.local/stack.json`.\n"
        "Fine: `shared/settings.py`, `functions/<name>/main.py`, `.local/run/stack.json`, "
        "`image/jpeg`, `constraints.txt`.\n"
    )
    assert _missing_paths(page) == [
        "link docs/nope.md",
        "shared/nope.py",
        ".local/stack.json",
        "shared/also_nope/thing.py",
        "nope_at_all.py",
    ]
    assert _make_commands(page.read_text() + "prose: make sure\n") - _make_targets() == {"nonsense"}


def _code(text: str) -> list[str]:
    return _FENCE.findall(text) + _INLINE.findall(_FENCE.sub("", text))


def _missing_modules(text: str) -> set[str]:
    missing = set()
    for chunk in _code(text):
        for module in _MODULE.findall(chunk):
            path = REPO / module.replace(".", "/")
            if module.split(".")[0] not in _top_level():
                continue  # pytest, pip...: not ours
            if not (path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()):
                missing.add(module)
    return missing


def _unknown_plumb_commands(text: str) -> set[str]:
    """``plumb ...`` lines whose words do not walk down to a real command of the CLI, or that
    use an option the command (or ``plumb`` itself) does not have."""
    import click

    from ops import commands
    from ops.app import cli

    commands.register(cli)  # what `plumb` does at start (idempotent)
    ctx = click.Context(cli)
    unknown = set()
    for chunk in _code(text):
        for line in _PLUMB.findall(chunk):
            command: click.Command = cli
            options = {o for p in cli.params for o in p.opts}
            for raw in line.split():
                # `a\|b` / `a|b`: alternatives (sub-commands or values), each must exist
                words = [w for w in re.split(r"\\?\|", raw.strip("[]").split("=")[0]) if w]
                if words and words[0].startswith("--"):
                    if words[0] not in options:
                        unknown.add(f"{line.strip()} ({words[0]})")
                elif isinstance(command, click.Group) and words:
                    subs = [command.get_command(ctx, w) for w in words]
                    if None in subs:
                        unknown.add(line.strip())
                        break
                    for sub in subs:
                        assert sub is not None
                        options |= {o for p in sub.params for o in p.opts}
                        command = sub
    return unknown


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_exists(doc: Path) -> None:
    text = doc.read_text()
    assert _missing_modules(text) == set()
    assert _unknown_plumb_commands(text) == set()


def test_the_command_checks_can_fail() -> None:
    text = (
        "`python -m shared.nope` `python -m pytest` `python -m shared.warehouse.audit` "
        "`plumb refresh explode` `plumb refresh history --limit 5` `plumb stack status` "
        "`plumb --json keys create --api quota [--expires-days N]` `plumb keys list --nope` "
        "`plumb keys create|list` `plumb keys create\\|nope`"
    )
    assert _missing_modules(text) == {"shared.nope"}
    assert _unknown_plumb_commands(text) == {
        "refresh explode",
        "keys list --nope (--nope)",
        "keys create\\|nope",
    }


_ENV_VAR = re.compile(r"^[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]$")


@cache
def _code_text() -> str:
    """Every tracked file that is not prose, as one text (code, Makefile, Terraform, CI)."""
    texts = []
    for name in sorted(_tracked()):
        path = REPO / name
        if name.endswith(".md") or path == Path(__file__).resolve() or not path.is_file():
            continue
        try:
            texts.append(path.read_text())
        except UnicodeDecodeError:
            continue
    return "\n".join(texts)


def _unknown_env_vars(text: str) -> set[str]:
    spans = {s.strip() for s in _INLINE.findall(_FENCE.sub("", text))}
    return {v for v in spans if _ENV_VAR.match(v) and v not in _code_text()}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_environment_variable_exists(doc: Path) -> None:
    assert _unknown_env_vars(doc.read_text()) == set()


def test_readme_documents_every_core_setting() -> None:
    from shared.settings import ENV_VARS

    readme = (REPO / "README.md").read_text()
    assert {v for v in ENV_VARS.values() if f"`{v}`" not in readme} == set()


def test_the_environment_check_can_fail() -> None:
    assert _unknown_env_vars("`UPLOADS_MAX_BYTES` and `NO_SUCH_SETTING_ANYWHERE`") == {
        "NO_SUCH_SETTING_ANYWHERE"
    }
