"""The ``forward`` connector: what one pipeline exports, the pipelines that receive from it get.

Go's ``forwardconnector``: it joins pipelines of the same signal, e.g. several receivers'
pipelines with their own processors into one shared exporting pipeline.  The graph makes one
instance per connector id and signal whose next consumer fans out (a copy each, as a receiver
fans out) to every pipeline of that signal listing it under ``receivers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..component import Component, ComponentConfig, Factory
from ..consumer import SIGNALS, Batch

__all__ = ["FACTORY", "ForwardConfig", "ForwardConnector"]


@dataclass
class ForwardConfig(ComponentConfig):
    """The forward connector has no settings."""


class ForwardConnector(Component):
    __slots__ = ("next", "signal")

    def __init__(self, settings, next_consumer):
        self.next = next_consumer
        self.signal = settings.signal

    async def consume(self, batch: Batch) -> None:
        await self.next.consume(batch)

    def queue_batching_targets(self) -> list | None:
        # the batch processor may defer to the exporters' queues behind a connector too
        from ..pipeline import queue_batching_targets

        return queue_batching_targets(self.next)


FACTORY = Factory(
    kind="connector",
    type="forward",
    config_class=ForwardConfig,
    create=lambda settings, config, next_consumer: ForwardConnector(settings, next_consumer),
    stability="beta",
    signals=SIGNALS,
)
