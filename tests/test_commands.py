"""Parsing what people type after /inference."""

from __future__ import annotations

import pytest

from bot.commands import (
    LOG_LINES_DEFAULT,
    ParsedCommand,
    deployment_name_arg,
    list_problems_only,
    log_lines,
    parse_command,
    region_id_of,
    resolve_project,
)
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
        # Found by tests/test_properties_commands.py: it was "`` is not a project number".
        ("list project= 7", "`--project` needs a value, as in `--project 42`"),
        ("list --project <!channel>", "`&lt;!channel&gt;` is not a project number"),
        # Unicode digits pass str.isdigit() and int() refuses them.
        ("list --project ²", "`²` is not a project number"),
        ("list --project ①", "`①` is not a project number"),
        ("list --project ١٢", "`١٢` is not a project number"),
        # Past Python's int-string limit; shown cut short.
        ("list --project " + "9" * 5000, f"`{'9' * 20}…` is not a project number"),
        # Past what a project id (and an INTEGER column) holds: refused before any query.
        (f"list --project {2**31}", f"`{2**31}` is not a project number"),
    ],
)
def test_bad_project(text: str, message: str) -> None:
    with pytest.raises(BadArgument) as caught:
        parse_command(text)
    assert message in error_sentence(caught.value)
    assert len(error_sentence(caught.value)) < 200


def test_the_largest_project_id_is_taken() -> None:
    assert parse_command(f"list --project {2**31 - 1}").project_id == 2**31 - 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("status", "Which deployment?"),
        ("status a b", "One deployment at a time"),
        # Found by tests/test_properties_commands.py: the example was `status`'s.
        ("audit a b", "One deployment at a time, please: `/inference audit my-instance`"),
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


@pytest.mark.parametrize(
    ("text", "notify"),
    [
        ("watch my-instance", None),
        ("watch my-instance --notify <@U0ABC>", ("<@U0ABC>",)),
        ("watch my-instance --notify <@U0ABC|alice>", ("<@U0ABC>",)),
        # an Enterprise Grid user, and a label with a space in it
        ("watch my-instance --notify <@W0ABC|alice smith>", ("<@W0ABC>",)),
        ("watch my-instance --notify <!subteam^S0ABC>", ("<!subteam^S0ABC>",)),
        ("watch my-instance --notify <!subteam^S0ABC|@oncall>", ("<!subteam^S0ABC>",)),
        (
            "watch --all --notify <!subteam^S0ONCALL|@oncall> <@U0BOB|bob> <@U0BOB> <!subteam^S0ONCALL>",
            ("<!subteam^S0ONCALL>", "<@U0BOB>"),
        ),
        ("watch my-instance --notify=<@U0ABC|alice> <@U0BOB>", ("<@U0ABC>", "<@U0BOB>")),
        ("watch my-instance —notify <@U0ABC>", ("<@U0ABC>",)),
        ("watch my-instance --notify none", ()),
        ("watch my-instance --notify NONE", ()),
    ],
)
def test_notify_mentions(text: str, notify: tuple[str, ...] | None) -> None:
    assert parse_command(text).notify == notify


def test_notify_mentions_end_at_the_next_option() -> None:
    parsed = parse_command("watch my-instance --notify <@U0ABC> <@U0BOB> --flat --only problems project=7")
    assert parsed == ParsedCommand(
        "watch",
        ("my-instance",),
        7,
        frozenset({"--flat"}),
        (("--only", "problems"),),
        notify=("<@U0ABC>", "<@U0BOB>"),
    )
    assert parse_command("watch --notify <@U0ABC> --project 3 my-instance").args == ("my-instance",)


