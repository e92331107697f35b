"""Terraform's own expansion of resource names and references, evaluated offline.

``terraform plan`` cannot run here (no provider download), yet the commonest apply failures are
visible without a provider: two resource instances with one name (a 409 at apply), a name the API
refuses (too long, bad characters), an index into a ``for_each`` map that has no such key.

This module reads every ``.tf`` file with python-hcl2 (raw expressions), turns each resource's
identity attributes (``name``, ``account_id``, ``dataset_id``/``table_id``...) into a Terraform
expression over its ``for_each``/``count``, resolves references to other resources' identities,
and has the real ``terraform console`` evaluate them all in one call, over a provider-free copy of
the configuration: ``variables.tf`` plus every ``locals`` entry that needs no resource.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

# Attributes that together name an instance in its API's namespace (the scope comes first).
IDENTITY: dict[str, tuple[str, ...]] = {
    "google_bigquery_dataset": ("dataset_id",),
    "google_bigquery_row_access_policy": ("dataset_id", "table_id", "policy_id"),
    "google_bigquery_table": ("dataset_id", "table_id"),
    "google_cloud_scheduler_job": ("name",),
    "google_cloud_tasks_queue": ("name",),
    "google_cloudfunctions2_function": ("name",),
    "google_eventarc_trigger": ("name",),
    "google_firestore_database": ("name",),
    "google_iam_workload_identity_pool": ("workload_identity_pool_id",),
    "google_iam_workload_identity_pool_provider": (
        "workload_identity_pool_id",
        "workload_identity_pool_provider_id",
    ),
    "google_kms_crypto_key": ("key_ring", "name"),
    "google_kms_key_ring": ("name",),
    "google_logging_metric": ("name",),
    "google_pubsub_subscription": ("name",),
    "google_pubsub_topic": ("name",),
    "google_secret_manager_secret": ("secret_id",),
    "google_service_account": ("account_id",),
    "google_storage_bucket": ("name",),
}
# What each API accepts as the last identity part (an apply fails otherwise).
VALID_NAME: dict[str, re.Pattern[str]] = {
    "google_service_account": re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"),
    "google_pubsub_topic": re.compile(r"^(?!goog)[A-Za-z][A-Za-z0-9_.~+%-]{2,254}$"),
    "google_pubsub_subscription": re.compile(r"^(?!goog)[A-Za-z][A-Za-z0-9_.~+%-]{2,254}$"),
    "google_storage_bucket": re.compile(r"^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$"),
    "google_secret_manager_secret": re.compile(r"^[A-Za-z0-9_-]{1,255}$"),
    "google_cloudfunctions2_function": re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$"),
    "google_eventarc_trigger": re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$"),
    "google_cloud_scheduler_job": re.compile(r"^[A-Za-z0-9_-]{1,500}$"),
    "google_bigquery_table": re.compile(r"^[A-Za-z0-9_]{1,1024}$"),
    "google_bigquery_dataset": re.compile(r"^[A-Za-z0-9_]{1,1024}$"),
}
STUB_TFVARS = """\
project_id        = "acme-prod-42"
environment       = "prod"
github_repository = "acme/plumbing"
alert_emails      = ["oncall@example.com"]
billing_account   = "000000-000000-000000"
"""
_REF = re.compile(r"\b(module\.\w+|google_\w+\.\w+)(\[((?:[^\[\]]|\[[^\[\]]*\])+)\])?((?:\.\w+)*)")
_EACH_VALUE_PLAIN = re.compile(r"\beach\.value\b")
_OUT_OF_SCOPE = re.compile(r"\b(?:data|module|google_\w+)\.\w+|\bself\.")


# ------------------------------------------------------------------ raw HCL -> expression text
def expr(raw: Any) -> str:  # noqa: PLR0911 - one return per kind of HCL value
    """HCL expression text of a python-hcl2 raw value (``${x}`` -> ``x``; strings stay quoted)."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    if raw is None:
        return "null"
    if isinstance(raw, list):
        return "[" + ", ".join(expr(v) for v in raw) + "]"
    if isinstance(raw, dict):
        items = (f"{k} = {expr(v)}" for k, v in raw.items() if k != "__is_block__")
        return "{" + ", ".join(items) + "}"
    text = str(raw)
    if text.startswith("${") and text.endswith("}") and _balanced(text[2:-1]):
        return text[2:-1]
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _label(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


@dataclass
class Block:
    """One resource (or a module's resource seen through its module call)."""

    kind: str
    name: str
    file: str
    body: dict[str, Any]
    for_each: str | None = None
    count: str | None = None
    # module resources: var.X -> the module call's argument expression
    module_args: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.name}"

    def identity(self) -> list[str] | None:
        attrs = IDENTITY.get(self.kind)
        if not attrs or any(a not in self.body for a in attrs):
            return None
        parts = [self._resolve_vars(expr(self.body[a])) for a in attrs]
        if any(p is None for p in parts):
            return None
        return [p for p in parts if p is not None]

    def _resolve_vars(self, text: str) -> str | None:
        if not self.module_args:
            return text
        if re.search(r"\b(local|data|module|google_\w+)\.", text):
            return None

        def swap(match: re.Match[str]) -> str:
            return f"({self.module_args[match.group(1)]})"

        if any(v not in self.module_args for v in re.findall(r"\bvar\.(\w+)", text)):
            return None
        return re.sub(r"\bvar\.(\w+)", swap, text)


