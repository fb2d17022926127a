"""``python -m bot``: Socket Mode when SLACK_APP_TOKEN is set, otherwise HTTP mode served by uvicorn on PORT."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from slack_bolt.async_app import AsyncApp

from bot.config import Settings, SettingsError, load_database_settings, load_settings
from bot.errors import DatabaseUnavailable
from bot.health import Health
from bot.lifecycle import INTAKE_STEP_SECONDS, SOCKET_ACKS_SECONDS, Drain, stop_on_signals, web_server
from bot.log_format import log_formatter
from bot.services import Services
from bot.slack.api import SlackApi, web_client
from bot.slack.auth import StartupError, TokenRecheck, check_slack_token
from bot.slack.listeners import RunningListeners
from bot.slack.pacing import ChannelRateLimiter
from bot.slack.web import AckedRequests, create_web_app
from bot.store import DatabaseInUse, migrate
from bot.store.engine import create_database_engine
from bot.watch.actors import LOOKBACK_MARGIN, ActorLookup
from bot.watch.logs import AlertLogs
from bot.watch.notifier import Notifier
from bot.watch.pauses import ChannelPauses
from bot.watch.placement import Placement
from bot.watch.specs import digest_key
from bot.watch.transitions import WatchRules
from bot.watch.watcher import Watcher
from handlers import create_app

if TYPE_CHECKING:
    from bot.slack.socket_mode import PatientSocketModeHandler

log = logging.getLogger("bot")

# Libraries whose DEBUG output carries request bodies (response_url, socket envelopes): never below INFO.
_CHATTY_LOGGERS = ("slack_bolt", "slack_sdk", "httpx", "httpcore", "uvicorn.access", "apscheduler")


def configure_logging(settings: Settings) -> None:
    """One log format for the bot and its libraries: text, or one JSON object per line (LOG_FORMAT)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(settings))
    logging.basicConfig(level=settings.log_level_number, handlers=[handler])
    quiet_libraries(settings.log_level_number)


def quiet_libraries(level: int) -> None:
    """Keep the libraries whose DEBUG output carries request bodies at INFO or above."""
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    # httpx logs every request line at INFO; our client logs what matters (retries, failures) itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # APScheduler logs two INFO lines per watch cycle ("Running job", "executed successfully"): thousands a
    # day saying nothing happened. A cycle it skips or misses is still a warning.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))


def start_watching(
    app: AsyncApp, services: Services, pacing: ChannelRateLimiter | None = None
) -> tuple[AsyncIOScheduler, Watcher, Notifier, list[asyncio.Task[None]], ActorLookup]:
    """The watcher on its APScheduler schedule, the notifier's delivery loop and the Home tab's
    republishing beside it, the recheck of paused channels, and the lookups of who started each episode.
    ``pacing`` defaults to Slack's one message per channel per second."""
    settings = services.settings
    poster = SlackApi(
        web_client(settings.slack_bot_token.get_secret_value(), str(settings.slack_api_url), for_alerts=True),
        limiter=pacing,
        on_error=services.metrics.count_slack_error,
    )
    pauses = ChannelPauses(poster, services.store, recheck_seconds=settings.paused_channel_recheck_seconds)
    interval = timedelta(seconds=settings.watch_interval_seconds)
    actors = ActorLookup(
        services.watch_gcore,
        services.store,
        poster,
        clock=services.clock,
        lookback=interval + LOOKBACK_MARGIN,
    )
    notifier = Notifier(
        poster,
        services.store,
        services.health,
        clock=services.clock,
        stuck_after_seconds=settings.stuck_after_seconds,
        pauses=pauses,
        placement=Placement(
            services.store,
            settings.stuck_after_seconds,
            AlertLogs(services.watch_gcore, settings.alert_log_lines) if settings.alert_log_lines else None,
            regions=services.regions,
            portal_url=settings.gcore_portal_url,
            actors=actors,
            operate=services.access.operators.enabled,
        ),
    )
    home = services.home
    watcher = Watcher(
        services.watch_gcore,
        services.store,
        notifier,
        clock=services.clock,
        rules=WatchRules(
            stuck_after=timedelta(seconds=settings.stuck_after_seconds),
            flap_window=timedelta(seconds=settings.flap_window_seconds),
        ),
        interval=interval,
        outage_alert_after=settings.gcore_outage_alert_after,
        allows_project=services.access.allows_project,
        allows_channel=services.access.allows_channel,
        digest_key=digest_key(settings.gcore_api_key.get_secret_value()),
        home=home,
        metrics=services.metrics,
    )

    async def recheck_paused_channels() -> None:
        # A database that does not answer was logged by the store; the next recheck tries again.
        with contextlib.suppress(DatabaseUnavailable):
            if await services.store.lead():
                await pauses.resume_reachable()

    scheduler = AsyncIOScheduler()
    scheduler.add_job(
        watcher.run_cycle,
        IntervalTrigger(seconds=settings.watch_interval_seconds),
        id="watch",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),
    )
    scheduler.add_job(
        recheck_paused_channels,
        IntervalTrigger(seconds=settings.paused_channel_recheck_seconds),
        id="paused-channels",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
    )
    scheduler.start()
    loops = [
        asyncio.create_task(notifier.run_forever(), name="notifier"),
        asyncio.create_task(home.run_forever(), name="home-tab"),
    ]
    return scheduler, watcher, notifier, loops, actors


