"""Property-based tests of hostile button values and view submissions, through the real listeners: each is
answered with at most one short sentence, or a message within Slack's limits, never an error id; no
exception escapes Bolt; Gcore is never asked about a project outside ALLOWED_PROJECT_IDS, and never told to
start or stop anything but by a valid confirmation from an operator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.actions import CONFIRM_OPERATION, ActionId, OperationRef
from tests.blockkit import all_text, limit_problems
from tests.bolt_dispatch import InProcessBolt, running_bolt
from tests.bots import PROJECT
from tests.fakes.gcore import FakeGcore, RecordedRequest, seed_deployment
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import block_action, interactive_body, view_submission

OPERATOR = "U0ALICE"
ALLOWED = frozenset({PROJECT, 2})
PROPERTIES = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# A sentence that is short: one line of a reply, not a card.
SHORT_SENTENCE = 400
UNEXPECTED = "Something went wrong on the bot's side"

IDS = st.one_of(
    st.sampled_from([PROJECT, 2, 3, 0, -1, 2**31 - 1, 2**31, 2**63, 10**30]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.none(),
    st.booleans(),
)
NAMES = st.one_of(
    st.sampled_from(["my-instance", "other-one", "", "MY-INSTANCE", "x" * 5000, "my instance", "<!channel>"]),
    st.text(max_size=40),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
)
JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
ANY_JSON = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# Objects with the keys the bot's values have, holding anything; some are valid values.
VALUE_OBJECTS = st.fixed_dictionaries(
    {},
    optional={
        "project_id": IDS,
        "name": NAMES,
        "id": IDS,
        "page": IDS,
        "problems": st.one_of(st.booleans(), ANY_JSON),
        "shared_by": st.one_of(st.none(), st.text(max_size=20), st.integers()),
        "in_channel": st.one_of(st.booleans(), ANY_JSON),
        "extra": ANY_JSON,
    },
)
# Values of the right shape, about projects allowed or not and deployments that exist or not: the listeners'
# whole paths, not only their first check.
WELL_FORMED_VALUES = st.one_of(
    st.fixed_dictionaries(
        {
            "project_id": st.sampled_from([PROJECT, 2, 3]),
            "name": st.sampled_from(["my-instance", "other-one"]),
        },
        optional={"shared_by": st.sampled_from(["U0BOB", None]), "in_channel": st.booleans()},
    ),
    st.fixed_dictionaries({"id": st.integers(min_value=1, max_value=5)}),
    st.fixed_dictionaries(
        {"project_id": st.sampled_from([PROJECT, 3]), "page": st.integers(0, 3)},
        optional={"problems": st.booleans()},
    ),
).map(json.dumps)
VALUES = st.one_of(
    WELL_FORMED_VALUES,
    st.text(max_size=300),
    ANY_JSON.map(json.dumps),
    VALUE_OBJECTS.map(json.dumps),
    st.sampled_from(
        [
            json.dumps({"project_id": PROJECT, "name": "my-instance"}),
            json.dumps({"project_id": 3, "name": "my-instance"}),
            json.dumps({"id": 1}),
            json.dumps({"project_id": PROJECT, "page": 0}),
            "",
            "{",
            "null",
            "1e999999",
            '{"project_id": 1e400, "name": "my-instance"}',
        ]
    ),
)
OPTIONAL_PARTS = ("channel", "response_url", "message", "container")


@pytest.fixture(scope="module")
def bolt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessBolt, FakeGcore, FakeSlack]]:
    yield from running_bolt(
        tmp_path_factory.mktemp("properties-payloads"),
        OPERATOR_USER_IDS=OPERATOR,
        ALLOWED_PROJECT_IDS=",".join(str(p) for p in sorted(ALLOWED)),
    )


def project_of(request: RecordedRequest) -> int | None:
    """The project a request to Gcore's inference API is about, if it is one."""
    parts = request.path.split("/")
    if parts[:4] == ["", "cloud", "v3", "inference"] and len(parts) > 4:
        return int(parts[4])
    return None


def assert_gcore_asked_only_within_allowed_projects(requests: list[RecordedRequest]) -> None:
    asked = {project_of(r) for r in requests} - {None}
    assert asked <= ALLOWED, f"Gcore asked about {asked - ALLOWED}"


def actions_posted(requests: list[RecordedRequest]) -> list[str]:
    return [r.path for r in requests if r.method == "POST"]


def assert_fine_reply(reply: dict[str, Any]) -> None:
    if reply.get("delete_original"):
        return
    assert not limit_problems(reply.get("blocks", []), reply.get("text")), reply
    assert UNEXPECTED not in reply.get("text", "")