def load_blocks(root: Path) -> list[Block]:
    """Every resource of the root module, and the resources of each called local module."""
    blocks: list[Block] = []
    for path in sorted(root.glob("*.tf")):
        doc = hcl2.loads(path.read_text())
        for group in doc.get("resource", []):
            for kind, items in group.items():
                for name, body in items.items():
                    blocks.append(_block(_label(kind), _label(name), path.name, body))
        for group in doc.get("module", []):
            for name, body in group.items():
                source = _label(str(body.get("source", "")))
                if not source.startswith("./"):
                    continue
                args = {k: expr(v) for k, v in body.items() if k not in ("__is_block__",)}
                for sub in sorted((root / source).glob("*.tf")):
                    sub_doc = hcl2.loads(sub.read_text())
                    for sub_group in sub_doc.get("resource", []):
                        for kind, items in sub_group.items():
                            for rname, rbody in items.items():
                                block = _block(
                                    _label(kind),
                                    f"{_label(name)}.{_label(rname)}",
                                    f"{source}/{sub.name}",
                                    rbody,
                                )
                                block.for_each = args.get("for_each")
                                block.count = args.get("count")
                                block.module_args = args
                                blocks.append(block)
    return blocks


def _block(kind: str, name: str, file: str, body: dict[str, Any]) -> Block:
    return Block(
        kind,
        name,
        file,
        body,
        expr(body["for_each"]) if "for_each" in body else None,
        expr(body["count"]) if "count" in body else None,
    )


# ------------------------------------------------------------------ provider-free config
def evaluable_locals(root: Path) -> str:
    """Every ``locals`` entry of ``root/*.tf`` that references no resource, data source or module
    (directly or through another local), as HCL text. Relies on `terraform fmt` layout."""
    entries: dict[str, str] = {}
    for path in sorted(root.glob("*.tf")):
        for block in re.findall(r"^locals \{\n(.*?)^\}", path.read_text(), re.M | re.S):
            current: list[str] = []
            for line in block.splitlines():
                match = re.match(r"^  ([A-Za-z_][\w-]*)\s*=", line)
                if match:
                    current = [line]
                    entries[match.group(1)] = ""
                    key = match.group(1)
                elif current:
                    current.append(line)
                else:
                    continue
                entries[key] = "\n".join(current)
    dropped = {name for name, text in entries.items() if _OUT_OF_SCOPE.search(_code(text))}
    changed = True
    while changed:
        changed = False
        for name, text in entries.items():
            if name in dropped:
                continue
            if any(ref in dropped for ref in re.findall(r"\blocal\.(\w+)", text)):
                dropped.add(name)
                changed = True
    kept = [text for name, text in entries.items() if name not in dropped]
    return "locals {\n" + "\n".join(kept) + "\n}\n"


