"""Settings: defaults, mode selection, and one clear line for each bad setting without its value."""

from __future__ import annotations

import pytest

from bot.config import SettingsError, load_settings

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-secret-bot-token",
    "SLACK_SIGNING_SECRET": "signing-secret-value",
    "GCORE_API_KEY": "gcore-secret-key",
    "GCORE_CLOUD_PROJECT_ID": "1",
}
ALL = (
    *BASE,
    "SLACK_APP_TOKEN",
    "ALLOWED_PROJECT_IDS",
    "ALLOWED_CHANNEL_IDS",
    "ALLOW_EXTERNAL_USERS",
    "OPERATOR_USER_IDS",
    "OPERATOR_USERGROUP_IDS",
    "PORT",
    "LOG_LEVEL",
    "GCORE_BASE_URL",
    "SLACK_API_URL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ALL:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))  # no developer's .env


def test_minimal_http_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in BASE.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert not settings.socket_mode
    assert settings.port == 3000
    assert str(settings.gcore_base_url) == "https://api.gcore.com/"
    assert settings.gcore_cloud_project_id == 1 and settings.allowed_projects == frozenset({1})


def test_app_token_selects_socket_mode_without_signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("GCORE_API_KEY", "k")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    monkeypatch.setenv("ALLOWED_PROJECT_IDS", "*")
    assert load_settings().socket_mode


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"GCORE_API_KEY": None}, "GCORE_API_KEY is not set"),
        ({"GCORE_API_KEY": ""}, "GCORE_API_KEY is not set"),
        ({"SLACK_SIGNING_SECRET": None}, "SLACK_SIGNING_SECRET is required in HTTP mode"),
        (
            {"SLACK_BOT_TOKEN": "xoxp-user-token-secret"},
            "SLACK_BOT_TOKEN must be a bot token starting with xoxb-",
        ),
        ({"PORT": "eighty"}, "PORT "),
        ({"GCORE_CLOUD_PROJECT_ID": "-3"}, "GCORE_CLOUD_PROJECT_ID "),
        ({"SLACK_APP_TOKEN": "xoxb-wrong"}, "SLACK_APP_TOKEN must be an app-level token"),
    ],
)
def test_bad_settings_are_named_without_values(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str | None], message: str
) -> None:
    for name, value in {**BASE, **overrides}.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert message in str(caught.value)
    for secret in ("secret", "xoxp", "eighty"):
        assert secret not in str(caught.value)
