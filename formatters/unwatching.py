"""What an alert's Unwatch button offers when the channel hears of the deployment through ``watch --all``,
and what the channel is told after each choice."""

from __future__ import annotations

from bot.actions import ActionId, DeploymentRef
from formatters.blocks import Message, actions, button, confirmation, section
from formatters.text import escape_mrkdwn


def render_unwatch_choice(ref: DeploymentRef) -> Message:
    """For the clicker alone: mute just this deployment, or stop all of the project's alerts here."""
    name = escape_mrkdwn(ref.name)
    text = (
        f"This channel hears about `{name}` because it watches all of project {ref.project_id}. "
        f"Mute just `{name}` here, or stop every alert of project {ref.project_id} here?"
    )
    value = ref.model_dump_json()
    return Message(
        text=text,
        blocks=[
            section(text),
            actions(
                "unwatch_choice",
                button(
                    f"Mute {ref.name}",
                    ActionId.MUTE_DEPLOYMENT,
                    value=value,
                    confirm=confirmation(
                        "Mute this deployment?",
                        f"Alerts for `{name}` stop in this channel; the rest of project {ref.project_id} "
                        "still comes here.",
                        "Mute",
                    ),
                ),
                button(
                    f"Stop project {ref.project_id}",
                    ActionId.UNWATCH_PROJECT,
                    value=value,
                    style="danger",
                    confirm=confirmation(
                        "Stop all of this project's alerts?",
                        f"This channel will hear nothing more about project {ref.project_id}.",
                        "Stop them",
                    ),
                ),
            ),
        ],
    )


def render_muted(ref: DeploymentRef, user_id: str) -> Message:
    """For the channel: who muted which deployment, and how to hear it again."""
    name = escape_mrkdwn(ref.name)
    text = (
        f"🔕 <@{user_id}> muted alerts for `{name}` here; the rest of project {ref.project_id} still comes "
        f"here. `/inference watch {name}` brings them back."
    )
    return Message(text=text, blocks=[section(text)])
