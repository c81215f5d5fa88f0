"""The ``routing`` connector: each resource (or each request) goes to the pipelines of the first route
whose OTTL condition holds, or to ``default_pipelines``, as Go's ``routingconnector``.

A route is ``condition: <OTTL condition>`` (or Go's ``statement: route() where <condition>``) with its
``pipelines``, in the ``resource`` context (the default: paths such as ``resource.attributes["tenant"]``,
a request's resources split among routes) or the ``request`` context (``request["X-Tenant"]``: the
client's header, with the receiver's ``include_metadata``; the whole request goes one way).  Routes are
tried in order and the first match wins (Go's only behaviour since ``match_once`` was removed).  Data
no route takes, with no ``default_pipelines``, is dropped and counted, as Go does.  Resources are moved
as their serialized bytes: nothing inside them is decoded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from ..component import Component, ComponentConfig, ConfigError, Factory
from ..consumer import SIGNALS, Batch
from ..ottl import OTTLError, compile_condition
from ..partial_otlp import ResourceOnlyRequest
from ..pipeline import _targets_of_all, worst_error

__all__ = ["FACTORY", "RoutingConfig", "RoutingConnector"]

log = logging.getLogger("otel_lite.collector.connector.routing")

_ROUTE_PREFIX = "route() where "


@dataclass
class Route(ComponentConfig):
    condition: str = ""  # an OTTL condition
    statement: str = ""  # Go's older form: route() where <condition>
    context: str = "resource"  # resource or request
    pipelines: list[str] = field(default_factory=list)  # where what matches goes

    def validate(self) -> None:
        if self.context not in ("resource", "request"):
            raise ConfigError(
                "context", "must be resource or request (routing by span, log or data point is not supported)"
            )
        if bool(self.condition) == bool(self.statement):
            raise ConfigError("condition", "give exactly one of condition, statement")
        if self.statement and not self.statement.startswith(_ROUTE_PREFIX):
            raise ConfigError("statement", "must read route() where <condition>")
        if not self.pipelines:
            raise ConfigError("pipelines", "name at least one pipeline")
        try:
            compile_condition(self.text, self.context)
        except OTTLError as e:
            raise ConfigError("statement" if self.statement else "condition", str(e)) from None

    @property
    def text(self) -> str:
        return self.condition or self.statement[len(_ROUTE_PREFIX) :]


@dataclass
class RoutingConfig(ComponentConfig):
    table: list[Route] = field(default_factory=list)  # tried in order; the first that holds wins
    default_pipelines: list[str] = field(default_factory=list)  # what no route takes
    error_mode: str = "propagate"  # a condition failing: propagate refuses the data; ignore/silent: no match
    match_once: bool | None = None  # Go removed it (first match always wins): accepted when true

    def validate(self) -> None:
        if not self.table:
            raise ConfigError("table", "name at least one route")
        if self.error_mode not in ("propagate", "ignore", "silent"):
            raise ConfigError("error_mode", "must be propagate, ignore or silent")
        if self.match_once is False:
            raise ConfigError("match_once", "Go removed it: the first matching route always wins")

    def routed_pipelines(self) -> Iterator[tuple[str, str]]:
        """(path, pipeline name) of every pipeline the config sends to: the graph checks each is fed."""
        for i, route in enumerate(self.table):
            for j, name in enumerate(route.pipelines):
                yield f"table[{i}].pipelines[{j}]", name
        for j, name in enumerate(self.default_pipelines):
            yield f"default_pipelines[{j}]", name


def _envelope_bytes(raw: bytes) -> list[tuple[int, int]]:
    """(start, end) of each field-1 record (a Resource* envelope) in an Export*ServiceRequest."""
    spans, i, n = [], 0, len(raw)
    while i < n:
        start = i
        tag, i = _varint(raw, i)
        wire = tag & 7
        if wire == 2:
            length, i = _varint(raw, i)
            i += length
        elif wire == 0:
            _, i = _varint(raw, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"unexpected wire type {wire}")
        if tag >> 3 == 1:
            spans.append((start, i))
    return spans


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


class RoutingConnector(Component):
    def __init__(self, settings, config: RoutingConfig, pipelines: dict):
        self.signal = settings.signal
        self._pipelines = pipelines  # name -> the first consumer of that pipeline
        self._routes = [
            (compile_condition(r.text, r.context), r.context, [p for p in r.pipelines if p in pipelines], r.text)
            for r in config.table
        ]
        self._default = [p for p in config.default_pipelines if p in pipelines]
        self._error_mode = config.error_mode
        telemetry = settings.telemetry
        items = {"traces": "spans", "metrics": "metric_points", "logs": "log_records"}[self.signal]
        self._unrouted = telemetry.counter(
            f"otelcol_connector_routing_unrouted_{items}",
            f"{items} no route took and no default pipeline received (dropped)",
            ["connector"],
        ).labels(str(settings.id))

    def _holds(self, condition: Callable[[dict], bool], item: dict, text: str) -> bool:
        try:
            return bool(condition(item))
        except Exception as e:
            if self._error_mode == "propagate":
                from ..consumer import PermanentError

                raise PermanentError(f"routing condition {text!r} failed: {e}") from None
            if self._error_mode == "ignore":
                log.warning("routing condition failed; taken as not matching: %s: %s", text, e)
            return False

    def _choose(self, item: dict, context: str) -> list[str] | None:
        for condition, route_context, pipelines, text in self._routes:
            if route_context == context and self._holds(condition, item, text):
                return pipelines
        return None

    async def consume(self, batch: Batch) -> None:
        by_request = self._choose({"request": batch.metadata}, "request")
        if by_request is not None:
            await self._send({tuple(by_request): None}, batch)
            return
        if not any(context == "resource" for _, context, _, _ in self._routes):
            await self._send({tuple(self._default): None}, batch)
            return
        raw = batch.to_bytes()
        view = ResourceOnlyRequest.FromString(raw)
        bounds = _envelope_bytes(raw)
        groups: dict[tuple[str, ...], list[int]] = {}
        for index, envelope in enumerate(view.envelopes):
            chosen = self._choose({"resource": envelope.resource}, "resource")
            groups.setdefault(tuple(self._default if chosen is None else chosen), []).append(index)
        if len(groups) == 1:
            await self._send({next(iter(groups)): None}, batch)
            return
        parts = {
            names: b"".join(raw[bounds[i][0] : bounds[i][1]] for i in indexes) for names, indexes in groups.items()
        }
        await self._send(parts, batch)

    def queue_batching_targets(self) -> list | None:
        # a batch processor in front may defer to the exporters' queues behind every routed pipeline
        return _targets_of_all(list(self._pipelines.values()))

    async def _send(self, parts: Mapping[tuple[str, ...], bytes | None], batch: Batch) -> None:
        """Each part (None: the whole batch) to each of its pipelines, a batch of its own for each."""
        sends = []
        for names, raw in parts.items():
            if not names:
                dropped = batch.item_count if raw is None else type(batch).from_bytes(raw).item_count
                self._unrouted.inc(dropped)
                log.debug("no route for %d %s and no default pipelines: dropped", dropped, batch.items)
                continue
            part = batch if raw is None else type(batch).from_bytes(raw)
            for k, name in enumerate(names):
                own = part if k == 0 and raw is not None else part.same_bytes()
                own.metadata = batch.metadata
                sends.append(self._pipelines[name].consume(own))
        results = await asyncio.gather(*sends, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            for e in errors:
                if isinstance(e, asyncio.CancelledError):
                    raise e
            raise worst_error(errors)


FACTORY = Factory(
    kind="connector",
    type="routing",
    config_class=RoutingConfig,
    create=lambda settings, config, pipelines: RoutingConnector(settings, config, pipelines),
    stability="beta",
    signals=SIGNALS,
    routes_by_pipeline=True,
)
