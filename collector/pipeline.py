"""The pipeline graph built from ``service.pipelines``.

Like the OpenTelemetry Collector's graph: one receiver instance per receiver id
(fanning out to every pipeline that lists it, whatever their signals: its
``SignalRouter`` sends each batch to the pipelines of its signal), one processor
instance per pipeline, one exporter instance per exporter id and signal (shared
by the pipelines of that signal that list it).  Components are created downstream-first so each gets its built
``next`` consumer, started exporters-first and stopped receivers-first so every
component can drain into a consumer that is still running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .component import ComponentID, CreateSettings
from .config_validation import CollectorConfig, ComponentEntry, PipelineConfig, connector_outputs, resolved_ids
from .consumer import SIGNALS, Batch, PermanentError, ThrottledError, batch_class

__all__ = ["Host", "Graph", "FanOut", "SignalRouter", "worst_error", "pipeline_signal"]

log = logging.getLogger("otel_lite.collector.pipeline")


class Host:
    """What components see of the collector: extension lookup and readiness."""

    def __init__(self):
        self.extensions: dict[ComponentID, Any] = {}
        self.ready = False
        self.started_at = time.time()

    def get_extension(self, id: ComponentID | str):
        if isinstance(id, str):
            id = ComponentID.parse(id)
        return self.extensions.get(id)


def _error_rank(exc: BaseException) -> int:
    if isinstance(exc, PermanentError):
        return 3
    if isinstance(exc, ThrottledError):
        return 1
    return 2  # retryable or unexpected: the Go collector treats plain errors as retryable


def worst_error(errors: list[BaseException]) -> BaseException:
    """The error a sender must act on: permanent beats retryable beats throttled
    (the longest throttle delay wins among throttles)."""
    return max(errors, key=lambda e: (_error_rank(e), getattr(e, "delay", 0.0)))


class FanOut:
    """Hands each batch to several consumers concurrently and waits for all.

    With ``clone`` every consumer but the first gets its own batch over the
    same (immutable) bytes, so a processor that mutates its message cannot
    change what another pipeline sees.
    """

    __slots__ = ("consumers", "clone")

    def __init__(self, consumers: list, clone: bool = False):
        self.consumers = consumers
        self.clone = clone

    async def consume(self, traces: Batch) -> None:
        if self.clone:
            batches = [traces] + [traces.same_bytes() for _ in self.consumers[1:]]
        else:
            batches = [traces] * len(self.consumers)
        results = await asyncio.gather(
            *(c.consume(b) for c, b in zip(self.consumers, batches, strict=True)), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            for e in errors:
                if isinstance(e, asyncio.CancelledError):
                    raise e
            raise worst_error(errors)

    def queue_batching_targets(self) -> list | None:
        return _targets_of_all(self.consumers)


def queue_batching_targets(consumer) -> list | None:
    """The exporters behind ``consumer`` that batch in their sending queues, or None when
    some path ends elsewhere (an exporter without a queue, a processor)."""
    ask = getattr(consumer, "queue_batching_targets", None)
    return ask() if ask is not None else None


def _targets_of_all(consumers) -> list | None:
    found = []
    for c in consumers:
        t = queue_batching_targets(c)
        if t is None:
            return None
        found.extend(t)
    return found


def fan_out(consumers: list, clone: bool = False):
    return consumers[0] if len(consumers) == 1 else FanOut(consumers, clone)


def pipeline_signal(name: str) -> str:
    """``traces`` of ``traces/backend``."""
    return name.partition("/")[0]


class SignalRouter:
    """A receiver's next consumer: each batch goes to the pipelines of its signal.  ``signals``
    tells the receiver what to serve (the OTLP receiver serves no metrics without a metrics
    pipeline)."""

    __slots__ = ("routes", "signals")

    def __init__(self, routes: dict[str, Any]):
        self.routes = routes
        self.signals = tuple(s for s in SIGNALS if s in routes)

    async def consume(self, batch: Batch) -> None:
        route = self.routes.get(batch.signal)
        if route is None:
            raise PermanentError(f"no {batch.signal} pipeline takes data from this receiver", grpc_code="UNIMPLEMENTED")
        await route.consume(batch)


class _CountIncoming:
    """Counts ``otelcol_processor_incoming_items`` in front of a processor."""

    __slots__ = ("inner", "counter")

    def __init__(self, inner, counter):
        self.inner = inner
        self.counter = counter

    async def consume(self, traces: Batch) -> None:
        self.counter.inc(traces.item_count)
        await self.inner.consume(traces)

    def queue_batching_targets(self) -> list | None:
        return queue_batching_targets(self.inner)


class _CountOutgoing:
    """Counts ``otelcol_processor_outgoing_items``: what a processor passes on."""

    __slots__ = ("next", "counter")

    def __init__(self, next_consumer, counter):
        self.next = next_consumer
        self.counter = counter

    async def consume(self, traces: Batch) -> None:
        self.counter.inc(traces.item_count)
        await self.next.consume(traces)

    def queue_batching_targets(self) -> list | None:
        return queue_batching_targets(self.next)


def _signal_suffix(signal: str) -> str:
    return f" ({signal})"


def _depth(name: str, routes: dict, pipelines: dict[str, PipelineConfig]) -> int:
    """How many connectors stand between pipeline ``name`` and the receivers (0 without any);
    ``routes``: ``connector_outputs``."""
    feeders = [
        other
        for other, pipe in pipelines.items()
        for xid in resolved_ids(pipe.exporters)
        if name in routes.get((xid, pipeline_signal(other)), ())
    ]
    return max((_depth(f, routes, pipelines) + 1 for f in feeders), default=0)


class Graph:
    """Creates, starts and stops every component of a ``CollectorConfig``."""

    def __init__(self, config: CollectorConfig, telemetry, host: Host | None = None):
        self.config = config
        self.telemetry = telemetry
        self.host = host or Host()
        self.extensions: list[tuple[str, Any]] = []
        self.exporters: list[tuple[str, Any]] = []
        self.processors: list[tuple[str, Any]] = []  # in pipeline order, per pipeline
        # processors and connectors upstream-first: the order a shutdown flushes them in
        self._flush_order: list[tuple[str, Any]] = []
        self.connectors: list[tuple[str, Any]] = []
        self.receivers: list[tuple[str, Any]] = []
        self._started: list[tuple[str, Any]] = []
        self._build()

    def _settings(self, entry: ComponentEntry, signal: str = "") -> CreateSettings:
        return CreateSettings(id=entry.id, kind=entry.kind, telemetry=self.telemetry, host=self.host, signal=signal)

    def _build(self) -> None:
        cfg = self.config
        svc = cfg.service
        for eid in svc.extensions:
            entry = cfg.extensions[eid]
            ext = entry.factory.create(self._settings(entry), entry.config, None)
            self.host.extensions[eid] = ext
            self.extensions.append((f"extension {eid}", ext))

        exporters: dict[tuple[ComponentID, str], Any] = {}
        for name, pipe in svc.pipelines.items():
            signal = pipeline_signal(name)
            for xid in resolved_ids(pipe.exporters):
                if xid not in cfg.connectors and (xid, signal) not in exporters:
                    entry = cfg.exporters[xid]
                    exporter = entry.factory.create(self._settings(entry, signal), entry.config, None)
                    exporters[xid, signal] = exporter
                    self.exporters.append((f"exporter {xid}" + _signal_suffix(signal), exporter))

        routes = connector_outputs(cfg)  # (connector, signal exported to it) -> the pipelines it feeds
        connectors: dict[tuple[ComponentID, str], Any] = {}
        firsts: dict[str, Any] = {}  # pipeline name -> its first consumer
        chains: dict[str, list] = {}  # pipeline name -> its processors, in order

        def first_consumer(name: str):
            """Builds pipeline ``name`` (and, first, the pipelines its connectors feed: validation
            rejected cycles) and returns what its receivers hand batches to."""
            if name in firsts:
                return firsts[name]
            pipe = svc.pipelines[name]
            signal = pipeline_signal(name)
            outs = []
            for xid in resolved_ids(pipe.exporters):
                if xid not in cfg.connectors:
                    outs.append(exporters[xid, signal])
                    continue
                if (xid, signal) not in connectors:
                    entry = cfg.connectors[xid]
                    downstream: Any
                    if entry.factory.routes_by_pipeline:
                        downstream = {p: first_consumer(p) for p in routes[xid, signal]}
                    else:
                        downstream = fan_out([first_consumer(p) for p in routes[xid, signal]], clone=True)
                    conn = entry.factory.create(self._settings(entry, signal), entry.config, downstream)
                    connectors[xid, signal] = conn
                    self.connectors.append((f"connector {xid}" + _signal_suffix(signal), conn))
                outs.append(connectors[xid, signal])
            # a copy for each path when one leads through a connector to processors that may modify it
            nxt = fan_out(outs, clone=any(x in cfg.connectors for x in resolved_ids(pipe.exporters)))
            chain = []
            for pid in reversed(resolved_ids(pipe.processors)):
                entry = cfg.processors[pid]
                labels = {"processor": str(pid), "otel_signal": signal}
                out = _CountOutgoing(nxt, self.telemetry.processor_outgoing_items.labels(**labels))
                proc = entry.factory.create(self._settings(entry, signal), entry.config, out)
                chain.append((f"processor {pid} (pipeline {name})", proc))
                nxt = _CountIncoming(proc, self.telemetry.processor_incoming_items.labels(**labels))
            chains[name] = list(reversed(chain))
            firsts[name] = nxt
            return nxt

        # receiver id -> signal -> first consumer of each pipeline of that signal using it
        heads: dict[ComponentID, dict[str, list]] = {}
        for name, pipe in svc.pipelines.items():
            nxt = first_consumer(name)
            for rid in resolved_ids(pipe.receivers):
                if rid not in cfg.connectors:
                    heads.setdefault(rid, {}).setdefault(pipeline_signal(name), []).append(nxt)
        # processors upstream-first (a pipeline before those its connectors feed), so each flushes
        # into a live consumer at shutdown; config order otherwise
        # a connector that holds data (spanmetrics) flushes right after the pipelines exporting to it stop
        placed: set[int] = set()
        for name in sorted(svc.pipelines, key=lambda n: _depth(n, routes, svc.pipelines)):
            self.processors.extend(chains[name])
            self._flush_order.extend(chains[name])
            signal = pipeline_signal(name)
            for xid in resolved_ids(svc.pipelines[name].exporters):
                conn = connectors.get((xid, signal))
                if conn is not None and id(conn) not in placed:
                    placed.add(id(conn))
                    self._flush_order.append((f"connector {xid}" + _signal_suffix(signal), conn))

        for rid, by_signal in heads.items():
            entry = cfg.receivers[rid]
            router = SignalRouter({signal: fan_out(c, clone=True) for signal, c in by_signal.items()})
            rec = entry.factory.create(self._settings(entry, ""), entry.config, router)
            self.receivers.append((f"receiver {rid}", rec))

    def get(self, kind: str, id: ComponentID | str, signal: str = ""):
        """A built component by kind and id (the first one for a per-pipeline processor, the
        ``signal`` one, else the first, for an exporter)."""
        prefix = f"{kind} {id}"
        if signal and kind in ("exporter", "connector"):
            prefix += _signal_suffix(signal)
        for group in (self.extensions, self.exporters, self.connectors, self.processors, self.receivers):
            for label, comp in group:
                if label == prefix or label.startswith(prefix + " "):
                    return comp
        return None

    async def start(self) -> None:
        """Start extensions, exporters, processors (downstream first), receivers.
        On failure everything already started is shut down and the error re-raised."""
        order = self.extensions + self.exporters + list(reversed(self._flush_order)) + self.receivers
        for label, comp in order:
            log.debug("starting %s", label)
            try:
                await comp.start(self.host)
            except BaseException as e:
                log.error("failed to start %s: %s", label, e)
                self._started.append((label, comp))  # a half-started component may hold resources
                await self.shutdown()
                raise
            self._started.append((label, comp))

    async def shutdown(self) -> None:
        """Stop receivers, processors (pipeline order, so each flushes into a live
        consumer), exporters, extensions; errors are logged, never abort the shutdown."""
        started = {id(c) for _, c in self._started}
        order = self.receivers + self._flush_order + self.exporters + self.extensions
        for label, comp in order:
            if id(comp) not in started:
                continue
            log.debug("stopping %s", label)
            try:
                await comp.shutdown()
            except Exception:
                log.exception("error while stopping %s", label)
        self._started.clear()
        self._report_undelivered(order)

    def _report_undelivered(self, order) -> None:
        """One line with what the shutdown left undelivered: items dropped (counted in the
        components' metrics) and items stored in persistent queues for the next start, per
        signal (``dropped_spans=``, ``dropped_metric_points=``, ``dropped_log_records=``)."""
        dropped: dict[str, int] = {}
        stored: dict[str, int] = {}
        parts = []
        for label, comp in order:
            report = getattr(comp, "undelivered", None)
            if report is None:
                continue
            d, s = report()
            if d or s:
                parts.append(f"{label}: dropped {d}, stored {s}")
            items = batch_class(getattr(comp, "signal", "") or "traces").items
            dropped[items] = dropped.get(items, 0) + d
            stored[items] = stored.get(items, 0) + s
        totals = " ".join(
            f"dropped_{items}={dropped[items]} stored_{items}_for_next_start={stored[items]}"
            for items in dropped
            if dropped[items] or stored[items]
        )
        if any(dropped.values()):
            log.error("shutdown complete with undelivered data: %s (%s)", totals, "; ".join(parts))
        elif any(stored.values()):
            log.info("shutdown complete: %s, sent after the next start (%s)", totals, "; ".join(parts))
