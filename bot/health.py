"""What ``/healthz`` reports: whether the bot can still do its job."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Health:
    """Conditions that make the bot unhealthy, set by the parts that notice them."""

    slack_token_rejected: str | None = None

    @property
    def ok(self) -> bool:
        """True while nothing stops the bot from working."""
        return self.slack_token_rejected is None

    def report(self) -> dict[str, object]:
        """The JSON body of ``/healthz``; never includes a secret."""
        if self.ok:
            return {"ok": True}
        return {"ok": False, "problem": f"Slack rejected the bot token ({self.slack_token_rejected})"}
