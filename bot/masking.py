"""Masking what looks like a secret in text the bot did not write (log lines, Gcore's error messages)
before it is shown in Slack or written to the bot's own log."""

from __future__ import annotations

import re

# What an application may print of its secrets: NAME=value or NAME: value where the name says token, secret,
# password or key, and bearer tokens. Their values are masked.
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b([\w.-]*(?:token|secret|passw(?:or)?d|api[_-]?key|access[_-]?key|private[_-]?key|credential)[\w.-]*)"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
)
# Authorization schemes, Gcore's "APIKey" among them: the credential that follows is masked.
_SCHEME = re.compile(r"(?i)\b(bearer|basic|apikey)\s+[A-Za-z0-9._~+/=$-]{8,}")
MASK = "••••"


def mask_secrets(text: str, *known: str) -> str:
    """``text`` with what looks like a secret's value, and each of the ``known`` secrets wherever it
    appears, replaced by ``••••``."""
    for secret in known:
        if secret:
            text = text.replace(secret, MASK)
    text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _SCHEME.sub(lambda m: f"{m.group(1)} {MASK}", text)
