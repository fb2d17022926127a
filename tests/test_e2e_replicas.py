"""Replicas on one PostgreSQL schema share the polling: each leases its share of the watched projects, and
when one dies the other takes its projects on its next cycle, losing, doubling and inventing no alert.

What is asserted is what the fakes saw: which projects Gcore was asked about and when, and what reached
each Slack channel; plus each replica's ``inference_bot_leased_projects`` as ``GET /metrics`` shows it.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from formatters.alerts import status_words
from tests.blockkit import all_text
from tests.bots import BotProcess, RunningBot, assert_no_secrets, start_bot, start_bot_process
from tests.databases import leader_pid, lease_holders
from tests.fakes.gcore import FakeGcore, seed_deployment
from tests.fakes.server import wait_for
from tests.fakes.slack import FakeSlack
from tests.test_e2e_metrics import Scrape

_LIST_PATH = re.compile(r"^/cloud/v3/inference/(\d+)/deployments$")
# The headline of a plain status change, as formatters.alerts renders it.
_CHANGED = re.compile(r"^\*(?P<name>[^*\n]+)\* changed: (?P<old>.+?) → (?P<new>.+)$", re.MULTILINE)
ALERT_EVENT = "inference_bot_alert"


@pytest.fixture
def replicas(gcore: FakeGcore, slack: FakeSlack) -> Iterator[list[RunningBot]]:
    """Bots a test starts, each stopped afterwards; a test names ``postgres_url`` before this fixture, so
    the bots stop before their schema is dropped."""
    gcore.reset()
    slack.clear()
    started: list[RunningBot] = []
    yield started
    for bot in started:
        bot.stop()


def list_requests(gcore: FakeGcore, since: float, until: float = math.inf) -> Counter[int]:
    """The list requests per project that reached the Gcore fake within [since, until) (monotonic time)."""
    found: Counter[int] = Counter()
    for request in gcore.requests:
        match = _LIST_PATH.match(request.path)
        if match and since <= request.at < until:
            found[int(match[1])] += 1
    return found


def first_requests(gcore: FakeGcore, since: float) -> dict[int, float]:
    """When each project's list endpoint was first asked about at or after ``since`` (monotonic time)."""
    first: dict[int, float] = {}
    for request in gcore.requests:
        match = _LIST_PATH.match(request.path)
        if match and request.at >= since:
            first.setdefault(int(match[1]), request.at)
    return first


def scrape(bot: RunningBot) -> Scrape:
    """One scrape of the bot's /metrics."""
    response = bot.http.get(f"{bot.url}/metrics", timeout=5.0)
    assert response.status_code == 200
    return Scrape(response.text)


def leased(bot: RunningBot) -> int:
    """How many projects the replica polled in its last watch cycle, as its /metrics says."""
    return int(scrape(bot).value("inference_bot_leased_projects"))


def watch_projects(bot: RunningBot, projects: list[int], flags: str, channel: dict[int, str]) -> None:
    """``/inference watch --all --project N`` for each project, from its channel; every reply checked."""
    sent = [
        bot.command(f"watch --all --project {project} {flags}".strip(), channel_id=channel[project])
        for project in projects
    ]
    for response_id in sent:
        reply = bot.reply(response_id).body
        assert reply["response_type"] == "in_channel", reply["text"]


# -- sharing and taking over ---------------------------------------------------------------------------

# In-process bots share this process's interpreter with the fakes: a cycle of 20 projects takes 0.3-0.7 s
# here (idle, loaded), so a shorter interval would have cycles skipped, not show a project polled twice.
INTERVAL = 1.0
# The window in which each project must be polled once per interval by one replica, not twice: one replica
# polls a project at most WINDOW_INTERVALS + 1 times in it, two would poll it 6 to 8 times.
WINDOW_INTERVALS = 3
# A stopped replica's locks go at the end of its stop; the survivor's next cycle starts within one interval
# and takes them (a second interval when the cycle under way overran its slot on a loaded machine), then
# polls them within that cycle: 1 s, or two mean cycles when the full suite loads the machine and two
# in-process bots share one interpreter (measured: all 40 polled 1.0-1.3 s after the stop, idle). The soak
# test bounds a failover tightly, with processes and nothing else running.
TAKEOVER_SLACK = 1.0


