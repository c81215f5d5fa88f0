"""The ``attributes`` processor: Go's actions (``insert``, ``update``, ``upsert``, ``delete``, ``hash``,
``extract``, ``convert``; the same as the ``resource`` processor's, from ``attribute_actions``) on the
attributes of every span, log record and metric data point.

``include`` / ``exclude`` choose the items acted on, with Go's match properties (``item_matching``).
Spans are read through a partial view declaring only their attributes (and, to match, name, kind, resource
and scope); events, links and the rest stay bytes.  Logs and metrics are parsed whole, their attributes
being most of what they hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..attribute_actions import AttributeAction, compile_actions
from ..component import Component, ComponentConfig, ConfigError, Factory
from ..consumer import SIGNALS, Batch
from ..item_matching import MatchProperties, matcher
from ..partial_otlp import trace_request_view

__all__ = ["FACTORY", "AttributesProcessorConfig", "AttributesProcessor"]

_SpanAttributesRequest = trace_request_view(frozenset({"attributes"}))
_SpanMatchRequest = trace_request_view(frozenset({"attributes", "name", "kind"}), with_envelopes=True)
_POINT_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


@dataclass
class AttributesProcessorConfig(ComponentConfig):
    actions: list[AttributeAction] = field(default_factory=list)  # applied in order to every item's attributes
    include: MatchProperties | None = None  # act only on the items these match
    exclude: MatchProperties | None = None  # and not on those these match

    def validate(self) -> None:
        if not self.actions:
            raise ConfigError("actions", "at least one action is required (key and action)")

    def validate_signal(self, signal: str) -> None:
        for key in ("include", "exclude"):
            props = getattr(self, key)
            if props is not None:
                try:
                    props.check_signal(signal)
                except ConfigError as e:
                    raise ConfigError(f"{key}.{e.path}" if e.path else key, e.message) from None


class AttributesProcessor(Component):
    def __init__(self, settings, config: AttributesProcessorConfig, next_consumer):
        self._next = next_consumer
        self._apply = compile_actions(config.actions)
        self._signal = settings.signal
        include = matcher(config.include) if config.include is not None else None
        exclude = matcher(config.exclude) if config.exclude is not None else None
        self._selects = include is not None or exclude is not None

        def selected(**item) -> bool:
            return (include is None or include(**item)) and (exclude is None or not exclude(**item))

        self._selected = selected

    async def consume(self, batch: Batch) -> None:
        apply, metadata, selected = self._apply, batch.metadata, self._selected
        selects = self._selects
        if self._signal == "traces":
            view = _SpanMatchRequest if selects else _SpanAttributesRequest
            message = view.FromString(batch.to_bytes())
            for rs in message.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        if not selects or selected(resource=rs.resource, scope=ss.scope, span=span):
                            apply(span.attributes, metadata)
        else:
            message = batch.request_class.FromString(batch.to_bytes())
            if self._signal == "logs":
                for rl in message.resource_logs:
                    for sl in rl.scope_logs:
                        for record in sl.log_records:
                            if not selects or selected(resource=rl.resource, scope=sl.scope, record=record):
                                apply(record.attributes, metadata)
            else:
                for rm in message.resource_metrics:
                    for sm in rm.scope_metrics:
                        for metric in sm.metrics:
                            kind = metric.WhichOneof("data")
                            if kind not in _POINT_KINDS:
                                continue
                            if selects and not selected(resource=rm.resource, scope=sm.scope, metric=metric):
                                continue
                            for point in getattr(metric, kind).data_points:
                                apply(point.attributes, metadata)
        # a new batch over the new bytes: the incoming one may be another pipeline's too
        await self._next.consume(type(batch)(None, message.SerializeToString(), batch.item_count, metadata))


def _create(settings, config: AttributesProcessorConfig, next_consumer) -> AttributesProcessor:
    return AttributesProcessor(settings, config, next_consumer)


FACTORY = Factory(
    kind="processor", type="attributes", config_class=AttributesProcessorConfig, create=_create, signals=SIGNALS
)