@pytest.mark.parametrize(
    "text",
    [
        "watch my-instance --notify <!channel>",
        "watch my-instance --notify <!here>",
        "watch my-instance --notify <!everyone>",
        "watch my-instance --notify <!channel|@channel>",
        "watch my-instance --notify <!here|here>",
        "watch my-instance --notify <@U0ABC> @channel",
        "watch my-instance --notify @here",
        "watch my-instance --notify @Everyone",
    ],
)
def test_notify_refuses_broadcasts_without_echoing_them(text: str) -> None:
    with pytest.raises(BadArgument) as caught:
        parse_command(text)
    sentence = error_sentence(caught.value)
    assert sentence == (
        "Alerts can't notify a whole channel: `--notify` takes people and user groups, "
        "not @\u2060channel, @\u2060here or @\u2060everyone."
    )
    assert "<!" not in sentence and "&lt;!" not in sentence


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("watch my-instance --notify @alice", "`@alice`"),
        ("watch my-instance --notify alice", "`alice`"),
        ("watch my-instance --notify <@U0ABC> <#C0OPS|ops>", "`&lt;#C0OPS|ops&gt;`"),
        (
            "watch my-instance --notify <!date^1700000000^{date}|today>",
            "`&lt;!date^1700000000^{date}|today&gt;`",
        ),
        ("watch my-instance --notify <@u0abc>", "`&lt;@u0abc&gt;`"),
        ("watch --notify <@U0ABC> my-instance", "`my-instance`"),
    ],
)
def test_notify_refuses_what_slack_did_not_send_as_a_mention(text: str, shown: str) -> None:
    with pytest.raises(BadArgument) as caught:
        parse_command(text)
    assert error_sentence(caught.value) == (
        f"Slack did not send {shown} as a mention, so I can't tell who it is: after `--notify`, "
        "pick each person or user group from Slack's autocomplete as you type `@`."
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("watch my-instance --notify", "`--notify` needs a value, as in `--notify @alice @oncall`"),
        ("watch my-instance --notify --flat", "`--notify` needs a value"),
        ("watch my-instance --notify none <@U0ABC>", "`--notify none` clears the list, so it comes alone"),
        (
            "watch my-instance --notify " + " ".join(f"<@U0{i:03}>" for i in range(21)),
            "`--notify` takes at most 20 people and user groups",
        ),
    ],
)
def test_notify_refuses_odd_lists(text: str, message: str) -> None:
    with pytest.raises(BadArgument) as caught:
        parse_command(text)
    assert message in error_sentence(caught.value)


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("list", False),
        ("list --problems", True),
        ("list —problems --project 3", True),  # a phone's em dash
        ("list --PROBLEMS", True),
        ("list --only problems", True),
    ],
)
def test_list_problems(text: str, problems: bool) -> None:
    assert list_problems_only(parse_command(text)) is problems


def test_list_only_something_else_is_refused() -> None:
    with pytest.raises(BadArgument):
        list_problems_only(parse_command("list --only broken"))


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("logs my-instance", LOG_LINES_DEFAULT),
        ("logs my-instance --lines 1", 1),
        ("logs my-instance --lines=100", 100),
        ("logs my-instance —lines 7 --region amsterdam", 7),  # a phone's em dash
    ],
)
def test_log_lines(text: str, lines: int) -> None:
    assert log_lines(parse_command(text)) == lines


@pytest.mark.parametrize("value", ["0", "101", "-5", "ten", "2²", "1.5", "٣"])
def test_log_lines_out_of_bounds_or_not_a_number_get_one_sentence(value: str) -> None:
    with pytest.raises(BadArgument) as caught:
        log_lines(parse_command(f"logs my-instance --lines {value}"))
    assert error_sentence(caught.value) == (
        "`--lines` takes a whole number of lines from 1 to 100, as in `--lines 50`."
    )


def test_lines_and_region_need_a_value() -> None:
    for option in ("--lines", "--region"):
        with pytest.raises(BadArgument) as caught:
            parse_command(f"logs my-instance {option}")
        assert f"`{option}` needs a value, as in `{option} " in error_sentence(caught.value)


REGIONS = {1: "Luxembourg-2", 100: "Amsterdam"}


@pytest.mark.parametrize(
    ("value", "region_id"),
    [("Amsterdam", 100), ("amsterdam", 100), ("LUXEMBOURG-2", 1), ("100", 100), ("1", 1)],
)
def test_region_by_name_in_any_case_or_by_id(value: str, region_id: int) -> None:
    assert region_id_of(value, REGIONS) == region_id


@pytest.mark.parametrize("value", ["Paris", "7", "0", "amster"])
def test_an_unknown_region_gets_the_known_ones(value: str) -> None:
    with pytest.raises(BadArgument) as caught:
        region_id_of(value, REGIONS)
    assert error_sentence(caught.value) == (
        f"I don't know the region `{value}`; the regions are Amsterdam (100), Luxembourg-2 (1)."
    )


def test_without_region_names_an_id_is_taken_and_a_name_is_explained() -> None:
    assert region_id_of("42", {}) == 42
    with pytest.raises(BadArgument) as caught:
        region_id_of("Amsterdam", {})
    assert "region names could not be read just now; give the region's id" in error_sentence(caught.value)
