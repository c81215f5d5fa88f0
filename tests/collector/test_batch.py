"""Batch processor: size/timeout triggers, byte-level merging, split, error propagation, shutdown."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.component import ComponentID, ConfigError, CreateSettings
from otel_lite.collector.consumer import RetryableError, Traces
from otel_lite.collector.processors import batch as batch_mod
from otel_lite.collector.processors.batch import BatchConfig, split_batch
from otel_lite.collector.telemetry import Telemetry


class Capture:
    """Downstream consumer recording what it gets; can be told to fail."""

    def __init__(self):
        self.received: list[Traces] = []
        self.error: Exception | None = None
        self.delay = 0.0

    async def consume(self, traces: Traces) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.received.append(traces)

    def span_names(self) -> list[str]:
        names = []
        for t in self.received:
            msg = ExportTraceServiceRequest.FromString(t.to_bytes())
            for rs in msg.resource_spans:
                for ss in rs.scope_spans:
                    names.extend(s.name for s in ss.spans)
        return names


def make_request(tag: str, n: int, service: str = "svc", scopes: int = 1) -> Traces:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", service
    per_scope = n // scopes
    for s in range(scopes):
        ss = rs.scope_spans.add()
        ss.scope.name = f"scope{s}"
        count = per_scope if s < scopes - 1 else n - per_scope * (scopes - 1)
        for i in range(count):
            span = ss.spans.add()
            span.name = f"{tag}-{s}-{i}"
            span.trace_id = bytes([1] * 16)
            span.span_id = (len(ss.spans)).to_bytes(8, "big")
    return Traces.from_bytes(req.SerializeToString())


def make_processor(next_consumer, telemetry=None, **cfg):
    telemetry = telemetry or Telemetry()
    config = BatchConfig.from_mapping(cfg)
    settings = CreateSettings(ComponentID("batch"), "processor", telemetry)
    return batch_mod.FACTORY.create(settings, config, next_consumer), telemetry


def metric(telemetry, name, **labels):
    return telemetry.registry.get_sample_value(name, {"processor": "batch", **labels}) or 0.0


def test_size_trigger_merges_bytes_into_one_request():
    async def main():
        sink = Capture()
        proc, tel = make_processor(sink, send_batch_size=10, timeout="10s")
        await proc.start(None)
        # 4 requests of 3 spans: the 4th crosses the trigger, all 4 go in one batch
        await asyncio.wait_for(asyncio.gather(*(proc.consume(make_request(f"r{i}", 3)) for i in range(4))), 10)
        await wait_for(lambda: sink.received)
        assert len(sink.received) == 1
        assert sink.received[0].span_count == 12
        names = sink.span_names()
        assert sorted(names) == sorted(f"r{i}-0-{j}" for i in range(4) for j in range(3))
        assert metric(tel, "otelcol_processor_batch_batch_size_trigger_send_total") == 1
        assert metric(tel, "otelcol_processor_batch_timeout_trigger_send_total") == 0
        assert metric(tel, "otelcol_processor_batch_batch_send_size_sum") == 12
        await proc.shutdown()

    asyncio.run(main())


async def wait_for(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def test_timeout_trigger_sends_small_batch_and_callers_are_answered_at_once():
    async def main():
        sink = Capture()
        proc, tel = make_processor(sink, send_batch_size=1000, timeout="30ms")
        await proc.start(None)
        # acknowledged on acceptance: both calls return before the batch is due
        await asyncio.wait_for(
            asyncio.gather(proc.consume(make_request("a", 2)), proc.consume(make_request("b", 1))), 0.02
        )
        assert not sink.received
        await wait_for(lambda: sink.received)
        assert [t.span_count for t in sink.received] == [3]
        assert sorted(sink.span_names()) == ["a-0-0", "a-0-1", "b-0-0"]
        assert metric(tel, "otelcol_processor_batch_timeout_trigger_send_total") == 1
        await proc.shutdown()

    asyncio.run(main())


def test_downstream_error_after_acknowledgement_is_counted_and_logged_with_totals(caplog):
    async def main():
        sink = Capture()
        sink.error = RetryableError("exporter queue is full")
        proc, tel = make_processor(sink, send_batch_size=4, timeout="10s")
        await asyncio.wait_for(
            asyncio.gather(proc.consume(make_request("a", 2)), proc.consume(make_request("b", 2))), 10
        )
        await wait_for(lambda: metric(tel, "otelcol_processor_batch_dropped_spans_total") == 4)
        # recovered downstream: the next batch is delivered
        sink.error = None
        await proc.consume(make_request("c", 4))
        await wait_for(lambda: sink.received)
        assert sink.span_names() == [f"c-0-{i}" for i in range(4)]
        await proc.shutdown()
        assert proc.undelivered() == (4, 0)

    with caplog.at_level("ERROR"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if "dropped_spans=4" in r.getMessage()]
    assert lines and "exporter queue is full" in lines[0] and "dropped_spans_total=4" in lines[0]


def test_callers_wait_only_when_the_exporter_falls_behind():
    async def main():
        sink = Capture()
        sink.delay = 0.2
        proc, _ = make_processor(sink, send_batch_size=1, timeout="10s")
        # one batch is being exported, _MAX_PENDING more wait: the next caller waits for room
        for i in range(1 + batch_mod._MAX_PENDING):
            await asyncio.wait_for(proc.consume(make_request(f"r{i}", 1)), 1)
            await asyncio.sleep(0)
        blocked = asyncio.ensure_future(proc.consume(make_request("late", 1)))
        await asyncio.sleep(0.05)
        assert not blocked.done()
        await asyncio.wait_for(blocked, 10)
        await proc.shutdown()
        assert len(sink.span_names()) == 2 + batch_mod._MAX_PENDING

    asyncio.run(main())


class QueuedExporter(Capture):
    """A downstream that batches in its own sending queue (as exporters with a queue do)."""

    def __init__(self):
        super().__init__()
        self.adopted = None

    def queue_batching_targets(self):
        return [self]

    def adopt_batching(self, cfg):
        self.adopted = cfg


def test_batching_moves_into_the_sending_queues_when_every_path_has_one():
    from otel_lite.collector.pipeline import FanOut

    async def main():
        a, b = QueuedExporter(), QueuedExporter()
        proc, _ = make_processor(FanOut([a, b]), send_batch_size=100, send_batch_max_size=200, timeout="50ms")
        assert proc.passes_through
        for exp in (a, b):
            assert (exp.adopted.min_size, exp.adopted.max_size, exp.adopted.flush_timeout, exp.adopted.sizer) == (
                100,
                200,
                0.05,
                "items",
            )
        await proc.consume(make_request("x", 3))  # handed on at once, no waiting here
        assert a.span_names() == b.span_names() == ["x-0-0", "x-0-1", "x-0-2"]
        await proc.shutdown()

        # a path without a queue (here: a plain consumer) keeps batching in the processor
        c = QueuedExporter()
        proc, _ = make_processor(FanOut([c, Capture()]), send_batch_size=100, timeout="50ms")
        assert not proc.passes_through and c.adopted is None
        await proc.shutdown()

    asyncio.run(main())


def test_shutdown_flushes_pending_batch():
    async def main():
        sink = Capture()
        proc, _ = make_processor(sink, send_batch_size=1000, timeout="1h")
        await proc.start(None)
        waiter = asyncio.ensure_future(proc.consume(make_request("p", 5)))
        await asyncio.sleep(0)  # the request is now pending in the batch
        assert not sink.received
        await asyncio.wait_for(proc.shutdown(), 10)
        await asyncio.wait_for(waiter, 10)
        assert sink.span_names() == [f"p-0-{i}" for i in range(5)]
        await proc.shutdown()  # twice is safe

    asyncio.run(main())


def test_shutdown_without_start_is_safe():
    async def main():
        proc, _ = make_processor(Capture())
        await proc.shutdown()
        await proc.shutdown()

    asyncio.run(main())


def test_timeout_zero_sends_immediately_and_splits_by_max_size():
    async def main():
        sink = Capture()
        proc, _ = make_processor(sink, send_batch_size=0, timeout="0s", send_batch_max_size=4)
        await asyncio.wait_for(proc.consume(make_request("x", 10, scopes=3)), 10)
        sizes = [t.span_count for t in sink.received]
        assert sizes == [4, 4, 2]
        assert sorted(sink.span_names()) == sorted(make_names("x", 10, 3))

    asyncio.run(main())


def make_names(tag, n, scopes):
    per = n // scopes
    out = []
    for s in range(scopes):
        count = per if s < scopes - 1 else n - per * (scopes - 1)
        out.extend(f"{tag}-{s}-{i}" for i in range(count))
    return out


def test_split_keeps_resource_and_scope_grouping():
    req = ExportTraceServiceRequest()
    for r in range(2):
        rs = req.resource_spans.add()
        rs.schema_url = f"schema{r}"
        kv = rs.resource.attributes.add()
        kv.key, kv.value.string_value = "service.name", f"svc{r}"
        for s in range(2):
            ss = rs.scope_spans.add()
            ss.scope.name = f"lib{r}{s}"
            for i in range(3):
                ss.spans.add().name = f"{r}{s}{i}"
    parts = split_batch(Traces(req), 5)
    assert [p.span_count for p in parts] == [5, 5, 2]
    seen = []
    for p in parts:
        msg = ExportTraceServiceRequest.FromString(p.to_bytes())
        assert p.span_count == sum(len(ss.spans) for rs in msg.resource_spans for ss in rs.scope_spans)
        for rs in msg.resource_spans:
            svc = rs.resource.attributes[0].value.string_value
            for ss in rs.scope_spans:
                for span in ss.spans:
                    # every span still sits under its own resource and scope
                    assert svc == f"svc{span.name[0]}" and rs.schema_url == f"schema{span.name[0]}"
                    assert ss.scope.name == f"lib{span.name[:2]}"
                    seen.append(span.name)
    assert seen == [f"{r}{s}{i}" for r in range(2) for s in range(2) for i in range(3)]


def test_batched_send_split_by_max_size():
    async def main():
        sink = Capture()
        proc, _ = make_processor(sink, send_batch_size=6, send_batch_max_size=8, timeout="10s")
        await asyncio.wait_for(
            asyncio.gather(proc.consume(make_request("a", 5)), proc.consume(make_request("b", 5))), 10
        )
        await proc.shutdown()
        assert [t.span_count for t in sink.received] == [8, 2]
        assert sorted(sink.span_names()) == sorted([f"a-0-{i}" for i in range(5)] + [f"b-0-{i}" for i in range(5)])

    asyncio.run(main())


@pytest.mark.parametrize(
    "cfg,key",
    [
        ({"send_batch_size": 100, "send_batch_max_size": 50}, "send_batch_max_size"),
        ({"metadata_keys": ["tenant"]}, "metadata_keys"),
        ({"send_batch_size": -1}, "send_batch_size"),
        ({"timeout": "soon"}, "timeout"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_invalid_config_names_the_key(cfg, key):
    with pytest.raises(ConfigError) as e:
        BatchConfig.from_mapping(cfg, "processors.batch")
    assert e.value.path == f"processors.batch.{key}"


def test_defaults_match_go():
    cfg = BatchConfig.from_mapping({})
    assert (cfg.send_batch_size, cfg.timeout, cfg.send_batch_max_size) == (8192, 0.2, 0)
