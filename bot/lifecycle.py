"""How the bot stops: it drains, on SIGTERM or SIGINT (``python -m bot``) or when an in-process bot's
``shutdown`` event is set (tests). The work taken gets ``SHUTDOWN_SECONDS`` (``DRAIN_SECONDS`` by default)
less ``CLOSING_SECONDS`` from the signal; each step that stops intake gets ``INTAKE_STEP_SECONDS`` at most;
closing the clients is not bounded here (a database that does not answer can hold it).

1. It takes nothing new: ``/readyz`` and ``POST /slack/events`` answer 503 (``Health.draining``), Socket
   Mode closes its websocket, the scheduler starts no poll, and the loops that start work (delivery and
   Home tab rounds) stop; a delivery worker takes no next delivery.
2. It finishes what it took, in order: the slash commands and clicks acknowledged early
   (``bot.slack.web.AckedRequests``), the Bolt listeners still running after their ack, response_url posts
   and all (``bot.slack.listeners.RunningListeners``), and the delivery each notifier worker is on.
3. The web server closes; ``serve()`` then stops the scheduler and closes every client.

Past the bound, what still runs is cancelled and the log names it: an acknowledged request then goes
unanswered, and a delivery left ``sending`` is looked up and completed on the next start. The exit status
is 0 either way. uvicorn's own signal handling is off: it would stop serving at once, then raise the
signal again, ending the process before anything was finished or closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Protocol

import uvicorn
from starlette.applications import Starlette

from bot.health import Health

log = logging.getLogger(__name__)
# uvicorn's own lines about the web server, which ``Server`` keeps.
_uvicorn_log = logging.getLogger("uvicorn.error")

# From the signal to the exit.
DRAIN_SECONDS = 10.0
# Of those, what the drain leaves for the web server to close and serve() to close its clients.
CLOSING_SECONDS = 2.0
# How long the web server then waits for requests still open, such as a view submission before its ack.
SERVER_CLOSE_SECONDS = 1
# How often the closing web server looks whether those are done (uvicorn: every 0.1 s, after 0.1 s at least).
CLOSE_POLL_SECONDS = 0.01
# Each step that stops new work (closing a websocket whose peer is gone can take aiohttp 10 s) gets at
# most this, so the work taken keeps its time.
INTAKE_STEP_SECONDS = 1.0
# Of that, what Socket Mode waits for the envelopes it received to be acknowledged before it closes.
SOCKET_ACKS_SECONDS = 0.5
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Unfinished(Protocol):
    """Work taken before the stop, which the drain waits for, or cancels at its deadline."""

    def in_flight(self) -> int:
        """How many are still under way."""

    async def finish(self) -> None:
        """Wait until none is under way."""

    async def aclose(self) -> None:
        """Cancel what is still under way."""


class Server(uvicorn.Server):
    """uvicorn's server without its own signal handling (``stop_on_signals`` takes the signals), and
    without the fixed waits of uvicorn's own stop: it notices ``should_exit`` at once rather than at its
    next tick (up to 0.1 s), and closes as soon as its connections and requests are done rather than
    after 0.1 s at least. What it waits for, and for how long at most, is uvicorn's."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._exiting = asyncio.Event()
        super().__init__(config)

    @property
    def should_exit(self) -> bool:
        """Whether the server is to stop serving; setting it wakes the serving loop."""
        return self._exiting.is_set()

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if value:
            self._exiting.set()
        else:
            self._exiting.clear()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Where uvicorn installs its handlers, and raises a caught signal again once it has stopped."""
        yield

    async def main_loop(self) -> None:
        """uvicorn's loop, ticking every 0.1 s (the Date header, the exit check), woken by ``should_exit``."""
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await self._exiting.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's stop: take no new connection, close the idle ones, wait up to
        ``timeout_graceful_shutdown`` for the requests still open (then cancel them), then the lifespan."""
        _uvicorn_log.info("Shutting down")
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state = self.server_state
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                # uvicorn's state has no event to wait on: its connections and tasks are plain sets.
                while (state.connections or state.tasks) and not self.force_exit:  # noqa: ASYNC110
                    await asyncio.sleep(CLOSE_POLL_SECONDS)
                for server in self.servers:
                    await server.wait_closed()
        except TimeoutError:
            log.error(
                "stopping: cancelling %d request(s) still open after the web server's bound", len(state.tasks)
            )
            for task in state.tasks:
                task.cancel()
        if not self.force_exit:
            await self.lifespan.shutdown()


def web_server(app: Starlette, host: str, port: int) -> Server:
    """The web server of ``app`` on ``host``:``port``, without uvicorn's logging setup or access log."""
    return Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=SERVER_CLOSE_SECONDS,
        )
    )


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT set ``stop`` (the main thread's event loop only)."""
    loop = asyncio.get_running_loop()
    for number in SIGNALS:
        loop.add_signal_handler(number, _asked_to_stop, stop, number)
    try:
        yield
    finally:
        for number in SIGNALS:
            loop.remove_signal_handler(number)


def _asked_to_stop(stop: asyncio.Event, number: int) -> None:
    name = signal.Signals(number).name
    log.info("%s: %s", name, "already stopping" if stop.is_set() else "stopping")
    stop.set()


class Drain:
    """The stop, step by step: what stops new work coming in, then the work to finish, in order."""

    def __init__(self, health: Health, server: uvicorn.Server, *, seconds: float = DRAIN_SECONDS) -> None:
        self._health, self._server, self._seconds = health, server, seconds
        self._intake: list[Callable[[], object]] = []
        self._work: list[tuple[str, Unfinished]] = []

    def stops_taking(self, close: Callable[[], object]) -> None:
        """Call ``close`` (awaiting what it returns, if anything) first thing, to stop new work coming in;
        ``Health.draining`` is set before."""
        self._intake.append(close)

    def waits_for(self, name: str, work: Unfinished) -> None:
        """Finish ``work``, after the work added before it; ``name`` says what it is in the log."""
        self._work.append((name, work))

    async def run(self, stop: asyncio.Event) -> None:
        """Once ``stop`` is set: take nothing new, finish what was taken (or cancel it at the deadline),
        then let the web server exit."""
        await stop.wait()
        loop = asyncio.get_running_loop()
        began = loop.time()
        self._health.draining = True
        try:
            for close in self._intake:
                await self._stop_taking(close)
            async with asyncio.timeout(self._seconds - CLOSING_SECONDS - (loop.time() - began)):
                for _, work in self._work:
                    await work.finish()
        except TimeoutError:
            await self._cut_short(loop.time() - began)
        except Exception:
            log.exception("stopping: the drain failed; closing now")
        else:
            log.info("stopping: everything taken was finished in %.2f s", loop.time() - began)
        finally:
            # Whatever happened above, the web server exits and serve() closes everything.
            self._server.should_exit = True

    @staticmethod
    async def _stop_taking(close: Callable[[], object]) -> None:
        """One step that stops new work, bounded; a step that fails or hangs is logged, and the others run."""
        try:
            async with asyncio.timeout(INTAKE_STEP_SECONDS):
                closing = close()
                if inspect.isawaitable(closing):
                    await closing
        except TimeoutError:
            log.warning(
                "stopping: %s took over %.0f s; going on",
                getattr(close, "__qualname__", close),
                INTAKE_STEP_SECONDS,
            )
        except Exception:
            log.exception("stopping: %s failed; going on", getattr(close, "__qualname__", close))

    async def _cut_short(self, seconds: float) -> None:
        left = [f"{count} {name}" for name, work in self._work if (count := work.in_flight())]
        log.warning("stopping: cut short after %.1f s: %s", seconds, ", ".join(left) or "nothing under way")
        for _, work in self._work:
            await work.aclose()
