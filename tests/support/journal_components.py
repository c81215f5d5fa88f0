"""Test components recording their lifecycle into one shared journal (``JOURNAL``): a ``tag``
processor that adds its tag as a resource attribute (``name_by_pipeline`` names its instances),
a ``record`` exporter that keeps its batches (and raises ``fail_with``), a ``journal`` extension;
``lookup`` adds them to the built-in registry.  Used in-process and by a collector started in a
subprocess."""

from __future__ import annotations

from dataclasses import dataclass

from otel_lite.collector import registry
from otel_lite.collector.component import Component, ComponentConfig, Factory
from otel_lite.collector.consumer import Traces

JOURNAL: list[str] = []


@dataclass
class TagConfig(ComponentConfig):
    tag: str = ""


class TagProcessor(Component):
    """Adds its tag as a resource attribute (mutating the message) and forwards."""

    def __init__(self, settings, config, nxt):
        self.name = str(settings.id)  # name_by_pipeline adds "@<pipeline>" (one instance per pipeline use)
        self.tag = config.tag or str(settings.id)
        self.next = nxt

    async def start(self, host):
        JOURNAL.append(f"start {self.name}")

    async def shutdown(self):
        JOURNAL.append(f"stop {self.name}")

    async def consume(self, traces: Traces):
        for rs in traces.message.resource_spans:
            a = rs.resource.attributes.add()
            a.key, a.value.string_value = "tag", self.tag
        traces.modified()
        await self.next.consume(traces)


class RecordExporter(Component):
    def __init__(self, settings):
        self.name = str(settings.id)
        self.batches: list[Traces] = []
        self.fail_with: list[BaseException] = []
        self.host = None

    async def start(self, host):
        self.host = host
        JOURNAL.append(f"start {self.name}")

    async def shutdown(self):
        JOURNAL.append(f"stop {self.name}")

    async def consume(self, traces: Traces):
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.batches.append(traces)

    def tags(self):
        return [
            a.value.string_value
            for t in self.batches
            for rs in t.message.resource_spans
            for a in rs.resource.attributes
            if a.key == "tag"
        ]


class JournalExtension(Component):
    def __init__(self, settings):
        self.name = str(settings.id)

    async def start(self, host):
        JOURNAL.append(f"start {self.name}")

    async def shutdown(self):
        JOURNAL.append(f"stop {self.name}")


def name_by_pipeline(graph) -> None:
    """Name each tag processor of a built graph ``<id>@<pipeline>``, from the graph's labels
    (``processor tag/a (pipeline traces/one)``), so the journal tells its instances apart."""
    for label, proc in graph.processors:
        if isinstance(proc, TagProcessor):
            pid, pipeline = label.removeprefix("processor ").removesuffix(")").split(" (pipeline ")
            proc.name = f"{pid}@{pipeline}"


TEST_FACTORIES = {
    ("processor", "tag"): Factory("processor", "tag", TagConfig, lambda s, c, n: TagProcessor(s, c, n)),
    ("exporter", "record"): Factory("exporter", "record", ComponentConfig, lambda s, c, n: RecordExporter(s)),
    ("extension", "journal"): Factory("extension", "journal", ComponentConfig, lambda s, c, n: JournalExtension(s)),
}


def lookup(kind, type_name):
    return TEST_FACTORIES.get((kind, type_name)) or registry.lookup(kind, type_name)
