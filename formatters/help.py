"""``/inference help``: the usage, also shown for anything the bot does not understand."""

from __future__ import annotations

from formatters.blocks import Message, context, header, section
from formatters.text import code


def render_help(command: str, default_project: int | None, *, unknown: str | None = None) -> Message:
    """Usage of every subcommand; ``unknown`` is what the person typed that the bot did not understand."""
    lines = [
        f"`{command} status &lt;name&gt;` · a deployment's card: status, replicas, flavor, address, probes",
        f"`{command} list` · every deployment of the project, with its status, those that need attention "
        "first (`--problems` for only those)",
        f"`{command} watch &lt;name&gt;` · alert this channel on each status change (`--all` for every "
        "deployment, `--only problems`, `--flat` for no threads, `--notify @who` to mention owners on "
        "problems, `--notify none` to stop)",
        f"`{command} unwatch &lt;name&gt;` (or `--all`) · stop those alerts",
        f"`{command} watching` · what this channel watches",
        f"`{command} history &lt;name&gt;` · a deployment's last 20 rollouts and incidents, newest first: "
        "their steps, how long each took and how it ended",
        f"`{command} logs &lt;name&gt;` · a deployment's last 20 log lines with pod and time, newest last, "
        "to you alone (`--lines N` up to 100, `--region R` by name or id)",
        f"`{command} stop &lt;name&gt;` / `{command} start &lt;name&gt;` · stop a deployment or start it "
        "again, after a confirmation that says what it will do (operators only)",
        f"`{command} audit` (or `audit &lt;name&gt;`) · the last 20 starts and stops, and who was refused",
        f"`{command} help` · this message",
    ]
    project = (
        f"Commands use project {default_project}; add `--project N` (or `project=N`) for another."
        if default_project is not None
        else "No default project is set: add `--project N` (or `project=N`) to each command."
    )
    blocks = []
    intro = "Gcore Everywhere Inference from Slack."
    if unknown is not None:
        intro = f"I don't know {code(unknown)}. Here is what I can do:"
    blocks.append(header("Inference bot"))
    blocks.append(section(intro))
    blocks.append(section("\n".join(lines)))
    blocks.append(context(project))
    return Message(text=f"{intro} Try `{command} status &lt;name&gt;` or `{command} list`.", blocks=blocks)
