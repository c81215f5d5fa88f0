"""After os.fork() the child exports its own spans (its own batch worker,
its own gRPC channel / HTTP connections) and none of the parent's."""

from __future__ import annotations

import os

import pytest

import otel_lite
from otel_lite.export.otlp_grpc import OTLPSpanExporter as GrpcExporter
from otel_lite.export.otlp_http import OTLPSpanExporter as HttpExporter

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _exporter(kind, sink):
    if kind == "grpc":
        return GrpcExporter("http://" + sink.grpc_endpoint, timeout=10)
    return HttpExporter(sink.http_endpoint + "/v1/traces", timeout=10)


def _run_child(body) -> int:
    """Run ``body()`` in a forked child; its return value (0 = ok) is the exit code."""
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            code = body()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("kind", ["grpc", "http"])
def test_forked_child_exports_its_own_spans(kind, otlp_sink):
    exporter = _exporter(kind, otlp_sink)
    provider = otel_lite.TracerProvider(shutdown_on_exit=False, sampler=otel_lite.ALWAYS_ON)
    # exports happen only on force_flush, so what is queued at fork time is known
    provider.add_span_processor(otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    tracer = provider.get_tracer("fork-test")
    with tracer.start_as_current_span("parent-before"):
        pass
    assert provider.force_flush(10_000)  # the parent's channel/connection is open and used
    assert otlp_sink.wait_for_spans(1, timeout=10)
    # queued but not yet exported at fork time: stays the parent's
    with tracer.start_as_current_span("parent-queued"):
        pass

    def child() -> int:
        with tracer.start_as_current_span("child", attributes={"pid": os.getpid()}):
            pass
        if not provider.force_flush(10_000):
            return 3
        return 0 if otlp_sink_accepted(exporter) else 4

    assert _run_child(child) == 0
    assert otlp_sink.wait_for_spans(2, timeout=10)
    names = [s.name for s in otlp_sink.spans()]
    assert names.count("child") == 1 and "parent-queued" not in names
    child_span = next(s for s in otlp_sink.spans() if s.name == "child")
    assert child_span.attributes[0].value.int_value != os.getpid()
    # the parent keeps working after the fork
    assert provider.force_flush(10_000)
    assert otlp_sink.wait_for_spans(3, timeout=10)
    assert sorted(s.name for s in otlp_sink.spans()) == ["child", "parent-before", "parent-queued"]
    provider.shutdown()


def otlp_sink_accepted(exporter) -> bool:
    return exporter.stats()["spans_failed"] == 0


def test_multiprocessing_fork_children_export(otlp_sink):
    import multiprocessing

    exporter = _exporter("http", otlp_sink)
    provider = otel_lite.TracerProvider(shutdown_on_exit=False, sampler=otel_lite.ALWAYS_ON)
    provider.add_span_processor(otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=20))
    tracer = provider.get_tracer("mp-test")

    def work(index: int) -> None:
        with tracer.start_as_current_span(f"worker-{index}"):
            pass
        ok = provider.force_flush(10_000) and exporter.stats()["spans_failed"] == 0
        os._exit(0 if ok else 5)

    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=work, args=(i,)) for i in range(3)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(30)
    assert [p.exitcode for p in workers] == [0, 0, 0]
    assert otlp_sink.wait_for_spans(3, timeout=10)
    assert sorted(s.name for s in otlp_sink.spans()) == ["worker-0", "worker-1", "worker-2"]
    provider.shutdown()
