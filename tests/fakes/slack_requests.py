"""Build the HTTP requests Slack sends to the bot: signed slash commands and block_actions payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Final
from urllib.parse import urlencode

TEAM_ID: Final = "T0TEST"
TEAM_DOMAIN: Final = "test"
APP_ID: Final = "A0TEST"
# The legacy verification token Slack still puts in every payload.
VERIFICATION_TOKEN: Final = "verification-token"
# message_ts used in the default (ephemeral) container of block_action().
EPHEMERAL_MESSAGE_TS: Final = "1700000000.000100"


def name_for_id(slack_id: str) -> str:
    """Derive a readable name from a test id: ``U0ALICE`` -> ``alice``, ``C0OPS`` -> ``ops``."""
    return slack_id[1:].lstrip("0").lower() or slack_id.lower()


def sign(signing_secret: str, body: str, timestamp: int) -> str:
    """Slack request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    basestring = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(signing_secret.encode(), basestring, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def signed_headers(signing_secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers of a signed Slack request (form-encoded); ``timestamp`` defaults to now."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(signing_secret, body, ts),
    }


def slash_command(
    text: str,
    *,
    response_url: str,
    command: str = "/inference",
    user_id: str = "U0ALICE",
    channel_id: str = "C0OPS",
    trigger_id: str = "1337.42.abcd",
) -> dict[str, str]:
    """The form fields Slack POSTs for a slash command invocation."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": name_for_id(channel_id),
        "user_id": user_id,
        "user_name": name_for_id(user_id),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def form_body(fields: dict[str, str]) -> str:
    """URL-encode form fields the way Slack does."""
    return urlencode(fields)


def block_action(
    action_id: str,
    value: str,
    *,
    response_url: str,
    message: dict[str, Any] | None = None,
    container: dict[str, Any] | None = None,
    user_id: str = "U0ALICE",
    channel_id: str = "C0OPS",
    block_id: str = "b1",
    trigger_id: str = "1337.42.abcd",
    text: str = "Refresh",
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button click.

    With ``message`` (a channel message, needing a ``ts``) the container points at it; without,
    it is an ephemeral message: Slack then sends ``is_ephemeral: true`` and no ``message``.
    """
    if container is None:
        if message is not None:
            container = {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel_id,
                "is_ephemeral": False,
            }
        else:
            container = {
                "type": "message",
                "message_ts": EPHEMERAL_MESSAGE_TS,
                "channel_id": channel_id,
                "is_ephemeral": True,
            }
    user_name = name_for_id(user_id)
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id,
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": name_for_id(channel_id)},
    }
    if message is not None:
        payload["message"] = message
    payload |= {
        "state": {"values": {}},
        "response_url": response_url,
        "response_urls": [],
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return payload


def interactive_body(payload: dict[str, Any]) -> str:
    """Form body Slack POSTs for interactivity: ``payload=<urlencoded JSON>``."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
