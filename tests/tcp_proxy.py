"""A TCP proxy on loopback in front of a server, whose ``cut()`` does to clients what a server restart does.

A restart ends every session at once (the clients' sockets are reset) and, until the server listens again,
a new connection gets nowhere. The proxy resets every open connection on both sides and, for the length
of the cut, resets each new one as soon as it is accepted; then it forwards again. Everything is bounded:
connections at once, bytes buffered per direction, the wait for the upstream, and the stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self, TypeVar

T = TypeVar("T")

_HOST = "127.0.0.1"
# Bytes read at once, and about the most buffered per direction before the reading side waits.
_CHUNK = 64 * 1024
_Pair = tuple[asyncio.StreamWriter, asyncio.StreamWriter]


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST, as the host of a peer whose process ended does, rather than an orderly FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream_host:upstream_port`` on an event loop in a thread of its
    own; ``accepted`` and ``refused`` count the connections it forwarded and the ones it reset at once."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        max_connections: int = 64,
        connect_timeout: float = 5.0,
    ) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._max_connections, self._connect_timeout = max_connections, connect_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._port: int | None = None
        # Touched on the proxy's loop only: the open pairs (client side, upstream side), and the monotonic
        # time until which a new connection is reset.
        self._pairs: set[_Pair] = set()
        self._stopping = asyncio.Event()
        self._down_until = 0.0
        self._serving: set[asyncio.Task[None]] = set()
        self.accepted = 0
        self.refused = 0

    def start(self, timeout: float = 10.0) -> Self:
        """Listen on a free loopback port; returns once it does (at most ``timeout`` seconds)."""
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._port is None:
            raise AssertionError(f"the TCP proxy did not start listening within {timeout} s")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Reset every connection, stop listening and join the thread (bounded). Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may have closed already
            loop.call_soon_threadsafe(self._stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise AssertionError(f"the TCP proxy's thread did not stop within {timeout} s")
        self._loop = self._thread = self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The loopback port clients connect to."""
        if self._port is None:
            raise RuntimeError("the TCP proxy is not started")
        return self._port

    def cut(self, seconds: float) -> float:
        """Reset every open connection now, and each new one for ``seconds``; then forward again, as after
        a server's restart. Returns the monotonic time the cut ends."""
        until = time.monotonic() + seconds
        self._call(lambda: self._cut(until))
        return until

    def open_connections(self) -> int:
        """Connections forwarded now."""
        return self._call(lambda: len(self._pairs))

    def _call(self, function: Callable[[], T], timeout: float = 5.0) -> T:
        """``function()`` run on the proxy's loop, waited for with a bound."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the TCP proxy is not started")

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    def _cut(self, until: float) -> None:
        self._down_until = until
        for pair in list(self._pairs):
            self._reset_pair(pair)

    def _reset_pair(self, pair: _Pair) -> None:
        self._pairs.discard(pair)
        for writer in pair:
            _reset(writer)

    def _run(self) -> None:
        # A Runner cancels, at its close, whatever a stop leaves pending (the connections' tasks).
        with asyncio.Runner() as runner:
            self._loop = runner.get_loop()
            try:
                runner.run(self._main())
            finally:
                self._ready.set()

    async def _main(self) -> None:
        server = await asyncio.start_server(self._serve, _HOST, 0, limit=_CHUNK)
        self._port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        async with server:
            await self._stopping.wait()
            for pair in list(self._pairs):
                self._reset_pair(pair)
            # Each connection's task ends once its sockets are closed; one cancelled instead would be
            # logged by asyncio's stream callback as an error.
            if self._serving:
                await asyncio.wait(self._serving, timeout=2)

    async def _serve(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._down_until or len(self._pairs) >= self._max_connections:
            self.refused += 1
            _reset(client)
            return
        try:
            async with asyncio.timeout(self._connect_timeout):
                upstream_reader, upstream = await asyncio.open_connection(*self._upstream, limit=_CHUNK)
        except (OSError, TimeoutError):
            self.refused += 1
            _reset(client)
            return
        self.accepted += 1
        pair = (client, upstream)
        self._pairs.add(pair)
        task = asyncio.current_task()
        assert task is not None
        self._serving.add(task)
        try:
            await asyncio.gather(
                self._pump(client_reader, upstream, pair), self._pump(upstream_reader, client, pair)
            )
        finally:
            self._serving.discard(task)
            if pair in self._pairs:
                self._pairs.discard(pair)
                for writer in pair:
                    writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pair: _Pair) -> None:
        """Copy one direction until its end, which is passed on; a reset of either side resets both."""
        try:
            while chunk := await reader.read(_CHUNK):
                writer.write(chunk)
                await writer.drain()
            if not writer.is_closing() and writer.can_write_eof():
                writer.write_eof()
        except OSError:
            self._reset_pair(pair)
