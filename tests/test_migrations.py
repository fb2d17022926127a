"""Schema migrations: every revision upgrades a database of the one before, holding rows, on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import BigInteger, MetaData, create_engine, insert, inspect, select, text

from bot.__main__ import main
from bot.store import Store, migrate
from bot.store.engine import create_database_engine
from bot.store.schema import Base
from tests.blockkit import all_text
from tests.bots import bot_environment, free_port, fresh_fakes, start_in_process
from tests.fakes.gcore import FakeGcore
from tests.fakes.slack import FakeSlack
from tests.test_e2e_watch import CHANNEL, LIST_PATH, WatchBot

OLD_EPISODE = 7
AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def database_at(url: str, revision: str, *, stamped: bool = True) -> MetaData:
    """A database built by the revisions up to ``revision``, and its tables as reflected.

    Revision 0001 is the schema commit 56bd510 made with ``create_all``, before migrations existed:
    ``stamped=False`` drops ``alembic_version``, leaving exactly what such a database holds.
    """
    engine = create_database_engine(url)
    with engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), revision)
        if not stamped:
            connection.execute(text("DROP TABLE alembic_version"))
    tables = MetaData()
    tables.reflect(engine)
    engine.dispose()
    return tables


def make_old_database(url: str, revision: str = "0001", *, stamped: bool = False) -> None:
    """A database of ``revision`` (by default as 56bd510 made it) holding a subscription, a deployment's
    state and a delivered alert."""
    old = database_at(url, revision, stamped=stamped)
    engine = create_engine(url)
    with engine.begin() as connection:
        t = old.tables
        connection.execute(
            insert(t["subscriptions"]).values(
                id=1,
                channel_id=CHANNEL,
                project_id=1,
                target="my-instance",
                only_problems=False,
                flat=False,
                created_by="U0ALICE",
                created_at=AT,
                paused_reason=None,
            )
        )
        snapshot = {
            "name": "my-instance",
            "status": "ACTIVE",
            "ready": 1,
            "total": 3,
            "min_ready": 1,
            "errors": [],
        }
        connection.execute(
            insert(t["deployment_states"]).values(
                project_id=1,
                name="my-instance",
                snapshot=snapshot,
                unsettled_since=None,
                stuck_alerted=False,
                problem=False,
                changes=[],
                flapping=False,
                episode=OLD_EPISODE,
                episode_open=False,
            )
        )
        connection.execute(
            insert(t["project_health"]).values(
                project_id=1, baseline_done=True, last_polled_at=AT, failures=0, outage_notified=False
            )
        )
        connection.execute(
            insert(t["transitions"]).values(
                id=1,
                project_id=1,
                name="my-instance",
                kind="changed",
                at=AT,
                old_status="DEPLOYING",
                new_status="ACTIVE",
                snapshot=snapshot,
                episode=OLD_EPISODE,
                problem=False,
                recovery=False,
                offline=False,
                flap_count=0,
            )
        )
        connection.execute(
            insert(t["deliveries"]).values(
                id=1,
                transition_id=1,
                channel_id=CHANNEL,
                flat=False,
                state="done",
                ts="1763629200.000100",
                thread_ts=None,
                attempts=0,
                last_error=None,
                updated_at=AT,
            )
        )
        connection.execute(
            insert(t["threads"]).values(
                channel_id=CHANNEL,
                project_id=1,
                name="my-instance",
                episode=OLD_EPISODE,
                purpose="episode",
                ts="1763629200.000100",
            )
        )
        if url.startswith("postgresql"):
            # Rows written by the bot itself leave the id sequences past them; these explicit ids do not.
            for table in ("subscriptions", "transitions", "deliveries"):
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1)"))
    engine.dispose()


@pytest.fixture
def fakes(gcore: FakeGcore, slack: FakeSlack) -> Iterator[tuple[FakeGcore, FakeSlack]]:
    fresh_fakes(gcore, slack)
    yield gcore, slack


def differences_from_the_models(database_url: str) -> list[object]:
    """What Alembic's autogenerate would change in the database to match the models; the database must be
    at the newest revision."""
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == migrate.head()
        differences = list(compare_metadata(context, Base.metadata))
    engine.dispose()
    return differences


def test_every_revision_in_turn_makes_exactly_the_models(database_url: str) -> None:
    engine = create_database_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "head")
    engine.dispose()
    assert differences_from_the_models(database_url) == []


def test_a_new_database_gets_the_models_at_the_newest_revision(database_url: str) -> None:
    Store(database_url).close()
    assert differences_from_the_models(database_url) == []


def test_a_database_of_56bd510_upgrades_and_keeps_its_rows(
    database_url: str, fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    make_old_database(database_url)
    watcher = WatchBot(fakes[0], fakes[1], tmp_path, {"DATABASE_URL": database_url})
    try:
        assert "stamping it 0001 before upgrading" in watcher.bot.log()
        listing = watcher.command("watching")
        assert "`my-instance` (project 1)" in str(listing["blocks"])
        # The old state is the baseline: the next change is one alert, in a new episode of today's ids.
        watcher.gcore.set_status(1, "my-instance", "DEPLOYING")
        (alert,) = watcher.wait_alerts(1)
        assert "🟢 Active → 🔵 Deploying" in all_text(alert["blocks"])
    finally:
        watcher.bot.stop()
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        episodes = connection.execute(text("SELECT episode FROM transitions ORDER BY id")).scalars().all()
        kept = connection.execute(text("SELECT state FROM deliveries WHERE id = 1")).scalar()
        types = {c["name"]: c["type"] for c in inspect(connection).get_columns("transitions")}
    engine.dispose()
    assert episodes[0] == OLD_EPISODE and kept == "done"
    assert episodes[-1] >= int(AT.timestamp() * 1000) > 2**31  # milliseconds: past INTEGER's range
    if database_url.startswith("postgresql"):
        assert isinstance(types["episode"], BigInteger)


@pytest.mark.parametrize("revision", ["0002", "0003", "0004", "0005", "0006"])
def test_a_database_of_a_previous_revision_upgrades_and_keeps_its_rows(
    revision: str, database_url: str, fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    """0003 adds owners, mutes and outage columns; 0004 an index on transitions; 0005 specs and actors; 0006 the audit
    and the Home tab; 0007 the confirmations' response_urls."""
    make_old_database(database_url, revision, stamped=True)
    watcher = WatchBot(
        fakes[0], fakes[1], tmp_path, {"DATABASE_URL": database_url, "GCORE_OUTAGE_ALERT_AFTER": "1"}
    )
    try:
        assert f"upgrading the database from {revision} to {migrate.head()}" in watcher.bot.log()
        listing = all_text(watcher.command("watching")["blocks"])
        assert "`my-instance` (project 1)" in listing and "notifies" not in listing
        reply = watcher.command("watch my-instance --notify <@U0BOB|bob>")
        assert "mention" in reply["text"]
        assert "<@U0BOB>" in all_text(watcher.command("watching")["blocks"])
        # A rejected key fails a poll at its first request: a dropped connection is retried with backoff,
        # 0.9 s on average, for no more of the outage columns (their reason and since) than this writes.
        watcher.gcore.fail_next(401, times=1000, path=LIST_PATH)
        (notice,) = watcher.wait_alerts(1)
        assert "the API key was rejected (401)" in notice["text"]
    finally:
        watcher.bot.stop()
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT state FROM deliveries WHERE id = 1")).scalar()
        since = connection.execute(text("SELECT failing_since FROM project_health")).scalar()
    engine.dispose()
    assert kept == "done" and since is not None


