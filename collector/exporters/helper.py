"""What every exporter gets for free (the Go collector's ``exporterhelper``).

The send chain, outermost first: **sending queue → retry → timeout → push**.

- ``sending_queue``: an in-memory bounded queue (``queue_size`` batches) or,
  with ``storage``, a SQLite-backed persistent queue (see ``persistent_queue``)
  drained by ``num_consumers`` tasks.  A full queue raises
  ``RetryableError("sending queue is full")`` (the receiver answers 503) unless
  ``block_on_overflow``.  With ``wait_for_result`` (or the queue disabled) the
  caller waits for the send and gets its error, so downstream failures are
  never hidden from a caller that asked to wait.
- ``retry_on_failure``: exponential backoff with jitter on ``RetryableError``
  (and on unexpected exceptions, as the Go collector does); a
  ``ThrottledError`` raises the delay to at least the server's value; a
  ``PermanentError`` is dropped at once.
- ``timeout``: a bound on each attempt.

A concrete exporter subclasses ``Exporter`` and implements ``push`` (raising the
taxonomy errors of ``collector.consumer``) and, if it holds a client,
``start_client`` / ``shutdown_client``.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from ..component import Component, ComponentConfig, ComponentID, ConfigError, Duration
from ..consumer import ConsumerError, PermanentError, RetryableError, ThrottledError, Traces
from ..tls import TLSClientConfig

__all__ = [
    "RetryConfig",
    "QueueConfig",
    "ExporterConfig",
    "TLSConfig",
    "Exporter",
    "ShutdownError",
    "QueueFullError",
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
    """``sending_queue`` (Go ``exporterhelper.QueueBatchConfig``), sized in requests (batches)."""

    enabled: bool = True
    num_consumers: int = 10
    queue_size: int = 1000
    sizer: str = "requests"
    block_on_overflow: bool = False
    wait_for_result: bool = False
    storage: str | None = None  # id of a file_storage extension -> persistent queue

    def validate(self) -> None:
        if not self.enabled:
            return
        if self.num_consumers < 1:
            raise ConfigError("num_consumers", "must be at least 1")
        if self.queue_size < 1:
            raise ConfigError("queue_size", "must be at least 1")
        if self.sizer != "requests":
            raise ConfigError("sizer", f"unsupported sizer {self.sizer!r} (only 'requests' is supported)")
        if self.storage is not None:
            ComponentID.parse(self.storage, "storage")


# Client TLS (Go ``configtls.ClientConfig``) lives with the server side in ``collector.tls``.
TLSConfig = TLSClientConfig


@dataclass
class ExporterConfig(ComponentConfig):
    """The blocks every queued exporter has; concrete configs derive from it."""

    timeout: Duration = Duration(5.0)
    retry_on_failure: RetryConfig = field(default_factory=RetryConfig)
    sending_queue: QueueConfig = field(default_factory=QueueConfig)


class ShutdownError(RetryableError):
    """The exporter stopped while this request was being retried; a persistent
    queue keeps the item for the next start."""


class QueueFullError(RetryableError):
    def __init__(self):
        super().__init__("sending queue is full")


def backoff_delays(cfg: RetryConfig, rng: random.Random | None = None):
    """Endless iterator of randomized exponential backoff delays (seconds)."""
    rnd = (rng or random).random
    interval = float(cfg.initial_interval)
    while True:
        spread = cfg.randomization_factor * interval
        yield interval - spread + 2.0 * spread * rnd()
        interval = min(interval * cfg.multiplier, float(cfg.max_interval))


class _Item:
    """One queued batch; ``waiter`` is set when the caller awaits the outcome."""

    __slots__ = ("traces", "waiter", "handle")

    def __init__(self, traces: Traces, waiter: asyncio.Future | None, handle=None):
        self.traces = traces
        self.waiter = waiter
        self.handle = handle  # persistent queue row id


def _resolve(waiter: asyncio.Future | None, error: BaseException | None) -> None:
    if waiter is None or waiter.done():
        return
    if error is None:
        waiter.set_result(None)
    else:
        waiter.set_exception(error)


class Exporter(Component):
    """Base of queued/retrying exporters: subclasses implement ``push``."""

    def __init__(self, settings, config: ExporterConfig | None = None, *,
                 timeout: float | None = None, retry: RetryConfig | None = None,
                 queue: QueueConfig | None = None):
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
        self.drain_timeout = DEFAULT_DRAIN_TIMEOUT

        tel = settings.telemetry
        name = str(settings.id)
        self._m_sent = tel.exporter_sent_spans.labels(exporter=name)
        self._m_failed_perm = tel.exporter_send_failed_spans.labels(exporter=name, error_permanent="true")
        self._m_failed_retry = tel.exporter_send_failed_spans.labels(exporter=name, error_permanent="false")
        self._m_enqueue_failed = tel.exporter_enqueue_failed_spans.labels(exporter=name)
        self._m_queue_size = tel.exporter_queue_size.labels(exporter=name)
        self._m_queue_capacity = tel.exporter_queue_capacity.labels(exporter=name)
        self._m_in_flight = tel.exporter_in_flight_requests.labels(exporter=name)

        self._stop = asyncio.Event()  # set by shutdown: aborts retry sleeps
        self._stopping = False
        self._busy = 0  # workers currently sending
        self._refused_spans = 0  # enqueue failures since the last log line
        self._refused_logged_at = -1e9
        self._started = False
        self._shut = False
        self._memq: asyncio.Queue | None = None
        self._pq = None  # PersistentQueue
        self._workers: list[asyncio.Task] = []

    # -- to implement ----------------------------------------------------------
    async def push(self, traces: Traces) -> None:
        """Send one batch; raise ``RetryableError``/``ThrottledError``/``PermanentError``."""
        raise NotImplementedError

    async def start_client(self, host) -> None:
        return None

    async def shutdown_client(self) -> None:
        return None

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
        if q.storage:
            from .persistent_queue import PersistentQueue

            ext = host.get_extension(q.storage) if host is not None else None
            if ext is None or not hasattr(ext, "get_client"):
                raise ConfigError("sending_queue.storage",
                                  f"storage extension {q.storage!r} not found: add it to 'extensions' and "
                                  "'service.extensions'")
            client = ext.get_client(self.settings.kind, self.id, "traces")
            self._pq = PersistentQueue(client.path, capacity=q.queue_size, fsync=client.fsync,
                                       lock_timeout=client.timeout, logger=self.log)
            await self._pq.open()
            self._m_queue_size.set(self._pq.size)
            if self._pq.size:
                self.log.info("persistent queue holds %d batches from a previous run; resending them",
                              self._pq.size)
        else:
            self._memq = asyncio.Queue(maxsize=q.queue_size)
        self._workers = [asyncio.create_task(self._worker(), name=f"exporter {self.id} consumer {i}")
                         for i in range(q.num_consumers)]

    async def shutdown(self) -> None:
        if self._shut:
            return
        self._shut = True
        self._stopping = True
        self._stop.set()  # aborts retry sleeps: one attempt per remaining item from now on
        try:
            if self._workers:
                await self._stop_workers()
        finally:
            if self._pq is not None:
                await self._pq.close()
            if self._started:
                await self.shutdown_client()

    async def _stop_workers(self) -> None:
        if self._memq is not None:
            # drain: workers keep taking items (one attempt each) until the queue is empty
            deadline = time.monotonic() + self.drain_timeout
            while (self._memq.qsize() or self._busy_workers()) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        else:
            # persistent queue: stop reading; in-flight sends end quickly (retries aborted)
            deadline = time.monotonic() + max(self.timeout, 1.0) + 1.0
            self._pq.stop_reading()
            while self._busy_workers() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        for t in self._workers:
            t.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._memq is not None:
            dropped = 0
            while not self._memq.empty():
                item = self._memq.get_nowait()
                dropped += item.traces.span_count
                self._m_failed_retry.inc(item.traces.span_count)
                _resolve(item.waiter, ShutdownError("exporter shut down before the batch was sent"))
            if dropped:
                self.log.error("shutdown deadline passed: dropping %d spans still queued", dropped)
            self._m_queue_size.set(0)

    def _busy_workers(self) -> int:
        return self._busy

    # -- data path -------------------------------------------------------------
    async def consume(self, traces: Traces) -> None:
        n = traces.span_count
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
            if self._pq is not None:
                while True:
                    try:
                        await self._pq.put(traces, waiter)
                        break
                    except QueueFullError:
                        if not q.block_on_overflow or self._stopping:
                            raise
                        await self._pq.wait_for_room()
                self._m_queue_size.set(self._pq.size)
            else:
                item = _Item(traces, waiter)
                if q.block_on_overflow:
                    await self._memq.put(item)
                else:
                    try:
                        self._memq.put_nowait(item)
                    except asyncio.QueueFull:
                        raise QueueFullError() from None
                self._m_queue_size.set(self._memq.qsize())
        except ConsumerError as e:
            self._m_enqueue_failed.inc(n)
            self._refused_spans += n
            now = time.monotonic()
            if now - self._refused_logged_at >= 1.0:  # at most one line per second under overload
                self.log.warning("Refusing data because sending_queue is full (senders are told to retry). "
                                 "Try increasing queue_size. "
                                 "error=%s refused_spans=%d", e, self._refused_spans)
                self._refused_logged_at, self._refused_spans = now, 0
            raise
        if waiter is not None:
            await waiter

    async def _worker(self) -> None:
        while True:
            if self._pq is not None:
                item = await self._pq.get()
                if item is None:  # stopped reading
                    return
                self._m_queue_size.set(self._pq.size)
            else:
                item = await self._memq.get()
                self._m_queue_size.set(self._memq.qsize())
            self._busy += 1
            try:
                error = None
                try:
                    await self._send(item.traces)
                except ConsumerError as e:
                    error = e
                if self._pq is not None:
                    # a send aborted by shutdown stays on disk for the next start
                    await self._pq.done(item, remove=not isinstance(error, ShutdownError))
                    self._m_queue_size.set(self._pq.size)
                _resolve(item.waiter, error)
            except asyncio.CancelledError:
                if self._pq is None:  # cancelled mid-send at the end of the drain: this batch is lost
                    self._m_failed_retry.inc(item.traces.span_count)
                    self.log.error("Exporting failed. Dropping data. error=exporter shut down while sending "
                                   "dropped_items=%d", item.traces.span_count)
                _resolve(item.waiter, ShutdownError("exporter shut down while sending"))
                raise
            except Exception as e:  # storage failure: keep going, the row stays for the next start
                self.log.error("persistent queue error: %s", e)
                _resolve(item.waiter, RetryableError(f"persistent queue error: {e}"))
            finally:
                self._busy -= 1

    async def _send(self, traces: Traces) -> None:
        """retry → timeout → push, with the sent/failed counters (Go's obsreport)."""
        n = traces.span_count
        self._m_in_flight.inc()
        try:
            await self._send_with_retry(traces)
        except PermanentError as e:
            self._m_failed_perm.inc(n)
            self.log.error("Exporting failed. The error is not retryable. Dropping data. error=%s "
                           "dropped_items=%d", e, n)
            raise
        except ConsumerError as e:
            if isinstance(e, ShutdownError) and self._pq is not None:
                raise  # the batch stays in the persistent queue for the next start: not a failure
            # an in-memory batch whose send the shutdown cut short is lost too: counted and logged
            self._m_failed_retry.inc(n)
            self.log.error("Exporting failed. Dropping data. error=%s dropped_items=%d", e, n)
            raise
        else:
            self._m_sent.inc(n)
        finally:
            self._m_in_flight.dec()

    async def _attempt(self, traces: Traces) -> None:
        try:
            if self.timeout > 0:
                await asyncio.wait_for(self.push(traces), self.timeout)
            else:
                await self.push(traces)
        except ConsumerError:
            raise
        except asyncio.TimeoutError:
            raise RetryableError(f"request timed out after {self.timeout:g}s") from None
        except asyncio.CancelledError:
            raise
        except Exception as e:  # an unexpected error is retryable, as in the Go collector
            raise RetryableError(f"{type(e).__name__}: {e}") from e

    async def _send_with_retry(self, traces: Traces) -> None:
        cfg = self.retry_cfg
        if cfg is None or self._stopping:
            await self._attempt(traces)
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
            if self._stopping:
                raise ShutdownError(f"exporter shut down during retries: {err}") from err
            delay = next(delays)
            if isinstance(err, ThrottledError):
                delay = max(delay, err.delay)
            if cfg.max_elapsed_time > 0 and time.monotonic() - started + delay > cfg.max_elapsed_time:
                raise RetryableError(f"no more retries left: {err}") from err
            self.log.info("Exporting failed. Will retry the request after interval. error=%s interval=%.3fs",
                          err, delay)
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except asyncio.TimeoutError:
                continue
            # shutdown interrupted the sleep: one last attempt for an in-memory item
            if self._pq is not None:
                raise ShutdownError(f"exporter shut down during retries: {err}") from err
            await self._attempt(traces)
            return
