"""The store's connections: the bounds libpq puts on each PostgreSQL connection (a dead server is noticed in
seconds, not the OS's minutes, and a URL's own setting wins), and which failures mean the database does not
answer."""

from __future__ import annotations

import logging
import socket
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.errors import DatabaseUnavailable
from bot.store.base import StoreBase
from bot.store.engine import POSTGRES_CONNECT_DEFAULTS, create_database_engine, threaded
from bot.store.reach import Reachability
from tests.bots import free_port
from tests.databases import sqlite_url


def connection_of(url: str) -> tuple[dict[str, str], dict[str, int]]:
    """The libpq parameters of a new connection of the engine for ``url``, and what its socket carries."""
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            dbapi = connection.connection.dbapi_connection
            assert isinstance(dbapi, psycopg.Connection)
            parameters = dbapi.info.get_parameters()
            # A duplicate of the connection's socket, to read the options libpq set on it.
            with closing(socket.socket(fileno=socket.dup(dbapi.pgconn.socket))) as sock:
                options = {
                    "keepalives": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                    "keepalives_idle": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                    "keepalives_interval": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                    "keepalives_count": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
                    "tcp_user_timeout": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
                }
            return parameters, options
    finally:
        engine.dispose()


def test_a_dead_server_is_noticed_within_about_15_seconds(postgres_url: str) -> None:
    parameters, options = connection_of(postgres_url)
    assert {name: parameters[name] for name in POSTGRES_CONNECT_DEFAULTS} == {
        name: str(value) for name, value in POSTGRES_CONNECT_DEFAULTS.items()
    }
    assert options == {name: POSTGRES_CONNECT_DEFAULTS[name] for name in options}
    idle, interval, count = (
        options["keepalives_idle"],
        options["keepalives_interval"],
        options["keepalives_count"],
    )
    assert idle + interval * count <= 15 and options["tcp_user_timeout"] <= 15_000
    # No statement_timeout: a migration or a wait for the leader lock at start must not be cut.
    assert "statement_timeout" not in parameters.get("options", "")


@pytest.mark.parametrize(
    ("setting", "value"),
    [("connect_timeout", 9), ("keepalives_idle", 30), ("tcp_user_timeout", 60_000), ("keepalives", 0)],
)
def test_a_urls_own_setting_wins(postgres_url: str, setting: str, value: int) -> None:
    parameters, _ = connection_of(f"{postgres_url}&{setting}={value}")
    assert parameters[setting] == str(value)
    others = {name: parameters[name] for name in POSTGRES_CONNECT_DEFAULTS if name != setting}
    assert others == {name: str(v) for name, v in POSTGRES_CONNECT_DEFAULTS.items() if name != setting}


class Probe(StoreBase):
    """The smallest part of a store: one threaded query."""

    def __init__(self, url: str) -> None:
        self._engine = create_database_engine(url)
        self._reach = Reachability()

    @threaded
    def scalar(self, sql: str) -> object:
        with self._engine.connect() as connection:
            return connection.execute(text(sql)).scalar()


async def test_a_server_that_does_not_answer_is_unavailable_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    probe = Probe(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
    for _ in range(3):
        with pytest.raises(DatabaseUnavailable):
            await probe.scalar("SELECT 1")
    said = [r for r in caplog.records if r.name == "bot.store.reach" and r.levelno >= logging.WARNING]
    # One line for the outage, saying why as the driver does.
    assert len(said) == 1
    assert (
        said[0].getMessage().startswith("the database does not answer (OperationalError: connection failed")
    )
    assert said[0].getMessage().endswith("; the bot retries on each call")


async def test_a_wrong_statement_is_a_bug_not_an_outage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    probe = Probe(sqlite_url(tmp_path))
    with pytest.raises(OperationalError, match="no such table"):
        await probe.scalar("SELECT * FROM missing")
    assert await probe.scalar("SELECT 1") == 1
    assert not [r for r in caplog.records if r.name == "bot.store.reach"]
