import pytest

from shared.settings import ENV_VARS, SettingsError, load_settings

LOCAL = {
    "PROJECT_ID": "demo-local",
    "APP_ENV": "local",
    "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085",
    "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9023",
    "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:9050",
    "BIGQUERY_WRITE_EMULATOR_HOST": "127.0.0.1:9060",
    "FIRESTORE_EMULATOR_HOST": "127.0.0.1:8080",
}


def test_local_settings_are_read() -> None:
    settings = load_settings(LOCAL)
    assert settings.project_id == "demo-local"
    assert settings.is_local
    assert settings.bigquery_location == "US"
    assert settings.log_level == "INFO"
    assert settings.bigquery_emulator_host == "http://127.0.0.1:9050"


def test_cloud_settings_need_no_emulators() -> None:
    settings = load_settings({"PROJECT_ID": "acme-prod-1", "APP_ENV": "prod", "LOG_LEVEL": "debug"})
    assert settings.environment == "prod"
    assert settings.log_level == "DEBUG"
    assert settings.pubsub_emulator_host is None


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"PROJECT_ID": "X!", "APP_ENV": "moon", "LOG_LEVEL": "loud"})
    message = str(info.value)
    for name in ("PROJECT_ID", "APP_ENV", "LOG_LEVEL"):
        assert name in message


def test_missing_project_is_named() -> None:
    with pytest.raises(SettingsError, match="PROJECT_ID is required"):
        load_settings({"APP_ENV": "dev"})


def test_local_without_emulators_refuses_to_reach_the_cloud() -> None:
    with pytest.raises(SettingsError, match="PUBSUB_EMULATOR_HOST is required"):
        load_settings({**LOCAL, "PUBSUB_EMULATOR_HOST": ""})


def test_cloud_with_emulator_host_is_refused() -> None:
    with pytest.raises(SettingsError, match="must not be set"):
        load_settings(
            {"PROJECT_ID": "acme-prod-1", "APP_ENV": "prod", **{"PUBSUB_EMULATOR_HOST": "x:1"}}
        )


def test_malformed_emulator_host_is_named() -> None:
    with pytest.raises(SettingsError, match="STORAGE_EMULATOR_HOST"):
        load_settings({**LOCAL, "STORAGE_EMULATOR_HOST": "not a host"})


def test_env_var_table_covers_every_field() -> None:
    from dataclasses import fields

    from shared.settings import Settings

    assert {f.name for f in fields(Settings)} == set(ENV_VARS)


# --- area settings (shared.settings.env / load) ---------------------------------------------

from collections.abc import Mapping  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from shared import settings as s  # noqa: E402


@dataclass(frozen=True, slots=True)
class Sample:
    count: int = s.env("SAMPLE_COUNT", 3, check=s.at_least(1))
    ratio: float = s.env("SAMPLE_RATIO", 0.5)
    on: bool = s.env("SAMPLE_ON", True)
    mode: str = s.env("SAMPLE_MODE", "a", check=s.one_of("a", "b"))
    urls: tuple[str, ...] = s.env("SAMPLE_URLS", ())
    host: str | None = s.env("SAMPLE_HOST", None)
    token: str = s.env("SAMPLE_TOKEN", "", secret=True)
    keys: Mapping[str, str] = s.env_prefix("SAMPLE_KEY_", secret=True)


def test_area_settings_use_defaults_when_unset_or_blank() -> None:
    assert s.load(Sample, {"SAMPLE_COUNT": "  ", "SAMPLE_MODE": ""}) == Sample()
    assert Sample().count == 3 and Sample().urls == () and Sample().keys == {}


def test_area_settings_are_parsed_by_annotation() -> None:
    got = s.load(
        Sample,
        {
            "SAMPLE_COUNT": "7",
            "SAMPLE_RATIO": "1.5",
            "SAMPLE_ON": "off",
            "SAMPLE_MODE": "b",
            "SAMPLE_URLS": " http://a , ,http://b ",
            "SAMPLE_HOST": "h:1",
            "SAMPLE_TOKEN": "t0p",
            "SAMPLE_KEY_SHOP": "k1",
            "SAMPLE_KEY_": "ignored",
            "SAMPLE_KEY_EMPTY": " ",
        },
    )
    assert got == Sample(7, 1.5, False, "b", ("http://a", "http://b"), "h:1", "t0p", {"shop": "k1"})