def _code(text: str) -> str:
    """The text without comments (an address named in a comment is no reference)."""
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def console(
    expressions: dict[str, str],
    work: Path,
    root: Path,
    shared_dir: Path,
    tfvars: str = STUB_TFVARS,
) -> dict[str, Any]:
    """Evaluate ``{name: expression}`` with `terraform console` over the provider-free config."""
    tf = work / "terraform"
    tf.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "variables.tf", tf / "variables.tf")
    (tf / "locals.tf").write_text(evaluable_locals(root))
    (tf / "terraform.tfvars").write_text(tfvars)
    link = work / "shared"
    if not link.exists():
        link.symlink_to(shared_dir.resolve(), target_is_directory=True)
    keys = list(expressions)
    body = "\n".join(f"    e{i} = {expressions[k]}" for i, k in enumerate(keys))
    (tf / "zz_expand.tf").write_text(f"locals {{\n  zz_expand = {{\n{body}\n  }}\n}}\n")
    result = subprocess.run(
        ["terraform", "console"],
        input="jsonencode(local.zz_expand)\n",
        capture_output=True,
        text=True,
        cwd=tf,
        timeout=180,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"terraform console failed: {result.stderr}")
    line = [ln for ln in result.stdout.splitlines() if ln.startswith('"')][-1]
    data: dict[str, Any] = json.loads(json.loads(line))
    return {key: data[f"e{i}"] for i, key in enumerate(keys)}


# ------------------------------------------------------------------ expansion
@dataclass
class Expansion:
    names: dict[str, str] = field(default_factory=dict)  # block address -> list expression
    refs: dict[str, str] = field(default_factory=dict)  # "where -> target" -> object expression
    skipped: list[str] = field(default_factory=list)


def _iterate(block: Block, inner: str) -> str:
    """A list expression: ``inner`` for every instance of ``block``."""
    inner = inner.replace("each.key", "each_key").replace("count.index", "count_index")
    inner = _EACH_VALUE_PLAIN.sub("each_value", inner)
    if block.for_each is not None:
        return f"flatten([for each_key, each_value in {block.for_each} : [{inner}]])"
    if block.count is not None:
        return f"flatten([for count_index in range({block.count}) : [{inner}]])"
    return f"flatten([[{inner}]])"


def _resolve(text: str, by_address: dict[str, Block], depth: int = 0) -> str | None:
    """Replace references to other resources' identity attributes by their expressions."""
    if depth > 4:
        return None
    failed = False

    def swap(match: re.Match[str]) -> str:
        nonlocal failed
        address, index, attrs = match.group(1), match.group(3), match.group(4)
        target = by_address.get(address)
        attr = attrs.split(".")[1] if attrs else ""
        if target is None or target.kind not in IDENTITY:
            failed = True
            return match.group(0)
        wanted = IDENTITY[target.kind]
        if attr in wanted:
            part = expr(target.body[attr])
        elif attr in ("id", "name"):
            part = f'join("/", [{", ".join(expr(target.body[a]) for a in wanted)}])'
        else:
            failed = True
            return match.group(0)
        if index is not None:
            if target.for_each is None and target.count is None:
                failed = True
                return match.group(0)
            # one pass, or the index's own each.value would be substituted again
            value = f"({target.for_each})[{index}]" if target.for_each else "null"
            part = re.sub(
                r"\beach\.key\b|\bcount\.index\b|\beach\.value\b",
                lambda m: value if m.group(0) == "each.value" else f"({index})",
                part,
            )
        resolved = _resolve(part, by_address, depth + 1)
        if resolved is None:
            failed = True
            return match.group(0)
        return f"({resolved})"

    out = _REF.sub(swap, text)
    return None if failed else out


def expand(blocks: list[Block]) -> Expansion:
    """Console expressions for every identity and every indexed reference."""
    by_address = {b.address: b for b in blocks if "." not in b.name}
    result = Expansion()
    for block in blocks:
        parts = block.identity()
        if parts is None:
            if block.kind in IDENTITY:
                result.skipped.append(f"{block.address}: identity not evaluable offline")
            continue
        resolved = [_resolve(p, by_address) for p in parts]
        if any(r is None for r in resolved):
            result.skipped.append(f"{block.address}: identity refers to unresolvable values")
            continue
        joined = f'join("/", [{", ".join(f"tostring({r})" for r in resolved if r)}])'
        result.names[block.address] = _iterate(block, joined)
    for block in blocks:
        if block.module_args:
            continue
        for where, text, dynamic in _expressions(block.body, ""):
            for match in _REF.finditer(text):
                address, index = match.group(1), match.group(3)
                target = by_address.get(address)
                if address.startswith("module."):
                    target = _module_target(blocks, address)
                if index is None or target is None or target.for_each is None:
                    continue
                if not _evaluable(index, dynamic):
                    continue
                idx = index
                for label, _ in dynamic:
                    idx = idx.replace(f"{label}.value", f"{label}_value")
                key = f"{block.address}.{where} -> {address}[{index}]"
                inner = f"[for {_fors(dynamic, idx)}]" if dynamic else f"tostring({idx})"
                values = _iterate(block, inner)
                result.refs[key] = (
                    f"{{values = {values}, keys = [for k, v in {target.for_each} : k]}}"
                )
    return result


