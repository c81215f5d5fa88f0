"""Batch processor (type ``batch``): groups requests into bigger ones without
making senders wait.

Every SDK's batch span processor sends one request at a time, so the time a
collector takes to answer caps each client's throughput; holding a caller for
``timeout`` (200 ms) capped a default SDK at ~2,500 spans/s.  So the caller is
answered once its request is accepted, in one of two ways, chosen at start:

- **In the sending queues.**  When every exporter downstream has a sending
  queue (``queue_batching_targets``), the processor hands them its settings as
  their ``sending_queue.batch`` (unless they have their own) and passes each
  request straight on: the caller is answered when the queue holds it, and a
  persistent queue holds it on disk.  Batches form when the queue sends, as
  Go's exporter-side batching does; nothing acknowledged waits only here.
- **Here (the Go processor's semantics)**, otherwise (an exporter without a
  queue, such as ``file``, or a processor after this one): requests are
  acknowledged on arrival and exported asynchronously on ``send_batch_size`` /
  ``timeout``; ``send_batch_max_size`` splits.  Downstream failures cannot
  reach the sender any more: they are counted in
  ``otelcol_processor_batch_dropped_spans`` and logged with totals.  At most
  ``_MAX_PENDING`` batches wait for export; past that callers wait (backpressure).
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field

from ..batching import QueueBatchConfig, split_batch
from ..component import Component, ComponentConfig, ConfigError, Duration, Factory
from ..consumer import SIGNALS, Batch, batch_class

__all__ = ["BatchConfig", "BatchProcessor", "FACTORY", "split_batch"]

# the Go processor's bucket boundaries for otelcol_processor_batch_batch_send_size
_SEND_SIZE_BUCKETS = (
    10,
    25,
    50,
    75,
    100,
    250,
    500,
    750,
    1000,
    2000,
    3000,
    4000,
    5000,
    6000,
    7000,
    8000,
    9000,
    10000,
    20000,
    30000,
    50000,
    100000,
)
_MAX_PENDING = 4  # batches formed and waiting for the exporter, before callers wait


@dataclass
class BatchConfig(ComponentConfig):
    send_batch_size: int = 8192
    timeout: Duration = Duration(0.2)
    send_batch_max_size: int = 0
    metadata_keys: list[str] = field(default_factory=list)
    metadata_cardinality_limit: int = 1000

    def validate(self) -> None:
        if self.send_batch_size < 0:
            raise ConfigError("send_batch_size", "must not be negative")
        if self.send_batch_max_size < 0:
            raise ConfigError("send_batch_max_size", "must not be negative")
        if self.send_batch_max_size and self.send_batch_max_size < self.send_batch_size:
            raise ConfigError("send_batch_max_size", "must be greater or equal to send_batch_size")
        if self.metadata_keys:
            raise ConfigError("metadata_keys", "batching per client metadata is not supported by this collector")
        if self.metadata_cardinality_limit < 0:
            raise ConfigError("metadata_cardinality_limit", "must not be negative")

    def as_queue_batch(self) -> QueueBatchConfig | None:
        """The same rules as a sending queue's ``batch`` (None: ``timeout: 0``, no batching)."""
        if self.timeout <= 0:
            return None
        return QueueBatchConfig(
            flush_timeout=self.timeout, min_size=self.send_batch_size, max_size=self.send_batch_max_size, sizer="items"
        )


