"""Parsing what people type after /inference."""

from __future__ import annotations

import pytest

from bot.commands import ParsedCommand, deployment_name_arg, parse_command, resolve_project
from bot.errors import BadArgument
from formatters.errors import error_sentence


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ParsedCommand("help", (), None)),
        ("status my-instance", ParsedCommand("status", ("my-instance",), None)),
        ("STATUS my-instance --project 7", ParsedCommand("status", ("my-instance",), 7)),
        ("--project=7 list", ParsedCommand("list", (), 7)),
        ("list project=12", ParsedCommand("list", (), 12)),
        # macOS and phones turn -- into an em dash
        ("status my-instance —project 3", ParsedCommand("status", ("my-instance",), 3)),
        ("  status   my-instance  ", ParsedCommand("status", ("my-instance",), None)),
        (
            "watch my-instance --only problems --flat",
            ParsedCommand("watch", ("my-instance",), None, frozenset({"--flat"}), (("--only", "problems"),)),
        ),
        (
            "watch --all --only=Problems",
            ParsedCommand("watch", (), None, frozenset({"--all"}), (("--only", "problems"),)),
        ),
    ],
)
def test_parse(text: str, expected: ParsedCommand) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("list --project", "`--project` needs a value, as in `--project 42`"),
        ("watch x --only", "`--only` needs a value, as in `--only problems`"),
        ("watch my-instance --loud", "I don't know the option `--loud`"),
        ("list --project abc", "`abc` is not a project number"),
        ("list project=0", "`0` is not a project number"),
        ("list --project <!channel>", "`&lt;!channel&gt;` is not a project number"),
    ],
)
def test_bad_project(text: str, message: str) -> None:
    with pytest.raises(BadArgument) as caught:
        parse_command(text)
    assert message in error_sentence(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("status", "Which deployment?"),
        ("status a b", "One deployment at a time"),
        ("status abc", "4 to 30 characters"),
        ("status " + "a" * 31, "4 to 30 characters"),
        ("status My_Instance", "lowercase letters, digits and dashes"),
        ("status <@U123>", "`&lt;@U123&gt;` cannot be a deployment name"),
    ],
)
def test_bad_deployment_names(text: str, message: str) -> None:
    with pytest.raises(BadArgument) as caught:
        deployment_name_arg(parse_command(text))
    assert message in error_sentence(caught.value)


def test_project_falls_back_to_default_or_asks() -> None:
    assert resolve_project(None, 4) == 4
    assert resolve_project(9, 4) == 9
    with pytest.raises(BadArgument) as caught:
        resolve_project(None, None)
    assert "GCORE_CLOUD_PROJECT_ID" in error_sentence(caught.value)