async def serve(
    settings: Settings, shutdown: asyncio.Event | None = None, *, pacing: ChannelRateLimiter | None = None
) -> None:
    """Run the bot until it is stopped: by a signal, or when ``shutdown`` is set (tests run it in-process).
    ``pacing`` replaces Slack's one message per channel per second; only tests pass one, to spend less time
    waiting on the Slack fake, which has no such limit."""
    try:
        services = Services.from_settings(settings)
    except DatabaseInUse as error:
        raise StartupError(str(error)) from None
    try:
        app = create_app(settings, services)
        identity = await check_slack_token(services.slack)
    except BaseException:
        await services.aclose()
        raise
    services.access.remember_identity(identity)
    services.health.slack_token_checked = bool(identity)
    scheduler, watcher, notifier, loops, actors = start_watching(app, services, pacing)
    if not identity:
        # Slack could not be asked at start: not ready until it confirms the token.
        recheck = TokenRecheck(services.slack, services.health).wait_until_valid()
        loops.append(asyncio.create_task(recheck, name="token-check"))
    acked, listeners = AckedRequests(app), RunningListeners(app)
    web = create_web_app(
        app,
        services.health,
        serve_events=not settings.socket_mode,
        signing_secret=settings.signing_secret,
        database_ready=services.store.ready,
        acked=acked,
        metrics=services.metrics,
    )
    server = web_server(web, settings.host, settings.port)
    socket = _socket_mode(app, settings, services.health)
    # A stop drains (bot/lifecycle.py): nothing new is taken, and what was taken is finished.
    drain = Drain(services.health, server, seconds=settings.shutdown_seconds)
    if socket is not None:
        drain.stops_taking(functools.partial(socket.close_after_acks, within=SOCKET_ACKS_SECONDS))
    drain.stops_taking(scheduler.pause)
    for background in loops:
        drain.stops_taking(background.cancel)
    drain.waits_for("Slack requests acknowledged, not yet dispatched", acked)
    drain.waits_for("Slack requests still being answered", listeners)
    drain.waits_for("a watch cycle under way", watcher)
    drain.waits_for("channels still delivering an alert", notifier)
    stop = shutdown or asyncio.Event()
    tasks = [*loops, asyncio.create_task(drain.run(stop), name="drain")]
    if socket is not None:
        # In the background: the health checks answer while Slack cannot be reached.
        tasks.append(asyncio.create_task(_connect(socket, settings.port), name="socket-mode"))
    else:
        log.info("serving Slack requests on port %d", settings.port)
    try:
        # python -m bot stops on SIGTERM or SIGINT while it serves (before, the default: a start-up that hangs
        # still ends); a bot run in-process (tests) when ``shutdown`` is set.
        with stop_on_signals(stop) if shutdown is None else contextlib.nullcontext():
            await server.serve()
    finally:
        scheduler.shutdown(wait=False)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if socket is not None:
            # Closed by the drain already, unless that timed out on a peer that is gone.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(INTAKE_STEP_SECONDS):
                    await socket.close_async()  # type: ignore[no-untyped-call]
        await notifier.aclose()
        await actors.aclose()
        await services.aclose()


def _socket_mode(app: AsyncApp, settings: Settings, health: Health) -> PatientSocketModeHandler | None:
    """Socket Mode's connection, not yet open (``health`` says so); None in HTTP mode."""
    if settings.slack_app_token is None:
        return None
    # Imported here: it costs HTTP mode a fifth of its start-up on a slow disk (docs/performance.md).
    from bot.slack.socket_mode import PatientSocketModeHandler

    token, api_url = settings.slack_app_token.get_secret_value(), str(settings.slack_api_url)
    return PatientSocketModeHandler(app, token, api_url, health)


async def _connect(socket: PatientSocketModeHandler, port: int) -> None:
    await socket.connect_async()  # type: ignore[no-untyped-call]
    if not socket.client.closed:  # else a stop ended the attempts
        log.info("connected to Slack in Socket Mode; health checks on port %d", port)


DB_USAGE = "usage: python -m bot [db upgrade | db current]"


def database_command(action: str) -> int:
    """``python -m bot db upgrade|current``: migrations as a step of their own, for operators who want one."""
    try:
        settings = load_database_settings()
    except SettingsError as error:
        print(f"inference-bot: cannot start: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    engine = create_database_engine(settings.database_url)
    try:
        revision = migrate.upgrade(engine) if action == "upgrade" else migrate.current(engine)
    finally:
        engine.dispose()
    print(f"database at revision {revision or 'none'} (newest known: {migrate.head()})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: a bad setting is one line on stderr and exit status 2."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        if len(args) == 2 and args[0] == "db" and args[1] in ("upgrade", "current"):
            return database_command(args[1])
        print(DB_USAGE, file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"inference-bot: cannot start: {error}", file=sys.stderr)
        return 2
    configure_logging(settings)
    # What is imported by now lives as long as the process: frozen, no full collection walks it again, nor
    # the one at exit (0.2 s of CPU at each stop).
    gc.freeze()
    try:
        asyncio.run(serve(settings))
    except StartupError as error:
        print(f"inference-bot: cannot start: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