def _fors(dynamic: list[tuple[str, str]], idx: str) -> str:
    """Nested for clauses for dynamic-block iterators (outermost first)."""
    label, for_each = dynamic[0]
    rest = dynamic[1:]
    inner = f"[for {_fors(rest, idx)}]" if rest else f"tostring({idx})"
    return f"{label}_value in {_scoped(for_each)} : {inner}"


def _scoped(text: str) -> str:
    text = text.replace("each.key", "each_key")
    return _EACH_VALUE_PLAIN.sub("each_value", text)


def _module_target(blocks: list[Block], address: str) -> Block | None:
    name = address.split(".", 1)[1]
    for block in blocks:
        if block.module_args and block.name.startswith(f"{name}."):
            return block
    return None


def _evaluable(index: str, dynamic: list[tuple[str, str]]) -> bool:
    allowed = {"each", "var", "local", "count", "null", "true", "false"}
    allowed |= {label for label, _ in dynamic}
    code = re.sub(r'"[^"]*"', '""', index)
    words = re.findall(r"(?<![.\w])([A-Za-z_]\w*)(?=\s*[.\[]|\s*$|\s*[^\w(])", code)
    functions = set(re.findall(r"([A-Za-z_]\w*)\s*\(", code))
    return all(w in allowed or w in functions for w in words)


def _expressions(
    body: dict[str, Any], prefix: str, dynamic: list[tuple[str, str]] | None = None
) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(attribute path, expression text, enclosing dynamic blocks) of every attribute."""
    dynamic = dynamic or []
    found: list[tuple[str, str, list[tuple[str, str]]]] = []
    for key, value in body.items():
        if key in ("__is_block__", "depends_on", "lifecycle"):
            continue
        path = f"{prefix}{key}"
        if key == "dynamic" and isinstance(value, list):
            for group in value:
                for label, inner in group.items():
                    name = _label(label)
                    for_each = expr(inner.get("for_each", "[]"))
                    for content in inner.get("content", []):
                        found += _expressions(
                            content, f"{path}.{name}.", [*dynamic, (name, for_each)]
                        )
            continue
        if (
            isinstance(value, list)
            and value
            and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
        ):
            for item in value:
                found += _expressions(item, f"{path}.", dynamic)
            continue
        found.append((path, expr(value), dynamic))
    return found


# ------------------------------------------------------------------ checks
def check_names(evaluated: dict[str, Any], blocks: list[Block]) -> list[str]:
    """Every instance name unique per resource type (scope included) and valid for its API."""
    problems: list[str] = []
    kinds = {b.address: b.kind for b in blocks}
    seen: dict[tuple[str, str], str] = {}
    for key, names in sorted(evaluated.items()):
        if not key.startswith("name:"):
            continue
        address = key[5:]
        kind = kinds[address]
        for name in names:
            where = seen.get((kind, name))
            if where is not None:
                problems.append(f"{kind} name {name!r} twice: {where} and {address}")
            seen[(kind, name)] = address
            last = name.rsplit("/", 1)[-1]
            pattern = VALID_NAME.get(kind)
            if pattern and not pattern.match(last):
                problems.append(f"{address}: {kind} name {last!r} is not accepted by the API")
    return problems


def check_refs(evaluated: dict[str, Any]) -> list[str]:
    """Every ``resource[index]`` reference names an instance that exists."""
    problems: list[str] = []
    for key, value in sorted(evaluated.items()):
        if not key.startswith("ref:"):
            continue
        missing = sorted(set(value["values"]) - set(value["keys"]))
        if missing:
            problems.append(f"{key[4:]}: no instance {missing}")
    return problems


def evaluate(
    work: Path, root: Path, shared_dir: Path, tfvars: str = STUB_TFVARS
) -> tuple[dict[str, Any], list[Block], Expansion]:
    blocks = load_blocks(root)
    plan = expand(blocks)
    expressions = {f"name:{k}": v for k, v in plan.names.items()}
    expressions |= {f"ref:{k}": v for k, v in plan.refs.items()}
    return console(expressions, work, root, shared_dir, tfvars), blocks, plan


def check_all(work: Path, root: Path, shared_dir: Path) -> list[str]:
    evaluated, blocks, _ = evaluate(work, root, shared_dir)
    return check_names(evaluated, blocks) + check_refs(evaluated)
