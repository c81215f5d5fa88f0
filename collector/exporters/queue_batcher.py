"""The sending queue's consumers: take entries from a ``SendingQueue``, merge them
into batches (``sending_queue.batch``) and send each batch on one of
``num_consumers`` concurrent senders.

A batch is sent once it reaches ``min_size`` or ``flush_timeout`` after its
first entry; an entry that would push it past ``max_size`` starts the next
batch, and a single entry larger than ``max_size`` is split.  Without a batch
config every entry is sent on its own.  Merging concatenates serialized bytes
(``Batch.merge``): nothing is decoded.

Every entry of a batch is acknowledged to the queue once the batch's send
finished, so a persistent queue deletes rows only after their delivery (or
definitive failure).  While every sender is busy the batcher waits, and new
requests wait in the queue, where they are counted and bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..batching import QueueBatchConfig, sizer, split_to_size
from ..consumer import Batch, ConsumerError, RetryableError
from .queue import QueueEntry, SendingQueue

__all__ = ["QueueBatcher", "ShutdownError"]


class ShutdownError(RetryableError):
    """The exporter stopped while this request was being sent or retried; a persistent
    queue keeps it for the next start."""


def resolve(waiter: asyncio.Future | None, error: BaseException | None) -> None:
    if waiter is None or waiter.done():
        return
    if error is None:
        waiter.set_result(None)
    else:
        waiter.set_exception(error)


class QueueBatcher:
    def __init__(
        self,
        queue: SendingQueue,
        send: Callable[[Batch], Awaitable[None]],
        num_consumers: int,
        batch: QueueBatchConfig | None,
        on_lost: Callable[[int, str], None],
        name: str = "",
        logger: logging.Logger | None = None,
    ):
        self.queue = queue
        self.batch = batch
        self._send = send
        self._on_lost = on_lost  # (spans, reason): spans cut off at shutdown and not stored
        self._slots = asyncio.Semaphore(num_consumers)
        self._senders: set[asyncio.Task] = set()
        self._runner: asyncio.Task | None = None
        self._flush_now = False
        self._name = name
        self.log = logger or logging.getLogger("otel_lite.collector.exporter")

    @property
    def busy(self) -> int:
        return len(self._senders)

    def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._run(), name=f"{self._name} batcher")

    async def _run(self) -> None:
        carry: QueueEntry | None = None
        loop = asyncio.get_running_loop()
        while True:
            # a sender first: while all are busy, requests wait in the queue (bounded, counted)
            try:
                await self._slots.acquire()
            except asyncio.CancelledError:
                if carry is not None:
                    await self._give_back([carry])
                raise
            first = carry if carry is not None else await self.queue.get()
            carry = None
            if first is None:
                self._slots.release()
                return
            entries = [first]
            try:
                carry = await self._fill(entries, loop)
            except asyncio.CancelledError:  # the drain deadline passed while a batch was forming
                self._slots.release()
                await self._give_back(entries)
                raise
            task = loop.create_task(self._dispatch(entries), name=f"{self._name} sender")
            self._senders.add(task)
            task.add_done_callback(self._senders.discard)

    async def _fill(self, entries: list[QueueEntry], loop) -> QueueEntry | None:
        """Add entries until the batch is due; returns the entry that starts the next batch."""
        cfg = self.batch
        if cfg is not None:
            measure = sizer(cfg.sizer)
            size = measure(entries[0].traces)
            deadline = loop.time() + float(cfg.flush_timeout)
            while size < cfg.min_size:
                # past the deadline (or shutting down) take only what is already queued
                remaining = 0.0 if self._flush_now else max(0.0, deadline - loop.time())
                entry = await self.queue.get(remaining)
                if entry is None:
                    break
                units = measure(entry.traces)
                if cfg.max_size and size + units > cfg.max_size:
                    return entry
                entries.append(entry)
                size += units
        return None

    async def _give_back(self, entries: list[QueueEntry]) -> None:
        """Entries taken but never sent: a persistent queue keeps them, else they are lost."""
        for e in entries:
            await self.queue.ack(e, keep=True)
            resolve(e.waiter, ShutdownError("exporter shut down before the batch was sent"))
        if entries and not self.queue.keeps_unsent:
            self._on_lost(sum(e.traces.item_count for e in entries), "shutdown deadline passed")

    async def _dispatch(self, entries: list[QueueEntry]) -> None:
        error: BaseException | None = None
        try:
            merged = Batch.merge([e.traces for e in entries])
            cfg = self.batch
            parts = split_to_size(merged, cfg.max_size, cfg.sizer) if cfg is not None else [merged]
            for part in parts:
                try:
                    await self._send(part)
                except ConsumerError as e:
                    error = error or e
        except asyncio.CancelledError:
            # the shutdown drain deadline passed mid-send
            error = ShutdownError("exporter shut down while sending")
            if not self.queue.keeps_unsent:
                self._on_lost(sum(e.traces.item_count for e in entries), "exporter shut down while sending")
            raise
        finally:
            keep = isinstance(error, ShutdownError)
            for entry in entries:
                try:
                    await self.queue.ack(entry, keep=keep)
                except Exception as exc:  # storage failure: the row stays for the next start
                    self.log.error("persistent queue error: %s", exc)
                resolve(entry.waiter, error)
            self._slots.release()

    def flush_now(self) -> None:
        """From now on send whatever was taken at once (shutdown)."""
        self._flush_now = True

    async def stop(self, drain_timeout: float) -> None:
        """Stop the queue, send what it still hands out (a memory queue: everything) within
        ``drain_timeout`` seconds, then cancel what is still being sent."""
        self._flush_now = True
        self.queue.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_timeout
        if self._runner is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._runner), max(0.0, deadline - loop.time()))
            except TimeoutError:
                self._runner.cancel()
                await asyncio.gather(self._runner, return_exceptions=True)
        while self._senders and loop.time() < deadline:
            await asyncio.wait(set(self._senders), timeout=max(0.0, deadline - loop.time()))
        for t in list(self._senders):
            t.cancel()
        if self._senders:
            await asyncio.gather(*list(self._senders), return_exceptions=True)
        left = self.queue.take_remaining()
        if left:
            for e in left:
                resolve(e.waiter, ShutdownError("exporter shut down before the batch was sent"))
            self._on_lost(sum(e.traces.item_count for e in left), "shutdown deadline passed")
