"""What every exporter gets for free (the Go collector's ``exporterhelper``).

The send chain, outermost first: **sending queue → batcher → retry → timeout → push**.

- ``sending_queue``: one ``queue.SendingQueue``: in memory (``MemoryQueue``)
  or, with ``storage``, SQLite (``PersistentQueue``), ``queue_size`` in
  ``sizer`` units.  ``consume`` returns once the queue holds the request (for
  the persistent queue: once committed), which is when the receiver
  acknowledges.  A full queue raises ``RetryableError("sending queue is full")``
  (the receiver answers 503) unless ``block_on_overflow``.  With
  ``wait_for_result`` (or the queue disabled) the caller waits for the send and
  gets its error.
- ``sending_queue.batch``: the queue's consumers merge requests into batches
  (``queue_batcher.QueueBatcher``) and send them on ``num_consumers`` senders.
  An upstream ``batch`` processor hands its settings over
  (``adopt_batching``) when the exporter has none of its own.
- ``retry_on_failure``: exponential backoff with jitter on ``RetryableError``
  (only its ``failed`` part when the error says the rest was delivered)
  (and on unexpected exceptions, as the Go collector does); a
  ``ThrottledError`` raises the delay to at least the server's value; a
  ``PermanentError`` is dropped at once.
- ``timeout``: a bound on each attempt.

A concrete exporter subclasses ``Exporter`` and implements ``push`` (raising the
taxonomy errors of ``otel_lite.collector.consumer``) and, if it holds a client,
``start_client`` / ``shutdown_client``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from ..batching import QueueBatchConfig, check_sizer, sizer
from ..component import Component, ComponentConfig, ComponentID, ConfigError, Duration
from ..consumer import Batch, ConsumerError, PermanentError, RetryableError, ThrottledError, batch_class
from ..tls import TLSClientConfig
from .queue import MemoryQueue, QueueFullError, SendingQueue
from .queue_batcher import QueueBatcher, ShutdownError

__all__ = [
    "RetryConfig",
    "QueueConfig",
    "ExporterConfig",
    "TLSConfig",
    "Exporter",
    "ShutdownError",
    "QueueFullError",
    "QueueBatchConfig",
    "backoff_delays",
]

# How long shutdown may spend draining the in-memory queue (one attempt per item).
DEFAULT_DRAIN_TIMEOUT = 30.0


@dataclass
class RetryConfig(ComponentConfig):
    """``retry_on_failure`` (Go ``configretry.BackOffConfig``)."""

    enabled: bool = True
    initial_interval: Duration = Duration(5.0)
    randomization_factor: float = 0.5
    multiplier: float = 1.5
    max_interval: Duration = Duration(30.0)
    max_elapsed_time: Duration = Duration(300.0)  # 0 = retry forever

    def validate(self) -> None:
        if not 0.0 <= self.randomization_factor <= 1.0:
            raise ConfigError("randomization_factor", "must be between 0 and 1")
        if self.multiplier < 1.0:
            raise ConfigError("multiplier", "must be at least 1")
        if self.enabled and self.initial_interval <= 0:
            raise ConfigError("initial_interval", "must be positive")
        if self.max_interval < self.initial_interval:
            raise ConfigError("max_interval", "must not be smaller than initial_interval")


@dataclass
class QueueConfig(ComponentConfig):
    """``sending_queue`` (Go ``exporterhelper.QueueBatchConfig``): ``queue_size`` in
    ``sizer`` units; ``batch`` (unset = each request sent on its own; ``{}`` = Go's
    defaults) merges requests when they are sent."""

    enabled: bool = True
    num_consumers: int = 10
    queue_size: int = 1000
    sizer: str = "requests"
    block_on_overflow: bool = False
    wait_for_result: bool = False
    storage: str | None = None  # id of a file_storage extension -> persistent queue
    batch: QueueBatchConfig | None = None

    def validate(self) -> None:
        if not self.enabled:
            return
        if self.num_consumers < 1:
            raise ConfigError("num_consumers", "must be at least 1")
        if self.queue_size < 1:
            raise ConfigError("queue_size", "must be at least 1")
        check_sizer(self.sizer)
        if self.storage is not None:
            ComponentID.parse(self.storage, "storage")


# Client TLS (Go ``configtls.ClientConfig``) lives with the server side in ``otel_lite.collector.tls``.
TLSConfig = TLSClientConfig


@dataclass
class ExporterConfig(ComponentConfig):
    """The blocks every queued exporter has; concrete configs derive from it."""

    timeout: Duration = Duration(5.0)
    retry_on_failure: RetryConfig = field(default_factory=RetryConfig)
    sending_queue: QueueConfig = field(default_factory=QueueConfig)


def backoff_delays(cfg: RetryConfig, rng: random.Random | None = None):
    """Endless iterator of randomized exponential backoff delays (seconds)."""
    rnd = (rng or random).random
    interval = float(cfg.initial_interval)
    while True:
        spread = cfg.randomization_factor * interval
        yield interval - spread + 2.0 * spread * rnd()
        interval = min(interval * cfg.multiplier, float(cfg.max_interval))


class Exporter(Component):
    """Base of queued/retrying exporters: subclasses implement ``push``."""

    def __init__(
        self,
        settings,
        config: ExporterConfig | None = None,
        *,
        timeout: float | None = None,
        retry: RetryConfig | None = None,
        queue: QueueConfig | None = None,
    ):
        self.settings = settings
        self.id = settings.id
        self.log: logging.Logger = settings.logger
        if config is not None:
            timeout = config.timeout if timeout is None else timeout
            retry = retry or config.retry_on_failure
            queue = queue or config.sending_queue
        self.timeout = float(timeout or 0.0)
        self.retry_cfg = retry if retry is not None and retry.enabled else None
        self.queue_cfg = queue if queue is not None and queue.enabled else None
        self.batch_cfg = self.queue_cfg.batch if self.queue_cfg is not None else None
        self.drain_timeout = DEFAULT_DRAIN_TIMEOUT

        tel = settings.telemetry
        name = str(settings.id)
        self.signal = signal = settings.signal
        self.batch_class = batch_class(signal)
        self.items = self.batch_class.items  # spans, metric_points, log_records: in log lines
        self._m_sent = tel.exporter_sent[signal].labels(exporter=name)
        self._m_failed_perm = tel.exporter_send_failed[signal].labels(exporter=name, error_permanent="true")
        self._m_failed_retry = tel.exporter_send_failed[signal].labels(exporter=name, error_permanent="false")
        self._m_enqueue_failed = tel.exporter_enqueue_failed[signal].labels(exporter=name)
        self._m_queue_size = tel.exporter_queue_size.labels(exporter=name, data_type=signal)
        self._m_queue_capacity = tel.exporter_queue_capacity.labels(exporter=name, data_type=signal)
        self._m_in_flight = tel.exporter_in_flight_requests.labels(exporter=name, data_type=signal)

        self._stop = asyncio.Event()  # set by shutdown: aborts retry sleeps
        self._stopping = False
        self._refused_spans = 0  # enqueue failures since the last log line
        self._refused_logged_at = -1e9
        self._started = False
        self._shut = False
        self.queue: SendingQueue | None = None
        self._batcher: QueueBatcher | None = None
        self.dropped_at_shutdown = 0  # spans given up on while shutting down (not stored)

    # -- to implement ----------------------------------------------------------
    async def push(self, traces: Batch) -> None:
        """Send one batch; raise ``RetryableError``/``ThrottledError``/``PermanentError``."""
        raise NotImplementedError

    async def start_client(self, host) -> None:
        return None

    async def shutdown_client(self) -> None:
        return None

    # -- what upstream components may ask ----------------------------------------
    def queue_batching_targets(self) -> list | None:
        """This exporter when it batches in its sending queue (see the ``batch`` processor)."""
        return [self] if self.queue_cfg is not None else None

    def adopt_batching(self, batch: QueueBatchConfig) -> None:
        """Batch with ``batch`` unless ``sending_queue.batch`` was configured."""
        if self.batch_cfg is None:
            self.batch_cfg = batch
            if self._batcher is not None:
                self._batcher.batch = batch

    def undelivered(self) -> tuple[int, int]:
        """(spans dropped at shutdown, spans stored for the next start)."""
        stored = self.queue.stored_spans() if self.queue is not None else 0
        return self.dropped_at_shutdown, stored

    # -- lifecycle -------------------------------------------------------------
    async def start(self, host) -> None:
        if self._started:
            return
        await self.start_client(host)
        self._started = True
        q = self.queue_cfg
        if q is None:
            return
        self._m_queue_capacity.set(q.queue_size)
        queue = self.queue = self._make_queue(q, host)
        await queue.open()
        self._m_queue_size.set_function(queue.size)  # read at scrape time
        if self.queue.stored_spans():
            self.log.info(
                "persistent queue holds %d %s from a previous run; resending them",
                self.queue.stored_spans(),
                self.items,
            )
        self._batcher = QueueBatcher(
            self.queue,
            self._send,
            q.num_consumers,
            self.batch_cfg,
            self._lost,
            name=f"exporter {self.id}",
            logger=self.log,
        )
        self._batcher.start()

    def _make_queue(self, q: QueueConfig, host) -> SendingQueue:
        if not q.storage:
            return MemoryQueue(q.queue_size, sizer(q.sizer))
        from .persistent_queue import PersistentQueue

        ext = host.get_extension(q.storage) if host is not None else None
        if ext is None or not hasattr(ext, "get_client"):
            raise ConfigError(
                "sending_queue.storage",
                f"storage extension {q.storage!r} not found: add it to 'extensions' and 'service.extensions'",
            )
        client = ext.get_client(self.settings.kind, self.id, self.signal)
        return PersistentQueue(
            client.path,
            capacity=q.queue_size,
            fsync=client.fsync,
            lock_timeout=client.timeout,
            logger=self.log,
            measure=sizer(q.sizer),
            sizer_name=q.sizer,
            batch_class=self.batch_class,
        )

    async def shutdown(self) -> None:
        if self._shut:
            return
        self._shut = True
        self._stopping = True
        self._stop.set()  # aborts retry sleeps: one attempt per remaining item from now on
        try:
            if self._batcher is not None:
                await self._batcher.stop(self.drain_timeout)
        finally:
            if self.queue is not None:
                await self.queue.close()
            if self._started:
                await self.shutdown_client()

    def _lost(self, spans: int, reason: str) -> None:
        """Spans of a memory queue that shutdown cut off (never sent)."""
        self._m_failed_retry.inc(spans)
        self.dropped_at_shutdown += spans
        self.log.debug("dropping %d spans at shutdown: %s", spans, reason)

    # -- data path -------------------------------------------------------------
    async def consume(self, traces: Batch) -> None:
        n = traces.item_count
        if n == 0:
            return
        if self._stopping:
            raise RetryableError(f"exporter {self.id} is shutting down")
        if not self._started:
            raise RetryableError(f"exporter {self.id} is not started")
        q = self.queue_cfg
        if q is None:
            await self._send(traces)
            return
        waiter = asyncio.get_running_loop().create_future() if q.wait_for_result else None
        try:
            while True:
                try:
                    await self.queue.put(traces, waiter)  # type: ignore[union-attr]  # built with queue_cfg
                    break
                except QueueFullError:
                    if not q.block_on_overflow or self._stopping:
                        raise
                    await self.queue.wait_for_room()  # type: ignore[union-attr]
        except ConsumerError as e:
            self._m_enqueue_failed.inc(n)
            self._refused_spans += n
            now = time.monotonic()
            if now - self._refused_logged_at >= 1.0:  # at most one line per second under overload
                self.log.warning(
                    "Refusing data because sending_queue is full (senders are told to retry). "
                    "Try increasing queue_size. "
                    "error=%s refused_%s=%d",
                    e,
                    self.items,
                    self._refused_spans,
                )
                self._refused_logged_at, self._refused_spans = now, 0
            raise
        if waiter is not None:
            await waiter

    async def _send(self, traces: Batch) -> None:
        """retry → timeout → push, with the sent/failed counters (Go's obsreport)."""
        n = traces.item_count
        self._m_in_flight.inc()
        try:
            await self._send_with_retry(traces)
        except PermanentError as e:
            failed = self._failed_part(e, n)
            self._m_failed_perm.inc(failed)
            self._log_drop(e, failed, "The error is not retryable. ")
            raise
        except ConsumerError as e:
            if isinstance(e, ShutdownError) and self.queue is not None and self.queue.keeps_unsent:
                raise  # the batch stays in the persistent queue for the next start: not a failure
            # an in-memory batch whose send the shutdown cut short is lost too: counted and logged
            failed = self._failed_part(e, n)
            self._m_failed_retry.inc(failed)
            self._log_drop(e, failed, "")
            raise
        else:
            self._m_sent.inc(n)
        finally:
            self._m_in_flight.dec()

    def _failed_part(self, error: ConsumerError, spans: int) -> int:
        """Spans that failed of ``spans`` sent; the delivered rest counts as sent."""
        part: BaseException | None = error
        while isinstance(part, ConsumerError) and part.failed is None:  # "no more retries left" wraps the last error
            part = part.__cause__
        failed = (
            spans if not isinstance(part, ConsumerError) or part.failed is None else min(spans, part.failed.item_count)
        )
        if failed < spans:
            self._m_sent.inc(spans - failed)
        return failed

    def _log_drop(self, error: ConsumerError, spans: int, why: str) -> None:
        if self._stopping:  # summed into the one shutdown line (see ``undelivered``)
            self.dropped_at_shutdown += spans
            self.log.debug("Exporting failed at shutdown. Dropping data. error=%s dropped_items=%d", error, spans)
        else:
            self.log.error("Exporting failed. %sDropping data. error=%s dropped_items=%d", why, error, spans)

    async def _attempt(self, traces: Batch) -> None:
        try:
            if self.timeout > 0:
                await asyncio.wait_for(self.push(traces), self.timeout)
            else:
                await self.push(traces)
        except ConsumerError:
            raise
        except TimeoutError:
            raise RetryableError(f"request timed out after {self.timeout:g}s") from None
        except asyncio.CancelledError:
            raise
        except Exception as e:  # an unexpected error is retryable, as in the Go collector
            raise RetryableError(f"{type(e).__name__}: {e}") from e

    async def _send_with_retry(self, traces: Batch) -> None:
        cfg = self.retry_cfg
        if cfg is None or self._stopping:
            try:
                await self._attempt(traces)
            except RetryableError as e:
                if self._stopping and self.queue is not None and self.queue.keeps_unsent:
                    raise ShutdownError(f"exporter shut down: {e}") from e  # stays stored
                raise
            return
        started = time.monotonic()
        delays = backoff_delays(cfg)
        while True:
            try:
                await self._attempt(traces)
                return
            except PermanentError:
                raise
            except RetryableError as e:
                err = e
            if err.failed is not None:  # part of it was delivered: only the rest is retried
                traces = err.failed
            if self._stopping:
                raise ShutdownError(f"exporter shut down during retries: {err}") from err
            delay = next(delays)
            if isinstance(err, ThrottledError):
                delay = max(delay, err.delay)
            if cfg.max_elapsed_time > 0 and time.monotonic() - started + delay > cfg.max_elapsed_time:
                raise RetryableError(f"no more retries left: {err}") from err
            self.log.info(
                "Exporting failed. Will retry the request after interval. error=%s interval=%.3fs", err, delay
            )
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except TimeoutError:
                continue
            # shutdown interrupted the sleep: one last attempt, unless the queue keeps the item
            if self.queue is not None and self.queue.keeps_unsent:
                raise ShutdownError(f"exporter shut down during retries: {err}") from err
            await self._attempt(traces)
            return