class BatchProcessor(Component):
    def __init__(self, settings, config: BatchConfig, next_consumer):
        self._next = next_consumer
        self._send_size = config.send_batch_size
        self._max_size = config.send_batch_max_size
        self._timeout = float(config.timeout)
        self._logger = settings.logger
        self._parts: list[Batch] = []
        self._items = 0
        self._timer: asyncio.TimerHandle | None = None
        self._ready: collections.deque[list[Batch]] = collections.deque()  # formed batches
        self._room = asyncio.Event()
        self._exporter: asyncio.Task | None = None
        self._closed = False
        self._dropped = 0  # spans downstream refused, since the last log line
        self._dropped_total = 0
        self._dropped_logged_at = -1e9
        # batching moves into the downstream sending queues when every path has one
        targets = getattr(next_consumer, "queue_batching_targets", lambda: None)()
        queue_batch = config.as_queue_batch()
        self.passes_through = targets is not None
        if targets and queue_batch is not None:
            for exporter in targets:
                exporter.adopt_batching(queue_batch)
        label = str(settings.id)
        tel = settings.telemetry
        self._m_send_size = tel.histogram(
            "otelcol_processor_batch_batch_send_size",
            "Number of units in the batch",
            ["processor"],
            buckets=_SEND_SIZE_BUCKETS,
        ).labels(label)
        self._m_size_trigger = tel.counter(
            "otelcol_processor_batch_batch_size_trigger_send",
            "Number of times the batch was sent due to a size trigger",
            ["processor"],
        ).labels(label)
        self._m_timeout_trigger = tel.counter(
            "otelcol_processor_batch_timeout_trigger_send",
            "Number of times the batch was sent due to a timeout trigger",
            ["processor"],
        ).labels(label)
        self.signal = settings.signal
        self._items_name = items = batch_class(settings.signal).items
        self._m_dropped = tel.counter(
            f"otelcol_processor_batch_dropped_{items}",
            f"{items.capitalize()} acknowledged by the batch processor that the next component refused",
            ["processor"],
        ).labels(label)

    def undelivered(self) -> tuple[int, int]:
        return self._dropped_total, 0

    async def consume(self, traces: Batch) -> None:
        if self.passes_through:
            await self._next.consume(traces)
            return
        if self._timeout <= 0 or self._closed:
            # timeout 0: no batching, only send_batch_max_size applies (Go semantics); after
            # shutdown began the caller waits for its own send
            await self._export(traces, raise_errors=True)
            return
        while len(self._ready) >= _MAX_PENDING and not self._closed:
            self._room.clear()
            await self._room.wait()
        if not self._parts:
            self._timer = asyncio.get_running_loop().call_later(self._timeout, self._on_timeout)
        self._parts.append(traces)
        self._items += traces.item_count
        if self._items >= self._send_size:
            self._m_size_trigger.inc()
            self._cut()

    def _on_timeout(self) -> None:
        self._timer = None
        if self._parts:
            self._m_timeout_trigger.inc()
            self._cut()

    def _cut(self) -> None:
        """Close the batch being formed and hand it to the export task."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._parts:
            return
        self._ready.append(self._parts)
        self._parts, self._items = [], 0
        if self._exporter is None or self._exporter.done():
            self._exporter = asyncio.get_running_loop().create_task(self._export_loop())

    async def _export_loop(self) -> None:
        while self._ready:
            parts = self._ready.popleft()
            self._room.set()
            await self._export(Batch.merge(parts), raise_errors=False)

    async def _export(self, traces: Batch, raise_errors: bool) -> None:
        if self._max_size and traces.item_count > self._max_size:
            parts = split_batch(traces, self._max_size)
        else:
            parts = [traces]
        first_error = None
        for part in parts:
            self._m_send_size.observe(part.item_count)
            try:
                await self._next.consume(part)
            except Exception as e:  # keep sending the other parts
                if raise_errors:
                    first_error = first_error or e
                else:
                    self._count_drop(part.item_count, e)
        if first_error is not None:
            raise first_error

    def _count_drop(self, spans: int, error: Exception) -> None:
        self._m_dropped.inc(spans)
        self._dropped += spans
        self._dropped_total += spans
        now = time.monotonic()
        if now - self._dropped_logged_at >= 1.0:  # one line per second under sustained failure
            self._logger.error(
                "Sender failed; the batch was already acknowledged and is dropped. "
                "error=%s dropped_%s=%d dropped_%s_total=%d",
                error,
                self._items_name,
                self._dropped,
                self._items_name,
                self._dropped_total,
            )
            self._dropped_logged_at, self._dropped = now, 0

    async def shutdown(self) -> None:
        self._closed = True
        self._room.set()
        self._cut()
        if self._exporter is not None:
            await asyncio.gather(self._exporter, return_exceptions=True)
        if self._dropped:
            self._logger.error(
                "batch processor stopped; dropped_%s=%d dropped_%s_total=%d",
                self._items_name,
                self._dropped,
                self._items_name,
                self._dropped_total,
            )
            self._dropped = 0


def _create(settings, config: BatchConfig, next_consumer) -> BatchProcessor:
    return BatchProcessor(settings, config, next_consumer)


FACTORY = Factory(kind="processor", type="batch", config_class=BatchConfig, create=_create, signals=SIGNALS)
