"""What ``/healthz`` (live) and ``/readyz`` (ready for Slack's requests) report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Health:
    """Conditions that make the bot unhealthy or not ready, set by the parts that notice them."""

    slack_token_rejected: str | None = None
    # Whether Slack has accepted the token (auth.test) since start; False while Slack could not be asked.
    slack_token_checked: bool = False
    # Socket Mode only: Slack's error while ``apps.connections.open`` rejects SLACK_APP_TOKEN.
    slack_app_token_rejected: str | None = None
    # Socket Mode only: no websocket to Slack has opened yet. Reconnects after one has are routine and brief,
    # and leave the bot ready.
    socket_mode_connecting: bool = False
    # Set when the bot is stopping (bot/lifecycle.py): no new Slack request is taken, no new delivery started.
    draining: bool = False

    @property
    def ok(self) -> bool:
        """True while nothing stops the bot from working."""
        return self.slack_token_rejected is None

    def report(self) -> dict[str, object]:
        """The JSON body of ``/healthz``; never includes a secret."""
        if self.ok:
            return {"ok": True}
        return {"ok": False, "problem": f"Slack rejected the bot token ({self.slack_token_rejected})"}

    def readiness(self, *, database_ready: bool) -> dict[str, object]:
        """The JSON body of ``/readyz``: ready, or why not. ``database_ready``: the database answers and is
        at the newest revision."""
        problems = []
        if self.draining:
            problems.append("shutting down")
        if not database_ready:
            problems.append("the database does not answer or is not at the newest revision")
        if self.slack_token_rejected is not None:
            problems.append(f"Slack rejected the bot token ({self.slack_token_rejected})")
        elif not self.slack_token_checked:
            problems.append("Slack has not confirmed the bot token yet")
        if self.slack_app_token_rejected is not None:
            problems.append(
                f"Slack rejected the app token, SLACK_APP_TOKEN ({self.slack_app_token_rejected})"
            )
        elif self.socket_mode_connecting:
            problems.append("Socket Mode is not connected to Slack yet")
        return {"ready": not problems, "problems": problems} if problems else {"ready": True}
