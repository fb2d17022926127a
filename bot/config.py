"""Settings, from the environment and ``.env`` (see ``.env.example`` for each one)."""

from __future__ import annotations

import logging
import string
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.gcore.models import MAX_PROJECT_ID

SLACK_API_URL_DEFAULT = "https://slack.com/api/"
GCORE_BASE_URL_DEFAULT = "https://api.gcore.com"
# What GCORE_PORTAL_URL may name: the deployment's project and name.
PORTAL_PLACEHOLDERS = ("project_id", "name")
# ALLOWED_PROJECT_IDS=* : every project the API key reaches.
ANY_PROJECT = "*"

# A comma-separated list in the environment (``C0A,C0B``), not the JSON list pydantic-settings expects.
CommaList = Annotated[frozenset[str], NoDecode]


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and never includes its value."""


class DatabaseSettings(BaseSettings):
    """What ``python -m bot db …`` needs: the database alone."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite:///inference-bot.db"

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("must be sqlite:///path.db or postgresql+psycopg://user@host/db")
        return value


class Settings(DatabaseSettings):
    """Everything the bot reads from its environment.

    The Gcore names are the official SDK's, so an environment set up for the SDK works unchanged.
    """

    slack_bot_token: SecretStr
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: AnyHttpUrl = AnyHttpUrl(SLACK_API_URL_DEFAULT)
    gcore_api_key: SecretStr
    gcore_base_url: AnyHttpUrl = AnyHttpUrl(GCORE_BASE_URL_DEFAULT)
    gcore_cloud_project_id: int | None = Field(default=None, gt=0, le=MAX_PROJECT_ID)
    # A link template to a deployment in Gcore's portal, with {project_id} and {name}; unset: no link.
    gcore_portal_url: str | None = None
    watch_interval_seconds: float = Field(default=30.0, gt=0)
    stuck_after_seconds: int = Field(default=900, gt=0)
    flap_window_seconds: int = Field(default=600, gt=0)
    gcore_outage_alert_after: int = Field(default=3, ge=1)
    gcore_request_deadline_seconds: float = Field(default=15.0, gt=0)
    paused_channel_recheck_seconds: int = Field(default=3600, ge=1)
    # Log lines a problem alert carries (the Logs button shows more); 0 turns them off.
    alert_log_lines: int = Field(default=5, ge=0, le=20)
    # Who may see and do what (docs/security.md). Projects: a comma-separated list or "*"; unset, only
    # GCORE_CLOUD_PROJECT_ID.
    allowed_project_ids: CommaList = frozenset()
    # Channels the bot answers in and can be made to post in; unset, every channel it is in.
    allowed_channel_ids: CommaList = frozenset()
    # Users of another organization (Slack Connect) may use the bot only when this is true.
    allow_external_users: bool = False
    # Who may start and stop deployments: users, and members of user groups. Neither set: nobody.
    operator_user_ids: CommaList = frozenset()
    operator_usergroup_ids: CommaList = frozenset()
    # A stop (SIGTERM) finishes what was taken within this, then closes and exits 0: keep the orchestrator's
    # grace period (Kubernetes: terminationGracePeriodSeconds, 30 by default) a few seconds above it.
    shutdown_seconds: float = Field(default=10.0, ge=3, le=600)
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # text, or json: one JSON object per line.
    log_format: Literal["text", "json"] = "text"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_log_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator(
        "slack_signing_secret", "slack_app_token", "gcore_cloud_project_id", "gcore_portal_url", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator(
        "allowed_project_ids",
        "allowed_channel_ids",
        "operator_user_ids",
        "operator_usergroup_ids",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(word.strip() for word in value.split(",") if word.strip())
        return value

    @field_validator("allowed_project_ids")
    @classmethod
    def _project_ids(cls, value: frozenset[str]) -> frozenset[str]:
        if ANY_PROJECT in value and len(value) > 1:
            raise ValueError(f"is either {ANY_PROJECT} alone or a comma-separated list of project ids")
        for word in value - {ANY_PROJECT}:
            # isascii: Unicode digits such as "²" pass isdigit() but are no project id.
            digits = word.isascii() and word.isdigit() and len(word) <= len(str(MAX_PROJECT_ID))
            if not digits or not 0 < int(word) <= MAX_PROJECT_ID:
                raise ValueError(f"must list project ids (positive whole numbers) or be {ANY_PROJECT}")
        return value

    @field_validator("slack_bot_token", "gcore_api_key", mode="before")
    @classmethod
    def _required_not_empty(cls, value: object) -> object:
        if value == "":
            raise ValueError("is not set")
        return value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("gcore_portal_url")
    @classmethod
    def _portal_url_template(cls, value: str | None) -> str | None:
        if value is not None:
            check_portal_url(value)
        return value

    @model_validator(mode="after")
    def _http_mode_needs_signing_secret(self) -> Settings:
        if self.slack_app_token is None and self.slack_signing_secret is None:
            raise ValueError(
                "SLACK_SIGNING_SECRET is required in HTTP mode (set it, or set SLACK_APP_TOKEN for Socket Mode)"
            )
        return self

    @model_validator(mode="after")
    def _some_project_allowed(self) -> Settings:
        if not self.allowed_project_ids and self.gcore_cloud_project_id is None:
            raise ValueError(
                "set GCORE_CLOUD_PROJECT_ID (the default project) or ALLOWED_PROJECT_IDS (the projects the "
                "bot may show, watch and act on, or *)"
            )
        default, allowed = self.gcore_cloud_project_id, self.allowed_projects
        if default is not None and allowed is not None and default not in allowed:
            raise ValueError("GCORE_CLOUD_PROJECT_ID must be one of ALLOWED_PROJECT_IDS")
        return self

    @property
    def allowed_projects(self) -> frozenset[int] | None:
        """The projects people may name; None for every project the API key reaches."""
        if ANY_PROJECT in self.allowed_project_ids:
            return None
        if self.allowed_project_ids:
            return frozenset(int(word) for word in self.allowed_project_ids)
        assert self.gcore_cloud_project_id is not None  # checked above
        return frozenset({self.gcore_cloud_project_id})

    @property
    def socket_mode(self) -> bool:
        """Socket Mode when an app-level token is set; HTTP mode otherwise."""
        return self.slack_app_token is not None

    @property
    def signing_secret(self) -> str:
        """The signing secret, or "" in Socket Mode where requests are not signed."""
        return self.slack_signing_secret.get_secret_value() if self.slack_signing_secret else ""

    @property
    def log_level_number(self) -> int:
        """The log level as the logging module's number."""
        return logging.getLevelNamesMapping()[self.log_level]


def check_portal_url(template: str) -> None:
    """Raise ``ValueError`` saying what is wrong with a GCORE_PORTAL_URL template: a placeholder other than
    ``{project_id}`` and ``{name}`` (named, it is not a secret), or not an http(s) URL once filled in."""
    allowed = " and ".join("{" + name + "}" for name in PORTAL_PLACEHOLDERS)
    try:
        fields = [
            (name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
        ]
    except ValueError:
        raise ValueError(f"has an unmatched brace; its only placeholders may be {allowed}") from None
    for name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PORTAL_PLACEHOLDERS or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"may use only the placeholders {allowed}, not {shown}")
    filled = urlsplit(template.format(project_id=1, name="name"))
    if filled.scheme not in ("http", "https") or not filled.netloc:
        raise ValueError("must be an http(s) URL such as https://portal.example/{project_id}/{name}")


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings() -> Settings:
    """Read the settings, turning pydantic's report into one line that names each bad setting."""
    return _load(Settings)


def load_database_settings() -> DatabaseSettings:
    """Read the database setting alone, for ``python -m bot db …``."""
    return _load(DatabaseSettings)


def _load(kind: type[SettingsT]) -> SettingsT:
    try:
        return kind()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            name = "_".join(str(part) for part in error["loc"]).upper()
            if error["type"] == "missing":
                problems.append(f"{name} is not set")
            elif name:
                problems.append(f"{name} {error['msg'].removeprefix('Value error, ')}")
            else:
                problems.append(error["msg"].removeprefix("Value error, "))
        raise SettingsError("; ".join(problems) + " (see .env.example)") from None
