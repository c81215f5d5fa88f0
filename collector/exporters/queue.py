"""The sending queue's protocol and its in-memory implementation.

An exporter's queue takes requests from the pipeline (``put`` returns once the
queue holds them: that is when the receiver acknowledges) and hands them to the
queue's consumers (``get``), which report each outcome (``ack``).  Two queues
implement it: ``MemoryQueue`` here and ``PersistentQueue`` (SQLite) in
``persistent_queue``; the exporter helper composes either with the batcher,
retry and timeout without knowing which it has.

Capacity and size are counted in the ``sizer``'s units (``requests``,
``items`` = spans, ``bytes``), as the Go exporterhelper does.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Protocol

from ..consumer import Batch, PermanentError, RetryableError

__all__ = ["QueueEntry", "SendingQueue", "MemoryQueue", "QueueFullError", "QueueClosedError"]


class QueueFullError(RetryableError):
    def __init__(self):
        super().__init__("sending queue is full")


class QueueClosedError(RetryableError):
    def __init__(self):
        super().__init__("sending queue is closed")


class QueueEntry:
    """One queued request: its data, its size in queue units, the caller waiting for the
    outcome (``wait_for_result``) and the queue's own handle (a row id)."""

    __slots__ = ("traces", "units", "waiter", "handle")

    def __init__(self, traces: Batch, units: int, waiter: asyncio.Future | None = None, handle=None):
        self.traces = traces
        self.units = units
        self.waiter = waiter
        self.handle = handle


class SendingQueue(Protocol):
    capacity: int
    #: True when entries whose send was cut short by shutdown stay queued for the next start
    keeps_unsent: bool

    def size(self) -> int:
        """Units counted against the capacity: queued or being sent (freed by ``ack``)."""
        ...

    async def open(self) -> None: ...

    async def put(self, traces: Batch, waiter: asyncio.Future | None = None) -> None:
        """Take ``traces``; returns once the queue holds it (a persistent queue: committed).
        Raises ``QueueFullError`` when there is no room, ``QueueClosedError`` after ``stop``."""
        ...

    async def wait_for_room(self) -> None:
        """Returns when room may have been freed (or the queue stopped)."""
        ...

    async def get(self, timeout: float | None = None) -> QueueEntry | None:
        """The oldest entry; None after ``timeout`` seconds or once the queue has nothing
        more to hand out after ``stop``.  Never loses an entry when it times out."""
        ...

    async def ack(self, entry: QueueEntry, keep: bool = False) -> None:
        """The send of ``entry`` finished (``keep``: cut short by shutdown, keep it if the
        queue can)."""
        ...

    def stop(self) -> None:
        """No more ``put``; ``get`` hands out what must still be sent at shutdown (a memory
        queue: everything left; a persistent queue: nothing, it stays stored)."""
        ...

    def take_remaining(self) -> list[QueueEntry]:
        """After the shutdown drain: what is left and will not be sent (lost unless stored)."""
        ...

    def stored_spans(self) -> int:
        """Spans kept for the next start (0 for a memory queue)."""
        ...

    async def close(self) -> None: ...


class MemoryQueue:
    """A bounded FIFO in memory; an entry's room is freed once its send finished, so
    ``capacity`` bounds everything the exporter holds."""

    keeps_unsent = False

    def __init__(self, capacity: int, measure: Callable[[Batch], int]):
        self.capacity = capacity
        self._measure = measure
        self._items: collections.deque[QueueEntry] = collections.deque()
        self._used = 0
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._stopped = False

    def size(self) -> int:
        return self._used

    async def open(self) -> None:
        return None

    async def put(self, traces: Batch, waiter: asyncio.Future | None = None) -> None:
        if self._stopped:
            raise QueueClosedError()
        units = self._measure(traces)
        if units > self.capacity:
            raise PermanentError(
                f"request of size {units} is larger than the sending queue's capacity ({self.capacity})"
            )
        if self._used + units > self.capacity:
            raise QueueFullError()
        self._items.append(QueueEntry(traces, units, waiter))
        self._used += units
        self._ready.set()

    async def wait_for_room(self) -> None:
        self._room.clear()
        if not self._stopped:
            await self._room.wait()

    async def get(self, timeout: float | None = None) -> QueueEntry | None:
        while not self._items:
            if self._stopped:
                return None
            self._ready.clear()
            try:
                if timeout is None:
                    await self._ready.wait()
                else:
                    await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        return self._items.popleft()

    async def ack(self, entry: QueueEntry, keep: bool = False) -> None:
        self._used -= entry.units
        self._room.set()

    def stop(self) -> None:
        self._stopped = True
        self._ready.set()
        self._room.set()

    def take_remaining(self) -> list[QueueEntry]:
        left = list(self._items)
        self._items.clear()
        self._used -= sum(e.units for e in left)
        return left

    def stored_spans(self) -> int:
        return 0

    async def close(self) -> None:
        self.stop()