def test_two_bots_starting_at_once_on_an_empty_database_create_the_schema_once(
    postgres_url: str, fakes: tuple[FakeGcore, FakeSlack], tmp_path: Path
) -> None:
    gcore, slack = fakes
    bots = []
    try:
        # Both started before either is waited for: their migrations run at the same time.
        for _ in range(2):
            port = free_port()
            bots.append(
                start_in_process(bot_environment(gcore, slack, port, DATABASE_URL=postgres_url), port, slack)
            )
        for bot in bots:
            bot.wait_healthy()
        log = bots[0].log()  # one log for the process: both bots' lines
        assert log.count(f"creating the tables of revision {migrate.head()} in an empty database") == 1
    finally:
        for bot in bots:
            bot.stop()
    engine = create_database_engine(postgres_url)
    with engine.connect() as connection:
        versions = connection.execute(select(text("version_num")).select_from(text("alembic_version")))
        assert versions.scalars().all() == [migrate.head()]
    engine.dispose()


def test_operators_can_migrate_as_a_step_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'ops.db'}")
    monkeypatch.chdir(tmp_path)  # no developer .env

    def run(*args: str) -> tuple[int, str]:
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out.strip() or err.strip().splitlines()[-1]

    assert run("db", "current") == (0, "database at revision none (newest known: 0007)")
    assert run("db", "upgrade") == (0, "database at revision 0007 (newest known: 0007)")
    assert run("db", "current") == (0, "database at revision 0007 (newest known: 0007)")
    assert run("db", "downgrade") == (2, "usage: python -m bot [db upgrade | db current]")
