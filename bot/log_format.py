"""The bot's log lines: text, or one JSON object per line (``LOG_FORMAT=json``) for log collectors.

Whatever the format, the bot's own secrets (the Gcore key, the Slack tokens, the signing secret) and what
looks like a secret (``bot.masking``) are masked in every line, at every level: a last line of defence
behind the rule that no secret is logged at all.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from bot.config import Settings
from bot.masking import mask_secrets

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class MaskingFormatter(logging.Formatter):
    """The text format, with secrets masked in the whole line (its traceback included)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__(TEXT_FORMAT)
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        """The line as the text format writes it, masked."""
        return mask_secrets(super().format(record), *self._secrets)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and
    ``exc_info`` (the traceback as text) when there is one; each value masked before it is encoded."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_secrets(record.getMessage(), *self._secrets),
        }
        if record.exc_info:
            line["exc_info"] = mask_secrets(self.formatException(record.exc_info), *self._secrets)
        if record.stack_info:
            line["stack_info"] = mask_secrets(self.formatStack(record.stack_info), *self._secrets)
        return json.dumps(line, ensure_ascii=False)


def log_formatter(settings: Settings) -> logging.Formatter:
    """The formatter LOG_FORMAT names, masking the secrets ``settings`` holds."""
    secrets = tuple(
        secret.get_secret_value()
        for secret in (
            settings.gcore_api_key,
            settings.slack_bot_token,
            settings.slack_app_token,
            settings.slack_signing_secret,
        )
        if secret is not None
    )
    return JsonFormatter(secrets) if settings.log_format == "json" else MaskingFormatter(secrets)
