"""The ``resource`` processor: Go's actions (``insert``, ``update``, ``upsert``, ``delete``, ``hash``,
``extract``, ``convert``) on the resource attributes of traces, metrics and logs.

Only the resources are parsed (``partial_otlp.ResourceOnlyRequest``: the same view reads all three
request types); scopes, spans, points and records stay bytes and are written back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..attribute_actions import AttributeAction, compile_actions
from ..component import Component, ComponentConfig, ConfigError, Factory
from ..consumer import SIGNALS, Batch
from ..partial_otlp import ResourceOnlyRequest

__all__ = ["FACTORY", "ResourceProcessorConfig", "ResourceProcessor"]


@dataclass
class ResourceProcessorConfig(ComponentConfig):
    attributes: list[AttributeAction] = field(default_factory=list)  # applied in order to every resource

    def validate(self) -> None:
        if not self.attributes:
            raise ConfigError("attributes", "at least one action is required (key and action)")


class ResourceProcessor(Component):
    def __init__(self, settings, config: ResourceProcessorConfig, next_consumer):
        self._next = next_consumer
        self._apply = compile_actions(config.attributes)

    async def consume(self, batch: Batch) -> None:
        view = ResourceOnlyRequest.FromString(batch.to_bytes())
        metadata = batch.metadata
        for envelope in view.envelopes:
            self._apply(envelope.resource.attributes, metadata)
        # a new batch over the new bytes: the incoming one may be another pipeline's too
        changed = type(batch)(None, view.SerializeToString(), batch.item_count, metadata)
        await self._next.consume(changed)


def _create(settings, config: ResourceProcessorConfig, next_consumer) -> ResourceProcessor:
    return ResourceProcessor(settings, config, next_consumer)


FACTORY = Factory(
    kind="processor", type="resource", config_class=ResourceProcessorConfig, create=_create, signals=SIGNALS
)
