"""The Gcore client against the loopback Gcore fake: paging, retries, typed errors, no key leaks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.gcore.client import GcoreClient
from bot.gcore.errors import (
    DeploymentNotFound,
    GcoreAuthError,
    GcoreError,
    GcoreIncompleteListing,
    GcoreInvalidResponse,
    GcoreRateLimited,
    GcoreRequestRejected,
    GcoreUnavailable,
    ProjectNotFound,
)
from bot.gcore.retry import RetryPolicy
from formatters.errors import error_sentence
from tests.fakes.gcore import FakeGcore, seed_deployment

API_KEY = "test-gcore-key-0123456789"
LIST_PATH = "/cloud/v3/inference/1/deployments"


class RecordingSleep:
    """The client's sleep collaborator: records the backoff it asked for instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def gcore() -> Iterator[FakeGcore]:
    with FakeGcore(api_key=API_KEY) as fake:
        fake.put(seed_deployment())
        yield fake


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def client(gcore: FakeGcore, sleeps: RecordingSleep) -> AsyncIterator[GcoreClient]:
    client = GcoreClient(gcore.url, API_KEY, sleep=sleeps)
    yield client
    await client.aclose()


async def test_get_sends_the_api_key_and_parses_the_seed(client: GcoreClient, gcore: FakeGcore) -> None:
    deployment = await client.get_deployment(1, "my-instance")
    assert deployment.name == "my-instance"
    assert deployment.containers[0].scale.triggers.cpu is not None
    request = gcore.requests[-1]
    assert request.path == "/cloud/v3/inference/1/deployments/my-instance"
    assert request.headers["Authorization"] == f"APIKey {API_KEY}"


async def test_list_follows_pages_to_the_end(client: GcoreClient, gcore: FakeGcore) -> None:
    for i in range(4):
        gcore.put(seed_deployment(name=f"extra-{i}"))
    gcore.clear_requests()
    deployments = await client.list_deployments(1, page_size=2)
    assert sorted(d.name for d in deployments) == ["extra-0", "extra-1", "extra-2", "extra-3", "my-instance"]
    assert [(r.query["limit"], r.query["offset"]) for r in gcore.requests] == [
        ("2", "0"),
        ("2", "2"),
        ("2", "4"),
    ]


async def test_not_found_names_deployment_and_project(client: GcoreClient) -> None:
    with pytest.raises(DeploymentNotFound) as caught:
        await client.get_deployment(1, "nope-nope")
    assert error_sentence(caught.value) == "There is no deployment named `nope-nope` in project 1."


async def test_project_the_key_cannot_see(client: GcoreClient, gcore: FakeGcore) -> None:
    gcore.fail_next(404, body={"exception_class": "NotFound", "message": "Project 99 not found"})
    with pytest.raises(ProjectNotFound) as caught:
        await client.list_deployments(99)
    assert "no project 99" in error_sentence(caught.value)


async def test_rejected_key_is_not_retried_and_not_repeated(gcore: FakeGcore, sleeps: RecordingSleep) -> None:
    client = GcoreClient(gcore.url, "wrong-key-secret", sleep=sleeps)
    with pytest.raises(GcoreAuthError) as caught:
        await client.get_deployment(1, "my-instance")
    await client.aclose()
    assert len(gcore.requests) == 1
    assert "wrong-key-secret" not in str(caught.value) + error_sentence(caught.value)
    assert "GCORE_API_KEY" in error_sentence(caught.value)


async def test_transient_errors_are_retried_with_backoff(
    client: GcoreClient, gcore: FakeGcore, sleeps: RecordingSleep
) -> None:
    gcore.fail_next(503, times=2)
    deployment = await client.get_deployment(1, "my-instance")
    assert deployment.status == "ACTIVE"
    assert len(gcore.requests) == 3
    assert len(sleeps.delays) == 2
    assert all(0 <= d <= RetryPolicy().max_delay for d in sleeps.delays)


async def test_429_honours_retry_after(client: GcoreClient, gcore: FakeGcore, sleeps: RecordingSleep) -> None:
    gcore.fail_next(429, headers={"Retry-After": "3"})
    await client.get_deployment(1, "my-instance")
    assert sleeps.delays == [3.0]


