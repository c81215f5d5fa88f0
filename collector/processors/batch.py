"""Batch processor (type ``batch``): groups requests into bigger ones.

Behaves like the Go ``batchprocessor`` (``send_batch_size`` trigger,
``timeout``, ``send_batch_max_size`` split) except that it never hides
downstream errors: every ``consume`` call waits until the batch holding its
data has been sent and re-raises the downstream error, so a refusing exporter
turns into 503 / UNAVAILABLE at the receiver instead of silent loss.

The hot path only appends the request (its serialized bytes, see
``Traces.merge``) and bumps a counter; nothing is parsed unless a batch must
be split for ``send_batch_max_size``.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ..component import Component, ComponentConfig, ConfigError, Duration, Factory
from ..consumer import Traces

__all__ = ["BatchConfig", "BatchProcessor", "FACTORY", "split_traces"]

# the Go processor's bucket boundaries for otelcol_processor_batch_batch_send_size
_SEND_SIZE_BUCKETS = (10, 25, 50, 75, 100, 250, 500, 750, 1000, 2000, 3000, 4000, 5000, 6000, 7000,
                      8000, 9000, 10000, 20000, 30000, 50000, 100000)


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


def split_traces(traces: Traces, max_spans: int) -> list[Traces]:
    """Cut ``traces`` into requests of at most ``max_spans`` spans, at span
    granularity, keeping each span under a copy of its Resource and scope."""
    if traces.span_count <= max_spans:
        return [traces]
    out: list[Traces] = []
    cur, room = ExportTraceServiceRequest(), max_spans
    for rs in traces.message.resource_spans:
        out_rs = None  # rs's copy in ``cur``, created when its first span lands there
        for ss in rs.scope_spans:
            spans, start, n = ss.spans, 0, len(ss.spans)
            while start < n:
                if room == 0:
                    out.append(Traces(cur, None, max_spans))
                    cur, room, out_rs = ExportTraceServiceRequest(), max_spans, None
                if out_rs is None:
                    out_rs = cur.resource_spans.add()
                    out_rs.resource.CopyFrom(rs.resource)
                    out_rs.schema_url = rs.schema_url
                out_ss = out_rs.scope_spans.add()
                out_ss.scope.CopyFrom(ss.scope)
                out_ss.schema_url = ss.schema_url
                take = min(room, n - start)
                out_ss.spans.extend(spans[start:start + take])
                start += take
                room -= take
    if room < max_spans:
        out.append(Traces(cur, None, max_spans - room))
    return out


class _Batch:
    """Requests waiting to be sent together, and the future their callers wait on."""

    __slots__ = ("parts", "items", "future", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.parts: list[Traces] = []
        self.items = 0
        self.future: asyncio.Future = loop.create_future()
        self.timer: asyncio.TimerHandle | None = None


def _retrieve(fut: asyncio.Future) -> None:
    # every caller may have been cancelled; mark the error seen so asyncio does not log it
    if not fut.cancelled():
        fut.exception()


class BatchProcessor(Component):
    def __init__(self, settings, config: BatchConfig, next_consumer):
        self._next = next_consumer
        self._send_size = config.send_batch_size
        self._max_size = config.send_batch_max_size
        self._timeout = float(config.timeout)
        self._logger = settings.logger
        self._batch: _Batch | None = None
        self._sending: set[asyncio.Task] = set()
        self._closed = False
        label = str(settings.id)
        tel = settings.telemetry
        self._m_send_size = tel.histogram(
            "otelcol_processor_batch_batch_send_size", "Number of units in the batch",
            ["processor"], buckets=_SEND_SIZE_BUCKETS).labels(label)
        self._m_size_trigger = tel.counter(
            "otelcol_processor_batch_batch_size_trigger_send",
            "Number of times the batch was sent due to a size trigger", ["processor"]).labels(label)
        self._m_timeout_trigger = tel.counter(
            "otelcol_processor_batch_timeout_trigger_send",
            "Number of times the batch was sent due to a timeout trigger", ["processor"]).labels(label)

    async def consume(self, traces: Traces) -> None:
        if self._timeout <= 0 or self._closed:
            # timeout 0: no batching, only send_batch_max_size applies (Go semantics)
            await self._export(traces)
            return
        batch = self._batch
        if batch is None:
            loop = asyncio.get_running_loop()
            batch = self._batch = _Batch(loop)
            batch.future.add_done_callback(_retrieve)
            batch.timer = loop.call_later(self._timeout, self._on_timeout, batch)
        batch.parts.append(traces)
        batch.items += traces.span_count
        if batch.items >= self._send_size:
            self._m_size_trigger.inc()
            self._flush()
        # shield: a cancelled caller must not cancel the batch other callers wait on
        await asyncio.shield(batch.future)

    def _on_timeout(self, batch: _Batch) -> None:
        if self._batch is batch:
            self._m_timeout_trigger.inc()
            self._flush()

    def _flush(self) -> None:
        batch, self._batch = self._batch, None
        if batch is None:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: _Batch) -> None:
        try:
            await self._export(Traces.merge(batch.parts))
        except BaseException as e:  # noqa: BLE001 - handed to every waiting caller
            if not batch.future.done():
                batch.future.set_exception(e)
            if isinstance(e, asyncio.CancelledError):
                raise
        else:
            if not batch.future.done():
                batch.future.set_result(None)

    async def _export(self, traces: Traces) -> None:
        if self._max_size and traces.span_count > self._max_size:
            parts = split_traces(traces, self._max_size)
        else:
            parts = [traces]
        first_error = None
        for part in parts:
            self._m_send_size.observe(part.span_count)
            try:
                await self._next.consume(part)
            except Exception as e:  # keep sending the other parts; report the first failure
                if first_error is None:
                    first_error = e
        if first_error is not None:
            raise first_error

    async def shutdown(self) -> None:
        self._closed = True
        if self._batch is not None:
            self._flush()
        if self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)


def _create(settings, config: BatchConfig, next_consumer) -> BatchProcessor:
    return BatchProcessor(settings, config, next_consumer)


FACTORY = Factory(kind="processor", type="batch", config_class=BatchConfig, create=_create)
