"""Offline cross-checks between terraform/, the resource manifest and the code.

Each ``check_*`` returns a list of problems (empty = consistent) so tests can also prove that a
mutated side makes the check fail. Terraform's manifest locals are evaluated by the real
``terraform console`` (terraform/manifest.tf needs no provider), everything else is read with
python-hcl2.
"""

from __future__ import annotations

import ast
import base64
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import hcl2
import pytest

from devstack.stack import FunctionSpec
from devstack.ticker import message_of
from shared.resources import Manifest
from shared.settings import EMULATOR_VARS, ENV_VARS

REPO = Path(__file__).resolve().parents[3]
TERRAFORM = REPO / "terraform"
CORE_ENV = sorted(v for v in ENV_VARS.values() if v not in EMULATOR_VARS)
PROJECT = "acme-prod-42"


def _policy_module() -> ModuleType:
    """The checkov policies' shared role lists (one definition for checkov and for us)."""
    path = TERRAFORM / "checks" / "policies" / "plumb_policy.py"
    spec = importlib.util.spec_from_file_location("plumb_policy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


POLICY = _policy_module()
FORBIDDEN_ROLES = {
    "roles/owner",
    "roles/editor",
    "roles/iam.securityAdmin",
    "roles/resourcemanager.organizationAdmin",
}
# Project-level grants allowed at all (no narrower scope exists, or deployer/planner needs).
# roles/datastore.user: Firestore has no narrower IAM scope than the database; terraform/
# firestore.tf conditions the grant to the one database (tests/unit/terraform/test_firestore.py).
PROJECT_ROLES_FOR_FUNCTIONS = {"roles/bigquery.jobUser", "roles/datastore.user"}
PUBLIC = ("allUsers", "allAuthenticatedUsers")
LOOKUPS = {
    "topic": "topics",
    "table": "tables",
    "subscription": "subscriptions",
    "bucket": "buckets",
    "schedule": "schedules",
    "view": "views",
    "dataset": "datasets",
}


TERRAFORM_HINT = "install Terraform >= 1.9 (https://developer.hashicorp.com/terraform/install)"


def require_terraform() -> None:
    """Fail in CI (the env var CI is set, as `.ci/run` does) when terraform is missing; skip with
    the reason elsewhere, so a laptop without Terraform still runs the rest of the suite."""
    if shutil.which("terraform"):
        return
    if os.environ.get("CI"):
        pytest.fail(f"terraform is missing in CI: {TERRAFORM_HINT}")
    pytest.skip(f"terraform is not installed (CI would fail here): {TERRAFORM_HINT}")


# ------------------------------------------------------------------ terraform evaluation
def evaluate_manifest_locals(shared_dir: Path, work: Path, manifest_tf: Path | None = None) -> Any:
    """Evaluate terraform/manifest.tf's locals with the real Terraform over ``shared_dir``."""
    (work / "terraform").mkdir(parents=True, exist_ok=True)
    shutil.copy(manifest_tf or TERRAFORM / "manifest.tf", work / "terraform" / "manifest.tf")
    (work / "terraform" / "stub_variables.tf").write_text(
        f'variable "project_id" {{ default = "{PROJECT}" }}\n'
        'variable "environment" { default = "prod" }\n'
        'variable "bigquery_location" { default = "EU" }\n'
        'variable "log_level" { default = "INFO" }\n'
        'variable "region" { default = "europe-west1" }\n'
        'variable "http_behind_load_balancer" { default = false }\n'
    )
    link = work / "shared"
    if not link.exists():
        link.symlink_to(shared_dir.resolve(), target_is_directory=True)
    names = [
        "tables",
        "views",
        "topics",
        "subscriptions",
        "buckets",
        "schedules",
        "functions",
        "queues",
        "core_env",
        "credentials_kms_key",
        "secrets",
        "extra_storage_events",
        "dead_letter_topics",
        "hold_subscriptions",
    ]
    expression = "jsonencode({" + ", ".join(f"{n} = local.{n}" for n in names) + "})\n"
    result = subprocess.run(
        ["terraform", "console"],
        input=expression,
        capture_output=True,
        text=True,
        cwd=work / "terraform",
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"terraform console failed: {result.stderr}")
    line = [ln for ln in result.stdout.splitlines() if ln.startswith('"')][-1]
    return json.loads(json.loads(line))


# ------------------------------------------------------------------ manifest vs Terraform
def check_evaluated(ev: dict[str, Any], manifest: Manifest) -> list[str]:  # noqa: PLR0912 - one branch per rule
    """Terraform's view of the manifest equals the Python manifest, item by item."""
    problems: list[str] = []

    def same_names(section: str, key: str = "name") -> None:
        want = {item[key] for item in manifest[section]}
        got = set(ev[section])
        if want != got:
            problems.append(f"{section}: manifest {sorted(want)} != terraform {sorted(got)}")

    for section in (
        "tables",
        "views",
        "topics",
        "subscriptions",
        "schedules",
        "functions",
        "queues",
    ):
        same_names(section)
    for queue in manifest["queues"]:
        got = ev["queues"].get(queue["name"], {})
        want = (queue["max_attempts"], f"{queue['min_backoff_s']}s", f"{queue['max_backoff_s']}s")
        if got and (got["max_attempts"], got["min_backoff"], got["max_backoff"]) != want:
            problems.append(f"queue {queue['name']}: retry config differs")
    same_names("buckets", "key")
    if sorted(ev["core_env"]) != CORE_ENV:
        problems.append(f"core env {sorted(ev['core_env'])} != settings {CORE_ENV}")
    for table in manifest["tables"]:
        got = ev["tables"].get(table["name"], {})
        if got.get("schema_file") != table["schema"]:
            problems.append(f"table {table['name']}: schema file differs")
        if got and json.loads(got["schema"]) != manifest.table_schema(table["name"]):
            problems.append(f"table {table['name']}: schema content differs")
        if got and got.get("clustering") != table.get("clustering", []):
            problems.append(f"table {table['name']}: clustering differs")
    for view in manifest["views"]:
        got = ev["views"].get(view["name"], {})
        if got and got["query"] != manifest.view_sql(view["name"], PROJECT):
            problems.append(f"view {view['name']}: SQL differs from the local substitution")
    for sub in manifest["subscriptions"]:
        got = ev["subscriptions"].get(sub["name"])
        if not got:
            continue
        for key in ("topic", "push_function", "dead_letter_topic"):
            if got[key] != sub.get(key):
                problems.append(f"subscription {sub['name']}: {key} differs")
        if (
            "max_delivery_attempts" in sub
            and got["max_delivery_attempts"] != sub["max_delivery_attempts"]
        ):
            problems.append(f"subscription {sub['name']}: max_delivery_attempts differs")
    for schedule in manifest["schedules"]:
        got = ev["schedules"].get(schedule["name"])
        if not got:
            continue
        data, attributes = message_of(schedule)
        if (got["cron"], got["topic"], got["time_zone"]) != (
            schedule["cron"],
            schedule["topic"],
            schedule.get("time_zone", "UTC"),
        ):
            problems.append(
                f"schedule {schedule['name']}: cron/topic/time zone differ from the ticker"
            )
        if json.loads(base64.b64decode(got["data"])) != json.loads(data):
            problems.append(f"schedule {schedule['name']}: body differs from the ticker's")
        if got["attributes"] != attributes:
            problems.append(f"schedule {schedule['name']}: attributes differ from the ticker's")
    for fn in manifest["functions"]:
        got = ev["functions"].get(fn["name"])
        if not got:
            continue
        if got["entry_point"] != fn["entry_point"] or got["source"] != fn["source"]:
            problems.append(f"function {fn['name']}: entry point or source differs")
        want_env = set(CORE_ENV) | set(fn.get("env", {})) | {"THREADS"}
        problems += _serving_problems(fn, got)
        if fn.get("access", {}).get("kms"):
            want_env.add("CREDENTIALS_KMS_KEY")  # the key its grant is on (iam.tf)
        if set(got["env"]) != want_env:
            problems.append(
                f"function {fn['name']}: env {sorted(got['env'])} != {sorted(want_env)}"
            )
        if set(got["env"]) & set(EMULATOR_VARS):
            problems.append(f"function {fn['name']}: emulator variables set in the cloud")
        if set(got["secrets"]) != set(fn.get("secrets", [])):
            problems.append(f"function {fn['name']}: secrets differ")
        want_ingress = (
            {"all": "ALLOW_ALL", "internal": "ALLOW_INTERNAL_ONLY"}[
                fn.get(
                    "ingress", "all" if fn.get("trigger", {}).get("type") == "http" else "internal"
                )
            ]
            if fn.get("ingress") in (None, "all", "internal")
            else "ALLOW_INTERNAL_AND_GCLB"
        )
        if got.get("ingress") != want_ingress:
            problems.append(
                f"function {fn['name']}: ingress {got.get('ingress')} != {want_ingress}"
            )
        if got["env"].get("APP_ENV") != "prod" or got["env"].get("PROJECT_ID") != PROJECT:
            problems.append(f"function {fn['name']}: core settings not wired from variables")
    return problems


def _serving_problems(fn: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """The cloud serves a function as the stack does (concurrency, and as many gunicorn threads,
    ``THREADS``), with the vCPU Cloud Run demands for it: concurrency > 1 below 1 vCPU is refused
    at deploy ("Total cpu < 1 is not supported with concurrency > 1"; 512Mi alone gives 0.333)."""
    concurrency = FunctionSpec.from_manifest(fn).concurrency
    problems = []
    if got.get("concurrency") != concurrency:
        problems.append(
            f"function {fn['name']}: concurrency {got.get('concurrency')} != {concurrency}"
        )
    if got["env"].get("THREADS") != str(concurrency):
        problems.append(
            f"function {fn['name']}: THREADS {got['env'].get('THREADS')!r} != {concurrency}"
        )
    if concurrency > 1 and float(got.get("cpu") or 0) < 1:
        problems.append(
            f"function {fn['name']}: concurrency {concurrency} needs at least 1 vCPU, "
            f"cpu is {got.get('cpu')!r}"
        )
    return problems


# ------------------------------------------------------------------ manifest vs code
def _env_reads(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        target: ast.expr | None = None
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            target = node.slice
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and (
                (node.func.attr in ("get", "pop") and _is_environ(node.func.value) and node.args)
                or (node.func.attr == "getenv" and node.args)
            )
        ):
            target = node.args[0]
        if isinstance(target, ast.Constant) and isinstance(target.value, str):
            names.add(target.value)
    return names


def _is_environ(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _manifest_lookups(tree: ast.AST) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in LOOKUPS
            and isinstance(node.func.value, ast.Call)  # manifest().topic("x")
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add((node.func.attr, node.args[0].value))
    return found


def check_code(repo: Path, manifest: Manifest) -> list[str]:
    """Every function folder is declared, its entry point exists, its env vars are declared,
    and every literal manifest lookup in the code names something the manifest declares."""
    problems: list[str] = []
    declared = {fn["source"]: fn for fn in manifest["functions"]}
    folders = sorted(p.parent for p in (repo / "functions").glob("*/main.py"))
    for folder in folders:
        source = f"functions/{folder.name}"
        if source not in declared:
            problems.append(f"{source} has no manifest function entry (it would not be deployed)")
    for fn in manifest["functions"]:
        folder = repo / fn["source"]
        main = folder / "main.py"
        if not main.is_file():
            problems.append(f"function {fn['name']}: {fn['source']}/main.py is missing")
            continue
        if not (folder / "requirements.txt").is_file():
            problems.append(f"function {fn['name']}: {fn['source']}/requirements.txt is missing")
        tree = ast.parse(main.read_text())
        top = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        top |= {
            t.id
            for n in tree.body
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        top |= {
            a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names
        }
        if fn["entry_point"] not in top:
            problems.append(
                f"function {fn['name']}: entry point {fn['entry_point']!r} not in main.py"
            )
        allowed = set(ENV_VARS.values()) | set(fn.get("env", {})) | set(fn.get("secrets", []))
        allowed |= set(fn.get("local_env", {})) & set(fn.get("secrets", []))
        for path in sorted(folder.rglob("*.py")):
            sub = ast.parse(path.read_text())
            for var in sorted(_env_reads(sub) - allowed):
                problems.append(
                    f"function {fn['name']}: {path.name} reads {var} that the manifest does not set"
                )
            for kind, name in sorted(_manifest_lookups(sub)):
                key = "key" if kind == "bucket" else ("id" if kind == "dataset" else "name")
                if name not in {item.get(key) for item in manifest[LOOKUPS[kind]]}:
                    problems.append(
                        f"function {fn['name']}: {path.name} uses {kind} {name!r}"
                        " not in the manifest"
                    )
    return problems


# ------------------------------------------------------------------ HCL wiring and IAM
def parse_terraform(root: Path = TERRAFORM) -> dict[str, dict[str, Any]]:
    """Every .tf file under ``root`` (modules included), parsed; key = relative path."""
    parsed: dict[str, dict[str, Any]] = {}
    for path in sorted(root.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        with path.open() as handle:
            parsed[str(path.relative_to(root))] = _normalize(hcl2.load(handle))
    return parsed


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def _normalize(value: Any) -> Any:
    """python-hcl2 8.x keeps the quotes of labels and string literals: drop them."""
    if isinstance(value, dict):
        return {_unquote(k): _normalize(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, str):
        return _unquote(value)
    return value


def resources(parsed: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for doc in parsed.values():
        for block in doc.get("resource", []):
            for name, body in block.get(kind, {}).items():
                found[name] = body
    return found


def _module(parsed: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    for doc in parsed.values():
        for block in doc.get("module", []):
            if name in block:
                body: dict[str, Any] = block[name]
                return body
    return {}


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def check_wiring(parsed: dict[str, dict[str, Any]]) -> list[str]:
    """Every manifest section is deployed by iterating over its local, with the right fields."""
    problems: list[str] = []

    def expect(where: str, got: Any, want: str) -> None:
        if _first(got) != want:
            problems.append(f"{where} is {got!r}, expected {want!r}")

    mod = _module(parsed, "function")
    expect("module.function.for_each", mod.get("for_each"), "${local.functions}")
    expect("module.function.source", mod.get("source"), "./modules/function")
    expect("module.function.runtime", mod.get("runtime"), "python313")
    for attr in (
        "entry_point",
        "env",
        "secrets",
        "concurrency",
        "memory",
        "timeout_s",
        "min_instances",
        "max_instances",
        "trigger_type",
        "ingress",
    ):
        expect(f"module.function.{attr}", mod.get(attr), f"${{each.value.{attr}}}")
    fn = resources(parsed, "google_cloudfunctions2_function").get("this", {})
    build = _first(fn.get("build_config", [{}]))
    service = _first(fn.get("service_config", [{}]))
    expect("function build_config.runtime", build.get("runtime"), "${var.runtime}")
    expect("function build_config.entry_point", build.get("entry_point"), "${var.entry_point}")
    expect("function environment_variables", service.get("environment_variables"), "${var.env}")
    expect("function ingress_settings", service.get("ingress_settings"), "${var.ingress}")
    expect(
        "function build service account",
        build.get("service_account"),
        "${var.build_service_account}",
    )
    expect("function kms_key_name", fn.get("kms_key_name"), "${var.kms_key_name}")
    if not str(mod.get("build_service_account", "")).startswith("${google_service_account.build"):
        problems.append("module.function.build_service_account is not the dedicated build identity")
    expect(
        "function concurrency",
        service.get("max_instance_request_concurrency"),
        "${var.concurrency}",
    )
    # a storage trigger lives where its bucket does (test_locations.py)
    where = "${local.storage_trigger_location}"
    expect("module.function.trigger_region", mod.get("trigger_region"), where)
    storage_trigger: dict[str, Any] = next(
        (d["event_trigger"] for d in fn.get("dynamic", []) if "event_trigger" in d), {}
    )
    expect(
        "function event_trigger.trigger_region",
        _first(storage_trigger.get("content", [{}])).get("trigger_region"),
        "${var.trigger_region}",
    )
    extra = resources(parsed, "google_eventarc_trigger").get("storage_extra", {})
    expect("google_eventarc_trigger.storage_extra.location", extra.get("location"), where)
    for kind, name, local in (
        ("google_bigquery_dataset", "this", "local.datasets"),
        ("google_bigquery_table", "this", "local.tables"),
        ("google_bigquery_table", "view", "local.views"),
        ("google_pubsub_topic", "this", "local.topics"),
        ("google_pubsub_subscription", "this", "local.subscriptions"),
        ("google_storage_bucket", "manifest", "local.buckets"),
        ("google_cloud_scheduler_job", "this", "local.schedules"),
        ("google_service_account", "function", "local.functions"),
    ):
        body = resources(parsed, kind).get(name)
        if body is None:
            problems.append(f"{kind}.{name} is missing")
        else:
            expect(f"{kind}.{name}.for_each", body.get("for_each"), f"${{{local}}}")
    table = resources(parsed, "google_bigquery_table").get("this", {})
    expect("table schema", table.get("schema"), "${each.value.schema}")
    job = resources(parsed, "google_cloud_scheduler_job").get("this", {})
    target = _first(job.get("pubsub_target", [{}]))
    expect("scheduler data", target.get("data"), "${each.value.data}")
    expect("scheduler schedule", job.get("schedule"), "${each.value.cron}")
    return problems


def check_roles(parsed: dict[str, dict[str, Any]]) -> list[str]:  # noqa: PLR0912 - one branch per rule
    """No broad role anywhere; function identities get nothing project-wide but job creation."""
    problems: list[str] = []
    local_values: dict[str, Any] = {}
    for doc in parsed.values():
        for local_block in doc.get("locals", []):
            local_values.update(local_block)
    for doc_name, doc in parsed.items():
        for block in doc.get("resource", []):
            for kind, items in block.items():
                if kind.endswith(("_iam_binding", "_iam_policy")) and kind.startswith(
                    "google_project"
                ):
                    problems.append(f"{doc_name}: authoritative {kind} would wipe other grants")
                for name, body in items.items():
                    role = str(_first(body.get("role", "")))
                    member = str(_first(body.get("member", "")))
                    members = [member, *[str(m) for m in body.get("members", [])]]
                    roles = [role]
                    if role.startswith("${each"):  # roles from the for_each set or a local
                        source = str(body.get("for_each", ""))
                        for local_name in re.findall(r"local\.(\w+)", source):
                            source += json.dumps(local_values.get(local_name, ""))
                        roles = re.findall(r"roles/[A-Za-z.]+", source)
                    for granted in roles:
                        if granted in FORBIDDEN_ROLES:
                            problems.append(f"{kind}.{name}: broad role {granted}")
                    if any(p in m for p in PUBLIC for m in members):
                        problems.append(f"{kind}.{name}: public member")
                    if (
                        kind == "google_project_iam_member"
                        and "google_service_account.function" in member
                        and role not in PROJECT_ROLES_FOR_FUNCTIONS
                    ):
                        problems.append(
                            f"{kind}.{name}: function identity gets {role} project-wide"
                        )
                    if (
                        kind == "google_project_iam_member"
                        and role
                        in (
                            "roles/bigquery.dataEditor",
                            "roles/bigquery.dataOwner",
                            "roles/storage.objectAdmin",
                            "roles/storage.admin",
                            "roles/pubsub.editor",
                        )
                        and "deployer" not in member
                    ):
                        problems.append(f"{kind}.{name}: {role} at project level")
    return problems


# ------------------------------------------------------------------ CI identities and data access
DEPLOYER_FORBIDDEN = FORBIDDEN_ROLES | POLICY.DEPLOYER_FORBIDDEN | POLICY.NEEDS_CONDITION
PLANNER_FORBIDDEN: set[str] = POLICY.PLANNER_FORBIDDEN
_ROLE = re.compile(r"roles/[A-Za-z.]+")


def _locals(parsed: dict[str, dict[str, Any]], prefix: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, doc in parsed.items():
        if name.startswith(prefix):
            for block in doc.get("locals", []):
                values.update(block)
    return values


def _scope(parsed: dict[str, dict[str, Any]], bootstrap: bool) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in parsed.items() if k.startswith("bootstrap/") == bootstrap}


def _granted(body: dict[str, Any], local_values: dict[str, Any]) -> set[str]:
    role = str(_first(body.get("role", "")))
    if not role.startswith("${each"):
        return set(_ROLE.findall(role))
    source = str(body.get("for_each", ""))
    for name in re.findall(r"local\.(\w+)", source):
        source += json.dumps(local_values.get(name, ""))
    return set(_ROLE.findall(source))


def check_ci_identities(parsed: dict[str, dict[str, Any]]) -> list[str]:  # noqa: PLR0912 - one branch per rule
    """The bootstrap owns the CI identities; the deployer cannot widen its own power, may grant
    only the main configuration's project roles; the planner reads metadata only."""
    problems: list[str] = []
    main, boot = _scope(parsed, False), _scope(parsed, True)
    boot_locals = _locals(parsed, "bootstrap/")
    for kind in ("google_iam_workload_identity_pool", "google_iam_workload_identity_pool_provider"):
        if resources(main, kind):
            problems.append(f"{kind} in the main configuration: the deployer could change it")
    for name in ("deployer", "planner"):
        if name in resources(main, "google_service_account"):
            problems.append(f"service account {name} in the main configuration (bootstrap only)")
    main_roles: set[str] = set()
    main_locals = _locals(main, "")
    for name, body in resources(main, "google_project_iam_member").items():
        main_roles |= _granted(body, main_locals)
        if any(who in str(body.get("member", "")) for who in ("deployer", "planner")):
            problems.append(
                f"google_project_iam_member.{name}: CI identity granted outside bootstrap"
            )
    grantable = set(_ROLE.findall(json.dumps(boot_locals.get("deployer_grantable_roles", ""))))
    if main_roles != grantable:
        problems.append(
            f"project roles granted by the main configuration {sorted(main_roles)} != the "
            f"deployer's grantable list {sorted(grantable)} (apply fails or the list is too wide)"
        )
    conditioned = False
    for name, body in resources(boot, "google_project_iam_member").items():
        member = str(body.get("member", ""))
        roles = _granted(body, boot_locals)
        condition = json.dumps(body.get("condition", ""))
        if "deployer" in member:
            if roles == {"roles/resourcemanager.projectIamAdmin"}:
                expected = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
                if expected in condition and ".hasOnly(" in condition:
                    conditioned = True
                    continue
                problems.append(f"google_project_iam_member.{name}: projectIamAdmin unconditioned")
            for role in sorted(roles & DEPLOYER_FORBIDDEN):
                problems.append(f"google_project_iam_member.{name}: deployer gets {role}")
        if "planner" in member:
            for role in sorted(roles & PLANNER_FORBIDDEN):
                problems.append(f"google_project_iam_member.{name}: planner gets {role} (data)")
    if not conditioned:
        problems.append("deployer: no conditioned projectIamAdmin (modifiedGrantsByRole hasOnly)")
    return problems


def check_dataset_access(parsed: dict[str, dict[str, Any]]) -> list[str]:
    """Datasets carry their ACL (no projectReaders), and nothing else edits dataset IAM."""
    problems: list[str] = []
    for name, body in resources(parsed, "google_bigquery_dataset").items():
        static = body.get("access", [])
        dynamic = [d for d in body.get("dynamic", []) if "access" in d]
        if not static:
            problems.append(f"google_bigquery_dataset.{name}: no access blocks (projectReaders)")
        text = json.dumps(static) + json.dumps(dynamic)
        for group in POLICY.OPEN_GROUPS:
            if group in text:
                problems.append(f"google_bigquery_dataset.{name}: access for {group}")
    for kind in (
        "google_bigquery_dataset_iam_member",
        "google_bigquery_dataset_iam_binding",
        "google_bigquery_dataset_iam_policy",
        "google_bigquery_dataset_access",
    ):
        for name in resources(parsed, kind):
            problems.append(f"{kind}.{name} fights the dataset access blocks")
    return problems


# ------------------------------------------------------------------ secrets
def secret_settings(repo: Path) -> tuple[set[str], set[str]]:
    """Names read with ``env(NAME, ..., secret=True)`` and prefixes of
    ``env_prefix(P, secret=True)`` anywhere under shared/ (shared/settings.py's mechanism)."""
    names: set[str] = set()
    prefixes: set[str] = set()
    for path in sorted((repo / "shared").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in ("env", "env_prefix") or not node.args:
                continue
            first = node.args[0]
            secret = any(
                k.arg == "secret" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            )
            if secret and isinstance(first, ast.Constant) and isinstance(first.value, str):
                (names if node.func.id == "env" else prefixes).add(first.value)
    return names, prefixes


def check_secrets(repo: Path, manifest: Manifest, evaluated: dict[str, Any] | None) -> list[str]:
    """Secrets travel only through Secret Manager: never as a plain env value, always declared
    in the function's ``secrets`` (mounted per function), with a local value for the stack, and
    every one Terraform mounts is a secret Terraform creates."""
    problems: list[str] = []
    names, prefixes = secret_settings(repo)
    for fn in manifest["functions"]:
        for var in fn.get("env", {}):
            if var in names or any(var.startswith(p) for p in prefixes):
                problems.append(f"function {fn['name']}: secret {var} set as a plain env value")
        for var in fn.get("secrets", []):
            if var not in fn.get("local_env", {}):
                problems.append(f"function {fn['name']}: secret {var} has no local_env value")
    if evaluated is not None:
        created = set(evaluated["secrets"].values())
        for name, fn in evaluated["functions"].items():
            for var, secret_id in fn["secrets"].items():
                if secret_id not in created:
                    problems.append(
                        f"function {name}: mounts {var} from missing secret {secret_id}"
                    )
    return problems


# Resource types that exist only in the google-beta provider (a `google` provider plan fails
# with "provider does not support resource type"). This configuration declares no google-beta.
BETA_ONLY = {"google_project_service_identity"}


def check_provider_types(parsed: dict[str, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    for doc_name, doc in parsed.items():
        for block in doc.get("resource", []):
            for kind, items in block.items():
                for name, body in items.items():
                    provider = str(body.get("provider", "google"))
                    if kind in BETA_ONLY and "google-beta" not in provider:
                        problems.append(
                            f"{doc_name}: {kind}.{name} exists only in the google-beta provider"
                        )
    return problems
