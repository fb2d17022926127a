"""The loopback fakes in a process of their own, so their CPU is never counted as the bot's."""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from tests.fakes.gcore import FakeGcore
from tests.fakes.slack import FakeSlack

GCORE_KEY = "bench-gcore-key"
_STOP = "stop"


def _serve(connection: Connection) -> None:
    fakes: dict[str, Any] = {"gcore": FakeGcore(api_key=GCORE_KEY).start(), "slack": FakeSlack().start()}
    connection.send({"gcore": fakes["gcore"].url, "slack": fakes["slack"].url})
    try:
        while True:
            request = connection.recv()
            if request == _STOP:
                return
            target, method, args, kwargs = request
            try:
                attribute = getattr(fakes[target], method)
                value = attribute(*args, **kwargs) if callable(attribute) else attribute
                connection.send(("ok", value))
            except Exception as error:
                connection.send(("error", repr(error)))
    finally:
        for fake in fakes.values():
            fake.stop()


class RemoteFakes:
    """FakeGcore and FakeSlack served by a child process; ``call`` runs one of their methods there."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        if not self._connection.poll(30):
            raise RuntimeError("the fakes process did not start")
        urls = self._connection.recv()
        self.gcore_url: str = urls["gcore"]
        self.slack_url: str = urls["slack"]
        self.slack_api_url = f"{self.slack_url}/api/"

    def call(self, target: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``fakes[target].method(*args, **kwargs)`` in the fakes process (or read a property there)."""
        self._connection.send((target, method, args, kwargs))
        if not self._connection.poll(120):
            raise RuntimeError(f"{target}.{method} did not answer")
        status, value = self._connection.recv()
        if status != "ok":
            raise RuntimeError(f"{target}.{method} failed: {value}")
        return value

    def close(self) -> None:
        """Stop the fakes and their process."""
        if self._process.is_alive():
            self._connection.send(_STOP)
            self._process.join(timeout=15)
        if self._process.is_alive():
            self._process.kill()

    def __enter__(self) -> RemoteFakes:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
