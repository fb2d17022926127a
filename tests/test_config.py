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
    "SHUTDOWN_SECONDS",
    "LOG_FORMAT",
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


def set_base(monkeypatch: pytest.MonkeyPatch, **overrides: str | None) -> None:
    for name, value in {**BASE, **overrides}.items():
        if value is not None:
            monkeypatch.setenv(name, value)


def test_access_lists_are_comma_separated_with_spaces_and_empty_items_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_base(
        monkeypatch,
        ALLOWED_PROJECT_IDS=" 1, 22 ,,333 ",
        ALLOWED_CHANNEL_IDS="C0OPS , C0ML",
        OPERATOR_USER_IDS="U0ALICE,U0BOB ",
        OPERATOR_USERGROUP_IDS=" S0ONCALL",
        ALLOW_EXTERNAL_USERS="true",
    )
    settings = load_settings()
    assert settings.allowed_projects == frozenset({1, 22, 333})
    assert settings.allowed_channel_ids == frozenset({"C0OPS", "C0ML"})
    assert settings.operator_user_ids == frozenset({"U0ALICE", "U0BOB"})
    assert settings.operator_usergroup_ids == frozenset({"S0ONCALL"})
    assert settings.allow_external_users is True


def test_access_settings_default_to_the_default_project_every_channel_and_no_guests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_base(monkeypatch)
    settings = load_settings()
    assert settings.allowed_projects == frozenset({1})
    assert settings.allowed_channel_ids == frozenset()
    assert settings.allow_external_users is False
    assert settings.operator_user_ids == frozenset() and settings.operator_usergroup_ids == frozenset()


def test_a_star_allows_every_project_even_without_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    set_base(monkeypatch, GCORE_CLOUD_PROJECT_ID=None, ALLOWED_PROJECT_IDS=" * ")
    settings = load_settings()
    assert settings.allowed_projects is None and settings.gcore_cloud_project_id is None


def test_a_list_without_a_default_project_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    set_base(monkeypatch, GCORE_CLOUD_PROJECT_ID=None, ALLOWED_PROJECT_IDS="5,6")
    assert load_settings().allowed_projects == frozenset({5, 6})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"ALLOWED_PROJECT_IDS": "*,2"},
            "ALLOWED_PROJECT_IDS is either * alone or a comma-separated list of project ids",
        ),
        (
            {"ALLOWED_PROJECT_IDS": "1,²"},
            "ALLOWED_PROJECT_IDS must list project ids (positive whole numbers) or be *",
        ),
        (
            {"ALLOWED_PROJECT_IDS": "1,0"},
            "ALLOWED_PROJECT_IDS must list project ids (positive whole numbers) or be *",
        ),
        (
            {"ALLOWED_PROJECT_IDS": "1,-2"},
            "ALLOWED_PROJECT_IDS must list project ids (positive whole numbers) or be *",
        ),
        (
            {"ALLOWED_PROJECT_IDS": "1,two"},
            "ALLOWED_PROJECT_IDS must list project ids (positive whole numbers) or be *",
        ),
        (
            {"GCORE_CLOUD_PROJECT_ID": None},
            "set GCORE_CLOUD_PROJECT_ID (the default project) or ALLOWED_PROJECT_IDS",
        ),
        (
            {"GCORE_CLOUD_PROJECT_ID": None, "ALLOWED_PROJECT_IDS": " , "},
            "set GCORE_CLOUD_PROJECT_ID (the default project) or ALLOWED_PROJECT_IDS",
        ),
        (
            {"GCORE_CLOUD_PROJECT_ID": "3", "ALLOWED_PROJECT_IDS": "1,2"},
            "GCORE_CLOUD_PROJECT_ID must be one of ALLOWED_PROJECT_IDS",
        ),
        ({"ALLOW_EXTERNAL_USERS": "perhaps"}, "ALLOW_EXTERNAL_USERS "),
        # Two seconds of the stop are for closing: less than three leaves nothing to finish the work in.
        ({"SHUTDOWN_SECONDS": "1"}, "SHUTDOWN_SECONDS Input should be greater than or equal to 3"),
    ],
)
def test_bad_access_settings_are_refused_and_named(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str | None], message: str
) -> None:
    set_base(monkeypatch, **overrides)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert message in str(caught.value)
    assert "perhaps" not in str(caught.value)
