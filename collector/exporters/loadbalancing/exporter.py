"""The ``loadbalancing`` exporter (alias ``load_balancing``): every span of a
trace to the same backend, chosen on a consistent-hash ring over what the
resolver found.

Where it differs from Go's, on purpose:

- The backend is chosen when a batch leaves this exporter's sending queue (at
  each attempt), not when it enters: a batch whose backend vanished, or that
  failed on one, is re-routed to the current owners on the next attempt.
- A request's parts go to their backends in parallel, and only the parts
  that failed are retried (``ConsumerError.failed``): the backends that
  accepted theirs do not get them twice.
- There are no per-backend queues: one queue, one retry policy for the whole
  exporter (the template's ``sending_queue`` / ``retry_on_failure`` are unused).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time

from ...component import Factory
from ...consumer import Batch, ConsumerError, PermanentError, RetryableError, Traces
from ..helper import Exporter, QueueConfig, RetryConfig
from ..otlp_grpc import OTLPGrpcExporter, OTLPGrpcExporterConfig
from .config import LoadBalancingExporterConfig
from .resolvers import Resolver, StaticResolver
from .ring import HashRing, build_ring
from .routing import route

__all__ = ["FACTORY", "LoadBalancingExporter", "dial_target"]

_HAS_PORT = re.compile(r"(\]|^[^:\[]*):\d+$")
_DEFAULT_PORT = 4317


def dial_target(endpoint: str) -> str:
    """The address to dial for a ring endpoint: Go dials ``host:4317`` when the
    endpoint has no port (the ring still hashes it without one)."""
    return endpoint if _HAS_PORT.search(endpoint) else f"{endpoint}:{_DEFAULT_PORT}"


class _Backend:
    __slots__ = ("endpoint", "exporter", "in_flight", "retired", "sent", "failed", "ok", "not_ok", "latency")

    def __init__(self, endpoint: str, exporter: OTLPGrpcExporter, metrics):
        self.endpoint = endpoint
        self.exporter = exporter
        self.in_flight = 0
        self.retired = False
        self.sent, self.failed, self.ok, self.not_ok, self.latency = metrics


class LoadBalancingExporter(Exporter):
    def __init__(self, settings, config: LoadBalancingExporterConfig):
        super().__init__(settings, config)
        self.config = config
        self.resolver_name = "static" if config.resolver.static is not None else "dns"
        self.resolver = self._make_resolver(config)
        self._ring: HashRing | None = None
        self._backends: dict[str, _Backend] = {}
        self._update_lock = asyncio.Lock()
        self._updates: set[asyncio.Task] = set()
        self._host = None
        self._template = dataclasses.replace(
            config.protocol.otlp, sending_queue=QueueConfig(enabled=False), retry_on_failure=RetryConfig(enabled=False)
        )
        tel, name = settings.telemetry, str(settings.id)
        self._m_num_backends = tel.gauge(
            "otelcol_loadbalancer_num_backends", "Current number of backends in use", ["exporter", "resolver"]
        ).labels(name, self.resolver_name)
        self._m_updates = tel.counter(
            "otelcol_loadbalancer_num_backend_updates",
            "Number of times the list of backends was updated",
            ["exporter", "resolver"],
        ).labels(name, self.resolver_name)
        self._m_latency = tel.histogram(
            "otelcol_loadbalancer_backend_latency",
            "Response latency in ms for the backends",
            ["exporter", "endpoint"],
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 30000),
        )
        self._m_outcome = tel.counter(
            "otelcol_loadbalancer_backend_outcome",
            "Number of successes and failures for each endpoint",
            ["exporter", "endpoint", "success"],
        )
        self._m_backend_sent = tel.counter(
            "otelcol_loadbalancer_backend_sent_spans", "Spans a backend accepted", ["exporter", "endpoint"]
        )
        self._m_backend_failed = tel.counter(
            "otelcol_loadbalancer_backend_send_failed_spans",
            "Spans a backend did not accept (retried or re-routed while the retry policy allows)",
            ["exporter", "endpoint"],
        )

    def _make_resolver(self, config: LoadBalancingExporterConfig) -> Resolver:
        if config.resolver.static is not None:
            return StaticResolver(config.resolver.static)
        from .dns_resolver import DNSResolver

        assert config.resolver.dns is not None  # the config validated that exactly one resolver is set
        return DNSResolver(config.resolver.dns, self.log, self.settings.telemetry)

    # -- backends --------------------------------------------------------------
    def endpoints(self) -> list[str]:
        ring = self._ring
        return list(ring.endpoints) if ring is not None else []

    async def start_client(self, host) -> None:
        self._host = host
        await self.resolver.start(self._on_change)
        await self._apply(self.resolver.endpoints())

    def _on_change(self, endpoints: list[str]) -> None:
        task = asyncio.get_running_loop().create_task(self._apply(endpoints))
        self._updates.add(task)
        task.add_done_callback(self._updates.discard)

    async def _apply(self, endpoints: list[str]) -> None:
        async with self._update_lock:
            wanted = sorted(set(endpoints))
            if self._ring is not None and list(self._ring.endpoints) == wanted:
                return
            for endpoint in wanted:
                if endpoint not in self._backends:
                    self._backends[endpoint] = await self._start_backend(endpoint)
            self._ring = build_ring(wanted, self.config.ring_version)
            kept = set(wanted)
            removed = [b for e, b in self._backends.items() if e not in kept]
            for backend in removed:
                del self._backends[backend.endpoint]
                backend.retired = True
                if backend.in_flight == 0:
                    await backend.exporter.shutdown_client()
            self._m_num_backends.set(len(wanted))
            self._m_updates.inc()
            self.log.info("backends updated: resolver=%s endpoints=%s", self.resolver_name, ",".join(wanted))

    async def _start_backend(self, endpoint: str) -> _Backend:
        cfg: OTLPGrpcExporterConfig = dataclasses.replace(self._template, endpoint=dial_target(endpoint))
        settings = dataclasses.replace(self.settings, logger=logging.getLogger(f"{self.log.name}.{endpoint}"))
        exporter = OTLPGrpcExporter(settings, cfg)
        await exporter.start_client(self._host)
        name = str(self.id)
        metrics = (
            self._m_backend_sent.labels(name, endpoint),
            self._m_backend_failed.labels(name, endpoint),
            self._m_outcome.labels(name, endpoint, "true"),
            self._m_outcome.labels(name, endpoint, "false"),
            self._m_latency.labels(name, endpoint),
        )
        return _Backend(endpoint, exporter, metrics)

    async def shutdown_client(self) -> None:
        await self.resolver.shutdown()
        for task in list(self._updates):
            task.cancel()
        backends, self._backends = list(self._backends.values()), {}
        self._ring = None
        for backend in backends:
            await backend.exporter.shutdown_client()

    # -- data path -------------------------------------------------------------
    async def push(self, traces: Batch) -> None:  # a Traces: the factory takes traces pipelines only
        ring = self._ring
        if ring is None or not ring.slots:
            raise RetryableError("no backends: the resolver has not found any yet")
        parts = route(traces, ring, self.config.routing_key)  # type: ignore[arg-type]  # traces only
        if len(parts) == 1:
            ((endpoint, part),) = parts.items()
            await self._send_to(endpoint, part)
            return
        results = await asyncio.gather(*(self._send_to(e, p) for e, p in parts.items()), return_exceptions=True)
        retry: list[Traces] = []
        permanent: list[Traces] = []
        errors: list[str] = []
        for (endpoint, part), result in zip(parts.items(), results, strict=True):
            if result is None:
                continue
            if isinstance(result, asyncio.CancelledError):
                raise result
            errors.append(f"{endpoint}: {result}")
            (permanent if isinstance(result, PermanentError) else retry).append(part)
        if not errors:
            return
        message = f"{len(errors)} of {len(parts)} backends failed: " + "; ".join(errors)
        if retry:
            if permanent:  # dropped now; the retryable parts go on
                n = sum(p.span_count for p in permanent)
                self._m_failed_perm.inc(n)
                self._log_drop(PermanentError(message), n, "The error is not retryable. ")
            raise RetryableError(message).with_failed(Traces.merge(retry))
        raise PermanentError(message).with_failed(Traces.merge(permanent))

    async def _send_to(self, endpoint: str, part: Traces) -> None:
        backend = self._backends.get(endpoint)
        if backend is None:  # removed since routing: the retry routes it again
            raise RetryableError(f"backend {endpoint} was removed")
        backend.in_flight += 1
        started = time.perf_counter()
        try:
            await backend.exporter.push(part)
        except Exception as e:
            backend.not_ok.inc()
            backend.failed.inc(part.span_count)
            if isinstance(e, ConsumerError):
                raise
            raise RetryableError(f"{type(e).__name__}: {e}") from e
        else:
            backend.ok.inc()
            backend.sent.inc(part.span_count)
        finally:
            backend.latency.observe((time.perf_counter() - started) * 1000)
            backend.in_flight -= 1
            if backend.retired and backend.in_flight == 0:
                await backend.exporter.shutdown_client()


def _create(settings, config: LoadBalancingExporterConfig, next_consumer) -> LoadBalancingExporter:
    return LoadBalancingExporter(settings, config)


FACTORY = Factory(kind="exporter", type="loadbalancing", config_class=LoadBalancingExporterConfig, create=_create)