def test_two_replicas_poll_disjoint_halves_of_forty_projects(
    postgres_url: str, replicas: list[RunningBot], gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    projects = list(range(1, 41))
    for project in projects:
        gcore.put(seed_deployment(project_id=project, name=f"model-{project}"))
    env = {
        "DATABASE_URL": postgres_url,
        "ALLOWED_PROJECT_IDS": "*",
        "WATCH_INTERVAL_SECONDS": str(INTERVAL),
    }
    for _ in range(2):
        replicas.append(start_bot(gcore, slack, tmp_path, **env))
    first, second = replicas
    watch_projects(first, projects, "", dict.fromkeys(projects, "C0OPS"))

    def halves() -> tuple[int, int] | None:
        shares = leased(first), leased(second)
        return shares if sum(shares) == len(projects) and all(15 <= s <= 25 for s in shares) else None

    shares = wait_for(halves, timeout=15, interval=0.05, message="the replicas to share the 40 projects")

    opened = time.monotonic()
    time.sleep(WINDOW_INTERVALS * INTERVAL)  # the observation window itself
    polled = list_requests(gcore, opened, time.monotonic())
    assert sorted(polled) == projects, "every watched project is polled, and nothing else"
    twice = {project: count for project, count in polled.items() if count > WINDOW_INTERVALS + 1}
    assert not twice, f"polled by both replicas in {WINDOW_INTERVALS} intervals: {twice}"

    second.stop()
    stopped = time.monotonic()
    wait_for(lambda: leased(first) == len(projects), timeout=15, interval=0.05, message="a takeover")
    wait_for(
        lambda: sorted(list_requests(gcore, stopped)) == projects,
        timeout=15,
        message="the survivor to poll every project",
    )
    # When the last of the 40 was first polled after the stop: the stopped replica's projects included.
    took = max(first_requests(gcore, stopped).values()) - stopped
    cycles = scrape(first)
    cycle = cycles.value("inference_bot_watch_cycle_seconds_sum") / cycles.value(
        "inference_bot_watch_cycle_seconds_count"
    )
    bound = 2 * INTERVAL + max(TAKEOVER_SLACK, 2 * cycle)
    print(
        f"leased {shares[0]} + {shares[1]}; polls per project in {WINDOW_INTERVALS} intervals: "
        f"{min(polled.values())}-{max(polled.values())}; mean cycle {cycle:.2f} s; all 40 polled by the "
        f"survivor {took:.2f} s after the other stopped (bound {bound:.1f} s)"
    )
    assert took <= bound


# -- soak: a replica killed half-way -------------------------------------------------------------------

SOAK_INTERVAL = 0.5
SOAK_PROJECTS = list(range(1, 11))
PER_PROJECT = 4
# Each deployment changes every FLIP_PERIOD s, the 40 of them staggered evenly: a project's four are 1.5 s
# apart, so each channel gets 0.67 alerts a second, under the 0.9 a second a process paces a channel at.
FLIP_PERIOD = 6.0
FLIP_SECONDS = 120.0
# From ACTIVE round and round: each step a plain "changed" alert (no problem, no sleep, no recovery).
STATUSES = ("DISABLED", "DEPLOYING", "ACTIVE")
# The survivor takes the dead replica's projects at the start of its next cycle: within one interval of
# PostgreSQL ending the killed session (it sees the socket close at once), two when the cycle under way had
# counted the replicas just before. 0.5 s is for that cycle to reach the project's request (a leases query
# and five polls of 4 deployments before it) and for PostgreSQL to end the session, on 2 shared cores.
FAILOVER_SLACK = 0.5
# After the last change: a delivery the killed leader left "sending" is left alone for SENDING_GRACE (20 s),
# its channel waits behind it, then drains its backlog at 0.9 a second.
DRAIN_SECONDS = 90.0


@dataclass(frozen=True)
class Flip:
    """One status change the test made, as the alert must tell it."""

    name: str
    old: str
    new: str
    at: float

    @property
    def told(self) -> tuple[str, str]:
        return status_words(self.old), status_words(self.new)


def soak_channel(project_id: int) -> str:
    """The channel that watches the project: one each, as a process paces each channel at Slack's rate."""
    return f"C0SOAK{project_id}"


def application_of(url: str, pid: int) -> str:
    """The application_name of a PostgreSQL session: which replica holds it."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            query = text("SELECT application_name FROM pg_stat_activity WHERE pid = :pid")
            return str(connection.execute(query, {"pid": pid}).scalar_one())
    finally:
        engine.dispose()


def alerts_in(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    """The alert messages in the channel (the bot marks each with its metadata event)."""
    return [m for m in slack.messages(channel) if (m.get("metadata") or {}).get("event_type") == ALERT_EVENT]


def open_deliveries_age(bot: RunningBot) -> float | None:
    """The age of the oldest undelivered alert per the bot's /metrics; None when it could not read it."""
    found = scrape(bot)
    name = "inference_bot_oldest_open_delivery_age_seconds"
    return found.value(name) if any(sample[0] == name for sample in found.samples) else None


def log_problems(bot: RunningBot) -> list[str]:
    """The lines of the bot's log that report an error or a traceback."""
    return [line for line in bot.log().splitlines() if "ERROR" in line or "Traceback" in line]


def kill_leader(url: str, replicas: dict[str, RunningBot]) -> tuple[BotProcess, list[int], float]:
    """SIGKILL the replica that delivers; the process, the projects it held and when it died."""
    pid = leader_pid(url)
    assert pid is not None, "no replica leads"
    victim = replicas[application_of(url, pid)]
    assert isinstance(victim, BotProcess) and victim.process is not None
    held = [project for project in SOAK_PROJECTS if lease_holders(url, project) == [pid]]
    assert held, "the leader polls none of the projects"
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait(timeout=10)
    return victim, held, time.monotonic()


@dataclass
class Told:
    """What the project channels hold: each deployment's status changes as rendered, in posting order."""

    changes: dict[str, list[tuple[str, str]]]
    delivery_ids: list[int] = field(default_factory=list)
    # Messages that are no status change of a deployment of the channel's project.
    strays: list[str] = field(default_factory=list)
    offline: int = 0


def read_channels(slack: FakeSlack, deployments: list[tuple[int, str]]) -> Told:
    """Every message in the soak's project channels, sorted into the status changes it tells and strays."""
    told = Told({name: [] for _, name in deployments})
    for project in SOAK_PROJECTS:
        for message in slack.messages(soak_channel(project)):
            said = all_text(message.get("blocks", [])) or str(message.get("text"))
            meta = message.get("metadata") or {}
            match = _CHANGED.search(said)
            if (
                match is None
                or meta.get("event_type") != ALERT_EVENT
                or match["name"] not in told.changes
                or not said.startswith(f"*soak-{project}-")
            ):
                told.strays.append(f"in {soak_channel(project)}: {said}")
                continue
            told.delivery_ids.append(meta["event_payload"]["delivery_id"])
            told.changes[match["name"]].append((match["old"], match["new"]))
            told.offline += "happened while the bot was offline" in said
    return told


@pytest.mark.slow
def test_soak_two_replicas_one_killed_half_way_lose_and_double_nothing(
    postgres_url: str, replicas: list[RunningBot], gcore: FakeGcore, slack: FakeSlack, tmp_path: Path
) -> None:
    began = time.monotonic()
    deployments = [(p, f"soak-{p}-{i}") for i in range(PER_PROJECT) for p in SOAK_PROJECTS]
    for project, name in deployments:
        gcore.put(seed_deployment(project_id=project, name=name, status="ACTIVE"))
    for replica in ("a", "b"):
        workdir = tmp_path / replica
        workdir.mkdir()
        env = {
            "DATABASE_URL": f"{postgres_url}&application_name=replica-{replica}",
            "ALLOWED_PROJECT_IDS": "*",
            "WATCH_INTERVAL_SECONDS": str(SOAK_INTERVAL),
            "STUCK_AFTER_SECONDS": "3600",
            # More than 4 changes within the window would be flapping; a window of 1 s never holds two.
            "FLAP_WINDOW_SECONDS": "1",
            "LOG_LEVEL": "INFO",
        }
        replicas.append(start_bot_process(gcore, slack, workdir, **env))
    by_name = dict(zip(("replica-a", "replica-b"), replicas, strict=True))
    watch_projects(replicas[0], SOAK_PROJECTS, "--flat", {p: soak_channel(p) for p in SOAK_PROJECTS})
    wait_for(
        lambda: sorted(leased(bot) for bot in replicas) == [5, 5],
        timeout=20,
        interval=0.1,
        message="the replicas to share the 10 projects",
    )
    # Two polls of each project from here on: its first reading is recorded, so every change is news.
    settled = time.monotonic()
    wait_for(
        lambda: all(list_requests(gcore, settled)[p] >= 2 for p in SOAK_PROJECTS),
        timeout=15,
        message="two polls of every project",
    )

    # Flip every deployment on its own staggered schedule; kill the delivery leader half-way.
    schedule = sorted(
        (index * FLIP_PERIOD / len(deployments) + step * FLIP_PERIOD, index)
        for index in range(len(deployments))
        for step in range(int(FLIP_SECONDS / FLIP_PERIOD))
    )
    status = dict.fromkeys(deployments, "ACTIVE")
    flips: list[Flip] = []
    killed: tuple[BotProcess, list[int], float] | None = None
    flipping = time.monotonic()
    for offset, index in schedule:
        if killed is None and offset >= FLIP_SECONDS / 2:
            killed = kill_leader(postgres_url, by_name)
        time.sleep(max(0.0, flipping + offset - time.monotonic()))  # the flipper's own pace
        project, name = deployments[index]
        old = status[project, name]
        new = STATUSES[(STATUSES.index(old) + 1) % len(STATUSES)]
        gcore.set_status(project, name, new)
        status[project, name] = new
        flips.append(Flip(name, old, new, time.monotonic()))
    assert killed is not None
    victim, victim_projects, killed_at = killed
    survivor = next(bot for bot in replicas if bot is not victim)

    def all_delivered() -> bool:
        count = sum(len(alerts_in(slack, soak_channel(p))) for p in SOAK_PROJECTS)
        return count >= len(flips) and open_deliveries_age(survivor) == 0

    wait_for(all_delivered, timeout=DRAIN_SECONDS, interval=0.5, message="every alert delivered")
    drained = time.monotonic()

    # Failover, as the fakes saw it.
    polled_after = first_requests(gcore, killed_at)
    takeover = [polled_after[project] - killed_at for project in victim_projects]
    posts = [call.at for call in slack.calls("chat.postMessage") if call.at > killed_at]
    first_alert = min(posts) - killed_at if posts else math.inf

    # Every flip told once, in order, in its project's channel; nothing else there.
    expected: dict[str, list[tuple[str, str]]] = {name: [] for _, name in deployments}
    for flip in flips:
        expected[flip.name].append(flip.told)
    told = read_channels(slack, deployments)
    lost = {name: flips for name, flips in expected.items() if Counter(flips) - Counter(told.changes[name])}
    wrong = {
        name: {"expected": expected[name], "seen": seen}
        for name, seen in told.changes.items()
        if seen != expected[name]
    }
    doubled = [i for i, n in Counter(told.delivery_ids).items() if n > 1]

    problems = {name: log_problems(bot) for name, bot in by_name.items()}
    print(
        f"replica killed: {next(n for n, b in by_name.items() if b is victim)} (the delivery leader), "
        f"holding projects {victim_projects}\n"
        f"failover (SIGKILL to the survivor's first list request of each of its projects): "
        f"max {max(takeover):.2f} s, median {statistics.median(takeover):.2f} s "
        f"(bound {2 * SOAK_INTERVAL + FAILOVER_SLACK:.1f} s)\n"
        f"SIGKILL to the survivor's first alert: {first_alert:.2f} s\n"
        f"flips {len(flips)}, alerts {len(told.delivery_ids)}, strays {len(told.strays)}, "
        f"doubled ids {len(doubled)}, 'while the bot was offline' {told.offline}\n"
        f"drained {drained - flips[-1].at:.1f} s after the last flip; wall {time.monotonic() - began:.1f} s\n"
        f"ERROR/Traceback lines: {json.dumps({n: len(p) for n, p in problems.items()})}"
    )
    for name, lines in problems.items():
        for line in lines[:10]:
            print(f"{name}: {line}")

    assert told.strays == []
    assert doubled == []
    assert lost == {}
    assert wrong == {}
    assert len(told.delivery_ids) == len(flips)
    # A handover or a failover is no outage: no alert may say the bot was offline.
    assert told.offline == 0
    assert max(takeover) <= 2 * SOAK_INTERVAL + FAILOVER_SLACK
    for bot in replicas:
        assert_no_secrets(bot.log())
