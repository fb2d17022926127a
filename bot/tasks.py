"""Work under way as asyncio tasks, kept until each is done: counted, waited for, or cancelled together
(a stop's drain, the actor lookups)."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

T = TypeVar("T")


class TaskSet:
    """The tasks handed to ``keep`` that have not finished yet."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def keep(self, task: asyncio.Future[T]) -> asyncio.Future[T]:
        """Keep ``task`` until it is done; returns it."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait_all(self) -> None:
        """Wait until none is under way, those kept meanwhile included; their errors are theirs."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def cancel_all(self) -> None:
        """Cancel every task under way and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
