"""The loopback TCP proxy the PostgreSQL restart test cuts: bytes pass both ways, a cut resets every open
connection, a new one is reset while the cut lasts, and afterwards it forwards again."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.fakes.server import wait_for
from tests.tcp_proxy import TcpProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(10)
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """A proxy in front of a loopback echo server."""
    with _EchoServer(("127.0.0.1", 0), _Echo) as echo:
        thread = threading.Thread(target=echo.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            with TcpProxy("127.0.0.1", echo.server_address[1]) as running:
                yield running
        finally:
            echo.shutdown()
            thread.join(timeout=5)


def connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def echoes(sock: socket.socket, payload: bytes) -> bytes:
    """What comes back for ``payload``, read until as many bytes came back or the peer ended."""
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_bytes_pass_both_ways(proxy: TcpProxy) -> None:
    payload = bytes(range(256)) * 2048  # half a megabyte: more than the proxy buffers per direction
    with connect(proxy) as sock:
        assert echoes(sock, payload) == payload
        assert echoes(sock, b"again") == b"again"
    assert proxy.accepted == 1 and proxy.refused == 0


def test_a_cut_resets_open_connections_refuses_new_ones_then_recovers(proxy: TcpProxy) -> None:
    first, second = connect(proxy), connect(proxy)
    with first, second:
        for sock in (first, second):
            assert echoes(sock, b"ping") == b"ping"
        wait_for(lambda: proxy.open_connections() == 2, message="both connections forwarded")
        until = proxy.cut(1.0)
        for sock in (first, second):
            with pytest.raises(ConnectionResetError):
                echoes(sock, b"after the cut")
    assert proxy.open_connections() == 0

    # While the cut lasts, a new connection is reset before a byte passes (as soon as it is accepted:
    # that may be before connect() returns).
    with pytest.raises(ConnectionResetError), connect(proxy) as during:
        echoes(during, b"during the cut")
    assert proxy.refused == 1 and time.monotonic() < until

    wait_for(lambda: time.monotonic() >= until, timeout=5, message="the end of the cut")
    with connect(proxy) as after:
        assert echoes(after, b"back") == b"back"
    assert proxy.accepted == 3


def test_an_upstream_that_is_gone_resets_the_client() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed_port = placeholder.getsockname()[1]  # nothing listens here
        with TcpProxy("127.0.0.1", closed_port) as proxy:
            with pytest.raises(ConnectionResetError), connect(proxy) as sock:
                echoes(sock, b"hello")
            assert proxy.refused == 1
