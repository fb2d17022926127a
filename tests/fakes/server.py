"""Shared plumbing for loopback fakes: an aiohttp app on 127.0.0.1 in its own thread and loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar, overload

from aiohttp import web

T = TypeVar("T")

_HOST = "127.0.0.1"


def _describe(predicate: Callable[[], object], message: str | None) -> str:
    if message:
        return message
    name = getattr(predicate, "__qualname__", None) or repr(predicate)
    return f"condition {name}"


@overload
def wait_for(
    predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01, *, message: str | None = None
) -> bool: ...


@overload
def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = 5.0,
    interval: float = 0.01,
    *,
    message: str | None = None,
) -> T: ...


def wait_for(
    predicate: Callable[[], T | bool | None],
    timeout: float = 5.0,
    interval: float = 0.01,
    *,
    message: str | None = None,
) -> T | bool:
    """Poll ``predicate`` from a synchronous context until it returns something truthy, and return it.

    Raises ``AssertionError`` naming the condition (or ``message``) and the last value seen if
    ``timeout`` seconds pass first. Do not call this from a coroutine whose event loop must keep
    running for the condition to come true (e.g. a client living in the test's loop): use
    :func:`wait_for_async` there.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:.2f}s waiting for {_describe(predicate, message)} "
                f"(last value: {value!r})"
            )
        time.sleep(interval)


# ASYNC109 is silenced below on purpose: these mirror wait_for()'s signature.
@overload
async def wait_for_async(
    predicate: Callable[[], bool],
    timeout: float = 5.0,  # noqa: ASYNC109
    interval: float = 0.01,
    *,
    message: str | None = None,
) -> bool: ...


@overload
async def wait_for_async(
    predicate: Callable[[], T | None],
    timeout: float = 5.0,  # noqa: ASYNC109
    interval: float = 0.01,
    *,
    message: str | None = None,
) -> T: ...


async def wait_for_async(
    predicate: Callable[[], T | bool | None],
    timeout: float = 5.0,  # noqa: ASYNC109
    interval: float = 0.01,
    *,
    message: str | None = None,
) -> T | bool:
    """Like :func:`wait_for`, but yields to the running event loop between polls."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:.2f}s waiting for {_describe(predicate, message)} "
                f"(last value: {value!r})"
            )
        await asyncio.sleep(interval)


class LoopbackServer:
    """Runs an ``aiohttp.web.Application`` on 127.0.0.1 (free port) in a background thread.

    Subclasses implement :meth:`build_app` and may override :meth:`before_shutdown` to close
    long-lived connections (websockets). Recorded state must be guarded by ``self._lock``
    because tests read it from the main thread while handlers write it from the server loop.
    """

    #: Seconds aiohttp waits for in-flight handlers (e.g. delayed responses) during stop().
    shutdown_timeout: float = 2.0

    def __init__(self) -> None:
        self._lock = (
            threading.RLock()
        )  # reentrant: fake handlers run under it and may call helpers that take it
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    # -- to be provided by subclasses -------------------------------------------------------

    def build_app(self) -> web.Application:
        """Return the application to serve; called once per start(), on the server loop."""
        raise NotImplementedError

    async def before_shutdown(self) -> None:
        """Hook run on the server loop before the runner is cleaned up."""

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Self:
        """Start serving and block until the socket is listening (at most ``timeout`` seconds)."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, name=f"{type(self).__name__}-loop", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise AssertionError(f"{type(self).__name__} did not start listening within {timeout}s")
        if self._startup_error is not None:
            self._thread.join(timeout)
            self._thread = None
            raise RuntimeError(f"{type(self).__name__} failed to start") from self._startup_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close connections, shut the server down and join its thread. Idempotent."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and not loop.is_closed():
            # The loop may close between the check and the call.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout)
        if thread.is_alive():
            raise AssertionError(f"{type(self).__name__} thread did not stop within {timeout}s")
        self._thread = None
        self._loop = None
        self._stop_event = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port actually bound (only valid while started)."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{_HOST}:{self.port}"

    @contextlib.contextmanager
    def refusing_connections(self, timeout: float = 5.0) -> Iterator[None]:
        """While inside, nothing listens on the port: a new connection is refused, as to a host that is down.
        Connections already open stay as they are; on leaving, the same port listens again."""
        self.run_on_loop(self._set_listening(False), timeout)
        try:
            yield
        finally:
            self.run_on_loop(self._set_listening(True), timeout)

    async def _set_listening(self, listening: bool) -> None:
        if not listening:
            if self._site is not None:
                await self._site.stop()
                self._site = None
            return
        if self._site is None and self._runner is not None:
            site = web.TCPSite(self._runner, _HOST, self.port)
            await site.start()
            self._site = site

    # -- helpers for subclasses ---------------------------------------------------------------

    def run_on_loop(self, coro: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
        """Run ``coro`` on the server loop from another thread and wait (bounded) for its result."""
        loop = self._loop
        if loop is None or self._thread is None:
            coro.close()
            raise RuntimeError(f"{type(self).__name__} is not started")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise AssertionError(
                f"operation on {type(self).__name__} loop timed out after {timeout}s"
            ) from None

    async def sleep(self, seconds: float) -> None:
        """Sleep on the server loop, returning early when stop() is called (so delays never stall it)."""
        stop_event = self._stop_event
        if stop_event is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), seconds)

    # -- internals ------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced to start() if we never got ready
            if not self._ready.is_set():
                self._startup_error = exc
                self._ready.set()
            else:
                raise
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    async def _serve(self) -> None:
        self._stop_event = asyncio.Event()
        runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        self._runner = runner
        try:
            self._site = web.TCPSite(runner, _HOST, 0)
            await self._site.start()
            self._port = int(runner.addresses[0][1])
            self._ready.set()
            await self._stop_event.wait()
            await self.before_shutdown()
        finally:
            self._site = self._runner = None
            await runner.cleanup()
