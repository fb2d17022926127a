"""The Slack app's manifest grants every scope the bot's Web API calls need, and subscribes to the events
and surfaces the bot serves."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
# Slack's documented scopes for each method the bot calls (any one of them suffices); a method missing
# here fails the test below, so a new call cannot land without its scope.
SCOPES_OF: dict[str, frozenset[str]] = {
    "auth_test": frozenset(),
    "chat_postMessage": frozenset({"chat:write"}),
    "chat_update": frozenset({"chat:write"}),
    "conversations_info": frozenset({"channels:read", "groups:read", "im:read", "mpim:read"}),
    "conversations_join": frozenset({"channels:join"}),
    "conversations_history": frozenset({"channels:history", "groups:history", "im:history", "mpim:history"}),
    "conversations_replies": frozenset({"channels:history", "groups:history", "im:history", "mpim:history"}),
    "usergroups_users_list": frozenset({"usergroups:read"}),
    "users_info": frozenset({"users:read"}),
    "views_open": frozenset(),
    "views_update": frozenset(),
    "views_publish": frozenset(),
}
# A Web API method named as the first argument of SlackApi.call/paced or the notifier's _call.
_CALL = re.compile(r"\b(?:call|paced|_call)\(\s*\"([a-z]+_[A-Za-z_]+)\"")


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    return loaded


def methods_called() -> set[str]:
    found: set[str] = set()
    for package in ("bot", "handlers"):
        for path in (ROOT / package).rglob("*.py"):
            found.update(_CALL.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_method_the_bot_calls_has_its_scope() -> None:
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    called = methods_called()
    assert {"chat_postMessage", "usergroups_users_list", "users_info", "views_publish"} <= called
    unknown = called - set(SCOPES_OF)
    assert not unknown, f"add the documented scopes of {sorted(unknown)} to SCOPES_OF"
    missing = {m: sorted(SCOPES_OF[m]) for m in called if SCOPES_OF[m] and not SCOPES_OF[m] & scopes}
    assert not missing, f"manifest.yml lacks a scope for {missing}"


def test_the_home_tab_its_event_and_the_messages_tab_are_on() -> None:
    app = manifest()
    assert app["features"]["app_home"]["home_tab_enabled"] is True
    assert app["features"]["app_home"]["messages_tab_enabled"] is True
    assert "app_home_opened" in app["settings"]["event_subscriptions"]["bot_events"]
    assert "commands" in app["oauth_config"]["scopes"]["bot"]
