"""Where ``plumb`` points: emulator env, stack file, or real Google Cloud; --project refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.target import TargetError, resolve

EMULATORS = {
    "PUBSUB_EMULATOR_HOST": "127.0.0.1:1",
    "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:2",
    "PROJECT_ID": "demo-local",
}


def _stack(tmp_path: Path, project: str = "demo-local") -> Path:
    path = tmp_path / "stack.json"
    env = {"PROJECT_ID": project, "APP_ENV": "local", "PUBSUB_EMULATOR_HOST": "127.0.0.1:9"}
    path.write_text(json.dumps({"project_id": project, "env": env, "functions": {}}))
    return path


def test_emulator_variables_win_and_default_app_env_local(tmp_path: Path) -> None:
    environ = dict(EMULATORS)
    target = resolve(environ=environ, stack_file=_stack(tmp_path, "other-proj"))
    assert (target.kind, target.project) == ("local", "demo-local")
    assert environ["APP_ENV"] == "local"


def test_stack_file_exports_its_environment(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    target = resolve(environ=environ, stack_file=_stack(tmp_path))
    assert target.is_local and target.stack["project_id"] == "demo-local"
    assert environ["PUBSUB_EMULATOR_HOST"] == "127.0.0.1:9"
    assert environ["APP_ENV"] == "local"


def test_project_mismatch_is_refused_with_exit_2(tmp_path: Path) -> None:
    for kwargs in (
        {"environ": dict(EMULATORS)},
        {"environ": {}, "stack_file": _stack(tmp_path)},
        {"environ": {"PROJECT_ID": "prod-project"}, "stack_file": tmp_path / "none.json"},
    ):
        with pytest.raises(TargetError) as err:
            resolve(project="someone-else", **kwargs)
        assert err.value.exit_code == 2 and "does not match" in str(err.value)


def test_cloud_needs_a_project_and_never_runs_as_local(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    with pytest.raises(TargetError) as err:
        resolve(environ={}, stack_file=missing)
    assert err.value.exit_code == 3 and "--project" in str(err.value)
    environ: dict[str, str] = {}
    target = resolve(environ=environ, stack_file=missing, project="my-prod-123")
    assert (target.kind, target.project) == ("cloud", "my-prod-123")
    assert environ == {"PROJECT_ID": "my-prod-123", "APP_ENV": "prod"}
    with pytest.raises(TargetError):
        resolve(environ={"APP_ENV": "local"}, stack_file=missing, project="my-prod-123")


def test_explicit_targets(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    with pytest.raises(TargetError) as err:
        resolve("local", environ={"PROJECT_ID": "p-12345"}, stack_file=missing)
    assert err.value.exit_code == 3 and "make run" in str(err.value)
    # --target cloud ignores a stack file and emulator variables are not inherited from it
    environ = {"PROJECT_ID": "my-prod-123"}
    assert resolve("cloud", environ=environ, stack_file=_stack(tmp_path)).kind == "cloud"
    assert "PUBSUB_EMULATOR_HOST" not in environ
    with pytest.raises(TargetError) as bad:
        resolve("somewhere", environ={})
    assert bad.value.exit_code == 2


def test_broken_stack_file(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text("{not json")
    with pytest.raises(TargetError, match="cannot read stack file"):
        resolve(environ={}, stack_file=path)
    path.write_text(json.dumps({"project_id": "x"}))
    with pytest.raises(TargetError, match="not a stack file"):
        resolve(environ={}, stack_file=path)