def test_every_bad_area_variable_is_named_at_once_and_secrets_are_not_shown() -> None:
    bad = {
        "SAMPLE_COUNT": "0",
        "SAMPLE_RATIO": "nan",
        "SAMPLE_ON": "maybe",
        "SAMPLE_MODE": "c",
        "SAMPLE_TOKEN": "hunter2",
    }
    with pytest.raises(SettingsError) as info:
        s.load(Sample, {**bad, "SAMPLE_COUNT": "x"})
    message = str(info.value)
    assert "SAMPLE_COUNT='x' must be an integer" in message
    for name in bad:
        if name not in ("SAMPLE_COUNT", "SAMPLE_TOKEN"):
            assert name in message
    assert isinstance(info.value, ValueError)
    with pytest.raises(SettingsError, match="SAMPLE_COUNT='0' must be >= 1"):
        s.load(Sample, {"SAMPLE_COUNT": "0"})

    @dataclass(frozen=True)
    class Secretive:
        token: int = s.env("SECRETIVE_TOKEN", 1, secret=True)

    with pytest.raises(SettingsError) as info:
        s.load(Secretive, {"SECRETIVE_TOKEN": "hunter2"})
    assert "SECRETIVE_TOKEN must be an integer" in str(info.value)
    assert "hunter2" not in str(info.value)
    assert "t0p" not in repr(s.load(Sample, {"SAMPLE_TOKEN": "t0p", "SAMPLE_KEY_A": "t0p"}))


def test_area_settings_are_read_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPLE_COUNT", "5")
    s.reset_cache()
    assert s.area_settings(Sample).count == 5
    monkeypatch.setenv("SAMPLE_COUNT", "6")
    assert s.area_settings(Sample).count == 5
    s.reset_cache()
    assert s.area_settings(Sample).count == 6
    s.reset_cache()


def _area_settings_classes() -> list[type]:
    """Every settings dataclass declared in an area's ``settings.py`` (shared/<area>/)."""
    import dataclasses
    import importlib
    from pathlib import Path

    import shared

    found = []
    for path in sorted(Path(shared.__file__).parent.glob("*/settings.py")):
        module = importlib.import_module(f"shared.{path.parent.name}.settings")
        for value in vars(module).values():
            if (
                dataclasses.is_dataclass(value)
                and isinstance(value, type)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def test_areas_declare_settings() -> None:
    names = {cls.__name__ for cls in _area_settings_classes()}
    assert {"UploadsSettings", "RefreshSettings", "ReceiverSettings", "SinkSettings"} <= names


def test_manifest_function_env_is_declared_and_valid() -> None:
    """Each variable a function's manifest entry sets is declared by some settings class, its
    value (cloud ``env`` and local ``local_env``) passes that class's validation, and a variable
    declared ``secret`` comes from Secret Manager (``secrets``), never from plain ``env``."""
    from shared.resources import manifest

    classes = _area_settings_classes()
    specs = [spec for cls in classes for spec in s.env_vars(cls)]
    names = set(ENV_VARS.values()) | {spec.name for spec in specs if not spec.prefix}
    prefixes = tuple(spec.name for spec in specs if spec.prefix)
    secret_names = {spec.name for spec in specs if spec.secret and not spec.prefix}
    secret_prefixes = tuple(spec.name for spec in specs if spec.secret and spec.prefix)
    problems = []
    for function in manifest()["functions"]:
        environ = {**function.get("env", {}), **function.get("local_env", {})}
        for var in [*environ, *function.get("secrets", [])]:
            if var not in names and not var.startswith(prefixes):
                problems.append(f"{function['name']}: {var} is declared by no settings class")
        for var in function.get("env", {}):
            if var in secret_names or var.startswith(secret_prefixes):
                problems.append(f"{function['name']}: secret {var} belongs in `secrets`, not `env`")
        for cls in classes:
            try:
                s.load(cls, environ)
            except SettingsError as exc:
                problems.append(f"{function['name']}: {exc}")
    assert not problems, "; ".join(problems)


def test_webhook_secrets_stay_out_of_reprs() -> None:
    from shared.webhooks.receiver import ReceiverConfig
    from shared.webhooks.settings import ReceiverSettings

    environ = {"WEBHOOK_SECRET_GITHUB": "s3cr3t-value"}
    assert "s3cr3t" not in repr(s.load(ReceiverSettings, environ))
    config = ReceiverConfig.from_env(environ)
    assert config.sources["github"].keys == (b"s3cr3t-value",)
    assert "s3cr3t" not in repr(config)
