"""``sending_queue.batch``: requests merge into batches when the queue sends them
(Go's exporter-side batching), in memory and in the persistent queue; the caller is
answered on enqueue unless ``wait_for_result``."""

from __future__ import annotations

import asyncio

import pytest

from otel_lite.collector.batching import QueueBatchConfig, split_to_size
from otel_lite.collector.consumer import PermanentError
from otel_lite.collector.exporters.queue import MemoryQueue
from otel_lite.collector.pipeline import Host
from tests.support.scripted_exporter import build, sent, wait_until

from .exporter_util import make_traces


def names(traces) -> list[str]:
    return [s.name for rs in traces.message.resource_spans for ss in rs.scope_spans for s in ss.spans]


def test_go_defaults():
    cfg = QueueBatchConfig()
    assert (cfg.flush_timeout, cfg.min_size, cfg.max_size, cfg.sizer) == (0.2, 8192, 0, "items")


def test_requests_merge_until_min_size_and_callers_do_not_wait():
    async def main():
        exp, tel = build({"sending_queue": {"batch": {"min_size": 10, "flush_timeout": "10s"}}})
        await exp.start(Host())
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i in range(4):  # 4 x 3 spans: the 4th passes min_size
            await exp.consume(make_traces(3, i))
        assert loop.time() - t0 < 0.5  # acknowledged on enqueue, not after the batch
        await wait_until(lambda: exp.delivered)
        assert [t.span_count for t in exp.delivered] == [12]
        assert names(exp.delivered[0]) == [f"s{i}-{j}" for i in range(4) for j in range(3)]
        await exp.shutdown()
        assert sent(tel) == 12

    asyncio.run(main())


def test_flush_timeout_sends_a_batch_that_does_not_fill():
    async def main():
        exp, _ = build({"sending_queue": {"batch": {"min_size": 1000, "flush_timeout": "50ms"}}})
        await exp.start(Host())
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await exp.consume(make_traces(2, 0))
        await exp.consume(make_traces(1, 1))
        await wait_until(lambda: exp.delivered)
        assert loop.time() - t0 >= 0.04
        assert [t.span_count for t in exp.delivered] == [3]
        await exp.shutdown()

    asyncio.run(main())


def test_max_size_starts_the_next_batch_and_splits_an_oversized_request():
    async def main():
        gate = asyncio.Event()
        exp, _ = build(
            {"sending_queue": {"num_consumers": 1, "batch": {"min_size": 5, "max_size": 6, "flush_timeout": "20ms"}}},
            gate=gate,
        )
        await exp.start(Host())
        await exp.consume(make_traces(4, 0))
        await exp.consume(make_traces(4, 1))  # 4 + 4 > 6: starts the next batch
        await exp.consume(make_traces(15, 2))  # larger than max_size alone: split in 6, 6, 3
        gate.set()
        await wait_until(lambda: sum(t.span_count for t in exp.delivered) == 23)
        sizes = [t.span_count for t in exp.delivered]
        assert max(sizes) <= 6 and sizes[0] == 4
        assert sorted(n for t in exp.delivered for n in names(t)) == sorted(
            [f"s0-{j}" for j in range(4)] + [f"s1-{j}" for j in range(4)] + [f"s2-{j}" for j in range(15)]
        )
        await exp.shutdown()

    asyncio.run(main())


def test_requests_sizer_counts_requests():
    async def main():
        exp, _ = build({"sending_queue": {"batch": {"sizer": "requests", "min_size": 3, "flush_timeout": "10s"}}})
        await exp.start(Host())
        for i in range(3):
            await exp.consume(make_traces(7, i))
        await wait_until(lambda: exp.delivered)
        assert [t.span_count for t in exp.delivered] == [21]
        await exp.shutdown()

    asyncio.run(main())


def test_bytes_sizer_splits_by_serialized_size():
    big = make_traces(100)
    size = len(big.to_bytes())
    parts = split_to_size(big, size // 4, "bytes")
    assert len(parts) >= 4 and sum(p.span_count for p in parts) == 100
    assert all(len(p.to_bytes()) <= size // 4 + 200 for p in parts)
    assert split_to_size(big, size // 4, "requests") == [big]


def test_wait_for_result_with_batching_returns_after_the_batch_is_sent():
    async def main():
        gate = asyncio.Event()
        exp, _ = build(
            {"sending_queue": {"wait_for_result": True, "batch": {"min_size": 100, "flush_timeout": "30ms"}}},
            script=[PermanentError("rejected")],
            gate=gate,
        )
        await exp.start(Host())
        callers = [asyncio.ensure_future(exp.consume(make_traces(2, i))) for i in range(2)]
        await asyncio.sleep(0.1)
        assert not any(c.done() for c in callers)  # waiting for the (gated) send
        gate.set()
        results = await asyncio.gather(*callers, return_exceptions=True)
        assert all(isinstance(r, PermanentError) for r in results), results  # both in one failed batch
        await exp.shutdown()

    asyncio.run(main())


def test_memory_queue_capacity_in_items():
    async def main():
        q = MemoryQueue(10, lambda t: t.span_count)
        await q.put(make_traces(6))
        with pytest.raises(Exception, match="sending queue is full"):
            await q.put(make_traces(5))
        with pytest.raises(PermanentError, match="larger than the sending queue"):
            await q.put(make_traces(11))
        entry = await q.get()
        assert q.size() == 6  # still counted while being sent
        await q.ack(entry)
        assert q.size() == 0
        assert await q.get(0.01) is None  # a timeout loses nothing and returns None

    asyncio.run(main())


def test_batch_processor_settings_reach_the_exporters_queue_through_a_real_pipeline(tmp_path):
    """otlp receiver -> batch -> otlp_grpc with a persistent queue: the processor passes each
    request on (the caller is answered after the SQLite commit) and the exporter's queue
    batches with the processor's send_batch_size / timeout."""
    from otel_lite.collector.config import build_config, parse_yaml
    from otel_lite.collector.service import Collector
    from tests.support.otlp_sink import OtlpSink

    with OtlpSink(http=False) as sink:
        text = f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:0"}}}}}}
processors:
  batch: {{send_batch_size: 30, timeout: 5s}}
exporters:
  otlp_grpc:
    endpoint: "{sink.grpc_endpoint}"
    tls: {{insecure: true}}
    sending_queue: {{storage: file_storage}}
extensions:
  file_storage: {{directory: "{tmp_path}"}}
service:
  extensions: [file_storage]
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [otlp_grpc]}}
  telemetry: {{metrics: {{level: none}}}}
"""

        async def main():
            collector = Collector(build_config(parse_yaml(text)))
            await collector.start()
            try:
                proc = collector.graph.get("processor", "batch")
                exporter = collector.graph.get("exporter", "otlp_grpc")
                assert proc.passes_through
                assert (exporter.batch_cfg.min_size, exporter.batch_cfg.flush_timeout) == (30, 5.0)
                import grpc

                receiver = collector.graph.get("receiver", "otlp")
                async with grpc.aio.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
                    export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
                    for i in range(3):  # 3 x 10 spans = min_size: one batch, long before the 5 s timeout
                        await export(make_traces(10, i).to_bytes(), timeout=10)
                assert await asyncio.to_thread(sink.wait_for_spans, 30, 4)
                assert len(sink.requests) == 1
            finally:
                await collector.shutdown()

        asyncio.run(main())
        assert sorted(s.name for s in sink.spans()) == sorted(f"s{i}-{j}" for i in range(3) for j in range(10))
