import pytest

from shared.settings import ENV_VARS, SettingsError, load_settings

LOCAL = {
    "PROJECT_ID": "demo-local",
    "APP_ENV": "local",
    "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085",
    "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9023",
    "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:9050",
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
