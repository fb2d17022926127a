"""Build the HTTP requests Slack sends to the bot: signed slash commands, block_actions payloads and Events
API envelopes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
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
    team_id: str = TEAM_ID,
    enterprise_id: str | None = None,
) -> dict[str, str]:
    """The form fields Slack POSTs for a slash command invocation; ``team_id`` and ``enterprise_id`` are
    the invoking user's workspace and Enterprise Grid organization (another one's, in Slack Connect)."""
    grid = {"enterprise_id": enterprise_id, "enterprise_name": "Grid"} if enterprise_id else {}
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
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
        **grid,
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
    team_id: str = TEAM_ID,
    enterprise_id: str | None = None,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button click.

    With ``message`` (a channel message, needing a ``ts``) the container points at it; without,
    it is an ephemeral message: Slack then sends ``is_ephemeral: true`` and no ``message``. ``team_id``
    and ``enterprise_id`` are the clicking user's workspace and Grid organization.
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
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": {"id": enterprise_id, "name": "Grid"} if enterprise_id else None,
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


def app_home_opened(user_id: str = "U0ALICE", *, tab: str = "home") -> dict[str, Any]:
    """An ``app_home_opened`` event: ``user_id`` opened the app's ``tab`` (``home`` or ``messages``)."""
    return {
        "type": "app_home_opened",
        "user": user_id,
        # The app's DM with the person, whichever tab they opened.
        "channel": "D" + user_id[1:],
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }


def event_callback(event: dict[str, Any], *, bot_user_id: str = "U0BOT") -> dict[str, Any]:
    """The Events API envelope Slack POSTs as JSON (``type: event_callback``) around ``event``."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def home_block_action(
    button: dict[str, Any],
    view: dict[str, Any],
    *,
    user_id: str = "U0ALICE",
    trigger_id: str = "1337.42.home",
) -> dict[str, Any]:
    """A ``block_actions`` payload for a click on ``button`` in the Home tab ``view`` (as views.publish
    answered it): the container is the view, and there is no channel and no response_url."""
    user_name = name_for_id(user_id)
    block_id = next(
        (b.get("block_id", "b1") for b in view["blocks"] if button in b.get("elements", [])), "b1"
    )
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": trigger_id,
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view,
        "state": {"values": {}},
        "actions": [
            {
                "action_id": button["action_id"],
                "block_id": block_id,
                "text": button["text"],
                "value": button.get("value", ""),
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def view_submission(
    view: dict[str, Any],
    *,
    user_id: str = "U0ALICE",
    team_id: str = TEAM_ID,
    enterprise_id: str | None = None,
    trigger_id: str = "1337.42.submit",
) -> dict[str, Any]:
    """A ``view_submission`` payload: ``user_id`` pressed the submit button of ``view`` (the modal as
    views.open or views.update answered it). The modal has no input blocks, so ``state`` is empty and
    there are no ``response_urls``."""
    user_name = name_for_id(user_id)
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": {**view, "state": {"values": {}}},
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": {"id": enterprise_id, "name": "Grid"} if enterprise_id else None,
    }