@PROPERTIES
@given(
    action_id=st.sampled_from(list(ActionId)),
    value=VALUES,
    missing=st.sets(st.sampled_from(OPTIONAL_PARTS)),
    user_id=st.sampled_from([OPERATOR, "U0BOB"]),
)
def test_any_click_is_answered_with_a_sentence_or_nothing_and_acts_on_nothing(
    bolt: tuple[InProcessBolt, FakeGcore, FakeSlack],
    action_id: ActionId,
    value: str,
    missing: set[str],
    user_id: str,
) -> None:
    app, gcore, slack = bolt
    gcore.put(seed_deployment())
    gcore.clear_requests()
    response_url = slack.new_response_url()
    message = {"ts": "1700000000.000200", "text": "a card", "blocks": []}
    payload = block_action(action_id, value, response_url=response_url, message=message, user_id=user_id)
    for part in missing:
        payload.pop(part)
    opened = len(slack.calls("views.open"))

    answer = app.dispatch(interactive_body(payload))

    assert answer.status in (200, 400) and answer.errors == [], (answer, payload)
    replies = [post.body for post in slack.responses(response_url.rsplit("/", 1)[-1])]
    if "response_url" in missing:
        assert not replies
    for reply in replies:
        assert_fine_reply(reply)
    errors = [r for r in replies if r.get("blocks", [{}])[0].get("text", {}).get("text", "").startswith("⚠️")]
    if errors:
        assert len(replies) == 1 and len(errors[0]["text"]) <= SHORT_SENTENCE, replies
    for modal in slack.calls("views.open")[opened:]:
        view = modal.params["view"]
        assert not limit_problems(view["blocks"], max_blocks=100)
        assert UNEXPECTED not in all_text(view["blocks"])
    assert_gcore_asked_only_within_allowed_projects(gcore.requests)
    assert not actions_posted(gcore.requests), "a click started or stopped a deployment"


WELL_FORMED_METADATA = st.fixed_dictionaries(
    {
        "project_id": st.sampled_from([PROJECT, 2, 3]),
        "name": st.sampled_from(["my-instance", "other-one"]),
        "action": st.sampled_from(["stop", "start"]),
        "key": st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
    },
    optional={"channel_id": st.sampled_from(["C0OPS", None])},
).map(json.dumps)
METADATA = st.one_of(
    WELL_FORMED_METADATA,
    st.text(max_size=200),
    ANY_JSON.map(json.dumps),
    st.fixed_dictionaries(
        {
            "project_id": st.one_of(st.sampled_from([PROJECT, 2, 3]), IDS),
            "name": st.one_of(st.just("my-instance"), NAMES),
            "action": st.one_of(st.sampled_from(["stop", "start"]), ANY_JSON),
            "key": st.one_of(st.from_regex(r"[0-9a-f]{32}", fullmatch=True), st.text(max_size=40)),
        },
        optional={"channel_id": st.one_of(st.just("C0OPS"), st.none(), st.text(max_size=40), ANY_JSON)},
    ).map(json.dumps),
)
STATES = st.one_of(
    st.just({"values": {}}),
    st.dictionaries(st.text(max_size=8), ANY_JSON, max_size=3),
    st.fixed_dictionaries({"values": st.dictionaries(st.text(max_size=8), ANY_JSON, max_size=3)}),
)


def valid_from_operator(metadata: str, user_id: str) -> bool:
    """Whether a submission may act: a readable confirmation of an allowed project, by an operator."""
    try:
        ref = OperationRef.model_validate_json(metadata)
    except ValueError:
        return False
    return user_id == OPERATOR and ref.project_id in ALLOWED and ref.channel_id in (None, "C0OPS")


@PROPERTIES
@given(
    metadata=METADATA,
    state=STATES,
    user_id=st.sampled_from([OPERATOR, "U0BOB"]),
)
def test_any_confirmation_submitted_is_answered_in_the_modal_and_acts_only_when_valid(
    bolt: tuple[InProcessBolt, FakeGcore, FakeSlack], metadata: str, state: Any, user_id: str
) -> None:
    app, gcore, _ = bolt
    gcore.put(seed_deployment())
    gcore.clear_requests()
    view = {
        "id": "V0CONFIRM",
        "type": "modal",
        "callback_id": CONFIRM_OPERATION,
        "private_metadata": metadata,
    }
    payload = view_submission(view, user_id=user_id)
    payload["view"]["state"] = state

    answer = app.dispatch(interactive_body(payload))

    assert answer.status in (200, 400) and answer.errors == [], (answer, payload)
    if answer.body:
        ack = json.loads(answer.body)
        assert ack["response_action"] in ("update", "clear")
        if ack["response_action"] == "update":
            blocks = ack["view"]["blocks"]
            assert not limit_problems(blocks, max_blocks=100) and UNEXPECTED not in all_text(blocks)
    assert_gcore_asked_only_within_allowed_projects(gcore.requests)
    if actions_posted(gcore.requests):
        assert valid_from_operator(metadata, user_id), metadata