async def test_long_retry_after_gives_up_at_once(client: GcoreClient, gcore: FakeGcore) -> None:
    gcore.fail_next(429, headers={"Retry-After": "600"})
    with pytest.raises(GcoreRateLimited) as caught:
        await client.get_deployment(1, "my-instance")
    assert "try again in 600 s" in error_sentence(caught.value)
    assert len(gcore.requests) == 1


async def test_other_4xx_is_not_retried(client: GcoreClient, gcore: FakeGcore) -> None:
    gcore.fail_next(400, body={"message": "bad <input>"})
    with pytest.raises(GcoreError) as caught:
        await client.get_deployment(1, "my-instance")
    assert len(gcore.requests) == 1
    assert error_sentence(caught.value).startswith("Gcore refused the request (HTTP 400);")


@pytest.mark.parametrize(
    "echo",
    [
        f"invalid header Authorization: APIKey {API_KEY}",
        f"request was GET /deployments?api_key={API_KEY}",
        f"token {API_KEY} is not allowed here",
    ],
)
async def test_a_4xx_that_echoes_the_key_shows_our_sentence_and_logs_it_masked(
    client: GcoreClient, gcore: FakeGcore, echo: str
) -> None:
    # A proxy or an API that echoes the request puts the key in its message.
    gcore.fail_next(422, body={"message": echo})
    with pytest.raises(GcoreRequestRejected) as caught:
        await client.get_deployment(1, "my-instance")
    sentence = error_sentence(caught.value)
    assert sentence.startswith("Gcore refused the request (HTTP 422);") and echo[:12] not in sentence
    assert API_KEY not in sentence and API_KEY not in str(caught.value)
    assert "••••" in caught.value.api_message


async def test_server_down_gives_unavailable_after_retries(
    client: GcoreClient, gcore: FakeGcore, sleeps: RecordingSleep
) -> None:
    gcore.set_down(True)
    with pytest.raises(GcoreUnavailable) as caught:
        await client.get_deployment(1, "my-instance")
    assert len(sleeps.delays) == RetryPolicy().attempts - 1
    assert error_sentence(caught.value) == "The Gcore API did not answer; try again in a minute."
    assert API_KEY not in str(caught.value)
    assert caught.value.status_code is None  # no answer, unlike a 5xx


@pytest.mark.parametrize("status", [500, 503])
async def test_a_5xx_after_retries_is_unavailable_with_its_status(
    client: GcoreClient, gcore: FakeGcore, status: int
) -> None:
    gcore.fail_next(status, times=RetryPolicy().attempts)
    with pytest.raises(GcoreUnavailable) as caught:
        await client.get_deployment(1, "my-instance")
    assert caught.value.status_code == status


async def test_invalid_json_is_a_typed_error(client: GcoreClient, gcore: FakeGcore) -> None:
    gcore.set_invalid_json()
    with pytest.raises(GcoreInvalidResponse):
        await client.get_deployment(1, "my-instance")


async def test_start_and_stop_post_without_body(client: GcoreClient, gcore: FakeGcore) -> None:
    await client.stop_deployment(1, "my-instance")
    assert gcore.get(1, "my-instance")["status"] == "DISABLED"  # type: ignore[index]
    await client.start_deployment(1, "my-instance")
    assert [r.method for r in gcore.requests] == ["POST", "POST"]
    assert gcore.requests[-1].path.endswith("/my-instance/start")


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_a_stop_whose_answer_is_a_gateway_error_is_not_sent_again(
    client: GcoreClient, gcore: FakeGcore, status: int
) -> None:
    # The gateway may have passed the stop on before failing: a second POST could act twice.
    gcore.fail_next(status, path_contains="/stop")
    with pytest.raises(GcoreUnavailable):
        await client.stop_deployment(1, "my-instance")
    assert [r.method for r in gcore.requests] == ["POST"]


async def test_a_stop_refused_with_429_is_sent_again(
    client: GcoreClient, gcore: FakeGcore, sleeps: RecordingSleep
) -> None:
    gcore.fail_next(429, headers={"Retry-After": "2"}, path_contains="/stop")
    await client.stop_deployment(1, "my-instance")
    assert [r.method for r in gcore.requests] == ["POST", "POST"] and sleeps.delays == [2.0]
    assert gcore.get(1, "my-instance")["status"] == "DISABLED"  # type: ignore[index]


