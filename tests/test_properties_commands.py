"""Property-based tests of hostile command text: whatever follows ``/inference``, parsing gives a command or
one sentence, and every verb's reply through the real listeners is one message within Slack's limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import (
    ParsedCommand,
    deployment_name_arg,
    list_problems_only,
    log_lines,
    parse_command,
    region_id_of,
    subscription_target,
)
from bot.errors import BadArgument
from formatters.errors import error_sentence
from formatters.limits import MAX_MESSAGE_TEXT, MAX_SECTION_TEXT
from tests.blockkit import limit_problems
from tests.bolt_dispatch import InProcessBolt, running_bolt
from tests.bots import PROJECT
from tests.fakes.gcore import FakeGcore, seed_deployment
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import form_body, slash_command

VERBS = [
    "status",
    "list",
    "watch",
    "unwatch",
    "watching",
    "history",
    "logs",
    "stop",
    "start",
    "audit",
    "help",
]
OPTIONS = [
    "--project",
    "—project",
    "–project",
    "--PROJECT",
    "project=",
    "--project=",
    "--all",
    "--flat",
    "--problems",
    "--only",
    "--only=problems",
    "--region",
    "--lines",
    "--lines=",
    "--notify",
    "--notify=",
    "--bogus",
    "--",
    "—",
]
# What Slack sends for mentions and links with should_escape, and what a person might type instead.
SLACK_ESCAPES = st.one_of(
    st.from_regex(r"<@[UW][A-Z0-9]{1,12}>", fullmatch=True),
    st.from_regex(r"<@[UW][A-Z0-9]{1,12}\|[^<>]{0,24}>", fullmatch=True),
    st.from_regex(r"<#C[A-Z0-9]{1,12}\|[^<>]{0,16}>", fullmatch=True),
    st.from_regex(r"<!subteam\^S[A-Z0-9]{1,12}(\|[^<>]{0,16})?>", fullmatch=True),
    st.sampled_from(["<!channel>", "<!here|here>", "<!everyone>", "@channel", "@here", "<!", "<@", "<", ">"]),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["²", "①", "٣", "１２", "0", "1", "2", "9" * 5000, "1.5", "1e3", "0x10", "+1"]),
)
WORDS = st.one_of(
    st.sampled_from(VERBS),
    st.sampled_from(OPTIONS),
    SLACK_ESCAPES,
    NUMBERS,
    st.sampled_from(["my-instance", "none", "problems", "Amsterdam", "a" * 31, "my_instance"]),
    # Any unicode: astral, combining marks, controls, surrogates excluded (Slack sends UTF-8).
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
)
SEPARATORS = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u2003", "\x00", "\u200b", ""])
COMMAND_TEXT = st.one_of(
    st.lists(st.tuples(WORDS, SEPARATORS), max_size=24).map(lambda pairs: "".join(w + s for w, s in pairs)),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=10_000),
    # Long text: random text is rarely long, so words are repeated up to 10,000 characters.
    st.tuples(WORDS, SEPARATORS, st.integers(1, 10_000)).map(lambda t: ((t[0] + t[1]) * t[2])[:10_000]),
)
NAMES = st.one_of(
    st.sampled_from(["my-instance", "other-one"]),
    st.from_regex(r"[a-z0-9][a-z0-9-]{2,28}[a-z0-9]", fullmatch=True),
)
# Options with values, in any order and repeated: mostly sensible, so that Gcore and the store are reached.
OPTION_WORDS = st.one_of(
    st.tuples(
        st.sampled_from(["--project", "—project", "project="]),
        st.one_of(st.sampled_from(["1", "2", "3"]), NUMBERS),
    ),
    st.tuples(st.sampled_from(["--lines", "--lines="]), st.one_of(st.integers(-5, 200).map(str), NUMBERS)),
    st.tuples(
        st.just("--region"), st.sampled_from(["1", "Luxembourg", "amsterdam", "0", "nowhere", "<@U1>"])
    ),
    st.tuples(st.just("--notify"), st.lists(SLACK_ESCAPES, min_size=0, max_size=25).map(" ".join)),
    st.tuples(st.just("--only"), st.sampled_from(["problems", "PROBLEMS", "everything"])),
    st.tuples(st.sampled_from(["--all", "--flat", "--problems"]), st.just("")),
)
SENSIBLE_TEXT = st.tuples(
    st.sampled_from(VERBS), st.lists(NAMES, max_size=2), st.lists(OPTION_WORDS, max_size=5)
).map(lambda parts: " ".join([parts[0], *parts[1], *(f"{flag} {value}" for flag, value in parts[2])]))
# Text that starts with a verb, so each verb's listener is reached.
VERB_TEXT = st.one_of(SENSIBLE_TEXT, st.tuples(st.sampled_from(VERBS), COMMAND_TEXT).map(" ".join))


def assert_a_sentence(error: BadArgument) -> None:
    sentence = error_sentence(error)
    assert sentence.strip()
    # render_error puts it in one section after a two-character emoji and a space, and as the fallback text.
    assert len(sentence) + 3 <= MAX_SECTION_TEXT and len(sentence) <= MAX_MESSAGE_TEXT
    assert "<!" not in sentence, "a sentence that could notify a channel"
    assert "``" not in sentence, "an empty code span: the sentence shows nothing of what was typed"


@settings(max_examples=150, deadline=None, database=None)
@given(COMMAND_TEXT)
def test_any_text_parses_or_is_one_sentence(text: str) -> None:
    try:
        parsed = parse_command(text)
    except BadArgument as error:
        assert_a_sentence(error)
        return
    assert isinstance(parsed, ParsedCommand)
    # What each verb then asks of the words: a name, a target, a number of lines, a region.
    checks: list[Callable[[ParsedCommand], object]] = [
        deployment_name_arg,
        subscription_target,
        list_problems_only,
        log_lines,
    ]
    region = parsed.option("--region")
    if region is not None:
        checks.append(lambda _: region_id_of(region, {1: "Luxembourg", 2: "Amsterdam"}))
    for check in checks:
        try:
            check(parsed)
        except BadArgument as error:
            assert_a_sentence(error)


@pytest.fixture(scope="module")
def bolt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessBolt, FakeGcore, FakeSlack]]:
    # Operators are set, so stop and start open their confirmation; one more project is allowed.
    yield from running_bolt(
        tmp_path_factory.mktemp("properties-commands"),
        OPERATOR_USER_IDS="U0ALICE",
        ALLOWED_PROJECT_IDS=f"{PROJECT},2",
    )


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=VERB_TEXT)
def test_every_verb_answers_any_text_with_one_message_within_slacks_limits(
    bolt: tuple[InProcessBolt, FakeGcore, FakeSlack], text: str
) -> None:
    app, gcore, slack = bolt
    gcore.put(seed_deployment())
    response_url = slack.new_response_url()
    opened = len(slack.calls("views.open"))
    answer = app.dispatch(form_body(slash_command(text, response_url=response_url)))
    assert (answer.status, answer.errors) == (200, [])
    replies = [post.body for post in slack.responses(response_url.rsplit("/", 1)[-1])]
    modals = slack.calls("views.open")[opened:]
    # One reply; a watch that changed something adds the owners' note for the asker; a confirmation that
    # opened is a modal instead.
    assert len(replies) + len(modals) >= 1, f"no answer to {text!r}"
    assert len(replies) <= (2 if text.startswith("watch") else 1) and len(modals) <= 1
    for reply in replies:
        assert not limit_problems(reply.get("blocks", []), reply.get("text")), reply
        assert "Something went wrong on the bot's side" not in reply.get("text", "")
    for modal in modals:
        assert not limit_problems(modal.params["view"]["blocks"], max_blocks=100)
