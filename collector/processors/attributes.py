"""The ``attributes`` processor: Go's actions (``insert``, ``update``, ``upsert``, ``delete``, ``hash``,
``extract``, ``convert``; the same as the ``resource`` processor's, from ``attribute_actions``) on the
attributes of every span, log record and metric data point.

Spans are read through a partial view declaring only their attributes (names, events, links and the
rest stay bytes); logs and metrics are parsed whole, their attributes being most of what they hold.
Go's ``include`` / ``exclude`` match properties are not supported yet: a config naming them is refused
by ``validate`` rather than applied to everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..attribute_actions import AttributeAction, compile_actions
from ..component import Component, ComponentConfig, ConfigError, Factory
from ..consumer import SIGNALS, Batch
from ..partial_otlp import trace_request_view

__all__ = ["FACTORY", "AttributesProcessorConfig", "AttributesProcessor"]

_SpanAttributesRequest = trace_request_view(frozenset({"attributes"}))
_POINT_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


@dataclass
class AttributesProcessorConfig(ComponentConfig):
    actions: list[AttributeAction] = field(default_factory=list)  # applied in order to every item's attributes
    include: Any = None  # Go's match properties: not supported yet (refused)
    exclude: Any = None  # Go's match properties: not supported yet (refused)

    def validate(self) -> None:
        if not self.actions:
            raise ConfigError("actions", "at least one action is required (key and action)")
        for key in ("include", "exclude"):
            if getattr(self, key) is not None:
                raise ConfigError(
                    key,
                    "matching which items an action applies to is not supported yet: remove it to act on every "
                    "item, or run a separate pipeline for the data it should select",
                )


class AttributesProcessor(Component):
    def __init__(self, settings, config: AttributesProcessorConfig, next_consumer):
        self._next = next_consumer
        self._apply = compile_actions(config.actions)
        self._signal = settings.signal

    async def consume(self, batch: Batch) -> None:
        apply, metadata = self._apply, batch.metadata
        if self._signal == "traces":
            message = _SpanAttributesRequest.FromString(batch.to_bytes())
            for rs in message.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        apply(span.attributes, metadata)
        else:
            message = batch.request_class.FromString(batch.to_bytes())
            if self._signal == "logs":
                for rl in message.resource_logs:
                    for sl in rl.scope_logs:
                        for record in sl.log_records:
                            apply(record.attributes, metadata)
            else:
                for rm in message.resource_metrics:
                    for sm in rm.scope_metrics:
                        for metric in sm.metrics:
                            kind = metric.WhichOneof("data")
                            if kind in _POINT_KINDS:
                                for point in getattr(metric, kind).data_points:
                                    apply(point.attributes, metadata)
        # a new batch over the new bytes: the incoming one may be another pipeline's too
        await self._next.consume(type(batch)(None, message.SerializeToString(), batch.item_count, metadata))


def _create(settings, config: AttributesProcessorConfig, next_consumer) -> AttributesProcessor:
    return AttributesProcessor(settings, config, next_consumer)


FACTORY = Factory(
    kind="processor", type="attributes", config_class=AttributesProcessorConfig, create=_create, signals=SIGNALS
)