async def test_server_capped_pages_are_followed(client: GcoreClient, gcore: FakeGcore) -> None:
    for i in range(4):
        gcore.put(seed_deployment(name=f"extra-{i}"))
    gcore.set_page_cap(2)
    gcore.clear_requests()
    assert len(await client.list_deployments(1)) == 5
    assert [r.query["offset"] for r in gcore.requests] == ["0", "2", "4"]


async def test_listing_reports_an_unchanged_project_without_parsing_it(
    client: GcoreClient, gcore: FakeGcore
) -> None:
    first = await client.list_statuses(1)
    assert first.deployments is not None and [d.name for d in first.deployments] == ["my-instance"]
    unchanged = await client.list_statuses(1, first.pages)
    assert unchanged.deployments is None and unchanged.pages == first.pages
    # What was seen belongs to the caller: without it, the same pages are read in full.
    fresh = await client.list_statuses(1)
    assert fresh.deployments is not None and fresh.deployments[0].status == "ACTIVE"
    gcore.set_status(1, "my-instance", "DISABLED")
    changed = await client.list_statuses(1, first.pages)
    assert changed.deployments is not None and changed.deployments[0].status == "DISABLED"


async def test_unreadable_items_are_set_aside_and_the_rest_read(
    client: GcoreClient, gcore: FakeGcore
) -> None:
    gcore.put(seed_deployment(name="bad-status", status=None))
    broken = seed_deployment(name="bad-region")
    broken["containers"][0]["region_id"] = None
    gcore.put(broken)
    listing = await client.list_statuses(1)
    assert listing.deployments is not None and [d.name for d in listing.deployments] == ["my-instance"]
    assert [(u.name, u.cause) for u in listing.unreadable] == [
        ("bad-region", "containers.0.region_id: int_type"),
        ("bad-status", "status: string_type"),
    ]
    assert [d.name for d in await client.list_deployments(1)] == ["my-instance"]


@pytest.mark.parametrize(
    ("body", "times", "detail"),
    [
        (
            {"count": 3, "results": [seed_deployment(), seed_deployment(name="other")]},
            1,
            "2 items in 2 pages for counts [1, 3]",
        ),
        ({"count": 1_000_000, "results": [seed_deployment()]}, 1000, "page 2 repeats the one before"),
    ],
)
async def test_a_listing_short_of_its_count_is_incomplete(
    client: GcoreClient, gcore: FakeGcore, body: dict[str, object], times: int, detail: str
) -> None:
    gcore.fail_next(200, times=times, body=body, path=LIST_PATH)
    gcore.clear_requests()
    with pytest.raises(GcoreIncompleteListing) as caught:
        await client.list_statuses(1)
    assert detail in str(caught.value)
    assert len(gcore.requests) == 2
    gcore.fail_next(200, times=times, body=body, path=LIST_PATH)
    with pytest.raises(GcoreIncompleteListing):
        await client.list_deployments(1)


async def test_pages_stop_at_what_the_count_allows(client: GcoreClient, gcore: FakeGcore) -> None:
    # Two items on the first page of ten claimed: six pages at most, whatever later pages hold.
    first = [seed_deployment(name="first-a"), seed_deployment(name="first-b")]
    gcore.fail_next(200, body={"count": 10, "results": first}, path=LIST_PATH)
    for page in range(10):
        gcore.fail_next(
            200, body={"count": 10, "results": [seed_deployment(name=f"page-{page}")]}, path=LIST_PATH
        )
    gcore.clear_requests()
    with pytest.raises(GcoreIncompleteListing, match="after 6 pages"):
        await client.list_statuses(1)
    assert len(gcore.requests) == 6


async def test_an_answer_that_trickles_in_meets_the_deadline(gcore: FakeGcore) -> None:
    client = GcoreClient(gcore.url, API_KEY, deadline=1.0)
    gcore.set_trickle(0.5, path=LIST_PATH)
    try:
        with pytest.raises(GcoreUnavailable, match="no whole answer within 1 s"):
            await client.list_statuses(1)
    finally:
        await client.aclose()
