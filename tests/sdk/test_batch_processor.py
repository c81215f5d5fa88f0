"""BatchSpanProcessor: never blocks the application, counts what it drops,
honours its flush/shutdown/export deadlines and the OTEL_BSP_* variables."""

from __future__ import annotations

import os
import threading
import time

import pytest

import otel_lite
from otel_lite.export import SpanExporter, SpanExportResult


class BlockingExporter(SpanExporter):
    """Holds every export until ``release`` is set; records batches and the deadline it was given."""

    def __init__(self):
        self.release = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list] = []
        self.timeouts: list = []
        self.shutdown_called = False

    def export(self, spans, timeout_millis=None):
        self.timeouts.append(timeout_millis)
        self.entered.set()
        self.release.wait(30)
        self.batches.append(list(spans))
        return SpanExportResult.SUCCESS

    def shutdown(self, timeout_millis=None):
        self.shutdown_called = True
        self.shutdown_timeout = timeout_millis

    @property
    def exported(self) -> int:
        return sum(len(b) for b in self.batches)


@pytest.fixture(autouse=True)
def clean_bsp_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("OTEL_BSP_"):
            monkeypatch.delenv(name)


def provider_with(processor):
    provider = otel_lite.TracerProvider(shutdown_on_exit=False, sampler=otel_lite.ALWAYS_ON)
    provider.add_span_processor(processor)
    return provider, provider.get_tracer("bsp-test")


def test_full_queue_drops_and_counts_without_blocking():
    exporter = BlockingExporter()
    processor = otel_lite.BatchSpanProcessor(
        exporter, max_queue_size=8, max_export_batch_size=4, schedule_delay_millis=10
    )
    provider, tracer = provider_with(processor)
    try:
        for _ in range(4):  # one batch goes to the (blocked) exporter
            tracer.start_span("warmup").end()
        assert exporter.entered.wait(10)
        started = time.monotonic()
        for i in range(500):
            tracer.start_span(f"s{i}").end()
        assert time.monotonic() - started < 5  # did not wait for the exporter
        stats = provider.stats()
        assert stats["spans_dropped"] >= 500 - 8
        assert stats["spans_queued"] <= 8
    finally:
        exporter.release.set()
    assert provider.force_flush(10_000)
    stats = provider.stats()
    assert stats["spans_exported"] == exporter.exported
    assert stats["spans_exported"] + stats["spans_dropped"] == 504
    assert stats["spans_queued"] == 0
    provider.shutdown()


def test_force_flush_honours_its_timeout_with_a_slow_exporter():
    exporter = BlockingExporter()
    provider, tracer = provider_with(otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=10_000))
    tracer.start_span("slow").end()
    started = time.monotonic()
    try:
        assert provider.force_flush(100) is False
        assert time.monotonic() - started < 5
    finally:
        exporter.release.set()
    assert provider.force_flush(10_000) is True
    assert exporter.exported == 1
    provider.shutdown()


def test_force_flush_exports_everything_queued():
    exporter = otel_lite.InMemorySpanExporter()
    provider, tracer = provider_with(
        otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=60_000, max_export_batch_size=7)
    )
    for i in range(50):
        tracer.start_span(f"s{i}").end()
    assert provider.force_flush(10_000)
    assert [s.name for s in exporter.get_finished_spans()] == [f"s{i}" for i in range(50)]
    provider.shutdown()


def test_shutdown_honours_its_deadline_with_a_stuck_exporter():
    exporter = BlockingExporter()
    provider, tracer = provider_with(otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=10))
    tracer.start_span("stuck").end()
    assert exporter.entered.wait(10)
    started = time.monotonic()
    try:
        assert provider.shutdown(200) is False  # could not drain in time
        assert time.monotonic() - started < 5
        assert exporter.shutdown_called
    finally:
        exporter.release.set()


def test_shutdown_exports_what_is_queued():
    exporter = otel_lite.InMemorySpanExporter()
    provider, tracer = provider_with(otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    for i in range(10):
        tracer.start_span(f"s{i}").end()
    assert provider.shutdown(10_000)
    assert len(exporter.get_finished_spans()) == 10
    tracer.start_span("after").end()  # ignored, not raised
    assert len(exporter.get_finished_spans()) == 10


def test_spans_ending_after_the_processor_shut_down_are_counted_as_dropped():
    exporter = otel_lite.InMemorySpanExporter()
    processor = otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=60_000)
    _provider, tracer = provider_with(processor)
    late = tracer.start_span("late")  # started while running, ends after the processor stopped
    assert processor.shutdown(10_000)
    late.end()
    assert processor.stats()["spans_dropped"] == 1
    assert len(processor._queue) == 0 and exporter.get_finished_spans() == ()


def test_unsampled_spans_are_not_queued():
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(shutdown_on_exit=False, sampler=otel_lite.ALWAYS_OFF)
    provider.add_span_processor(otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=10))
    provider.get_tracer("t").start_span("nope").end()
    assert provider.force_flush(10_000)
    assert exporter.get_finished_spans() == ()
    provider.shutdown()


def test_bsp_environment_variables(monkeypatch):
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10")
    monkeypatch.setenv("OTEL_BSP_EXPORT_TIMEOUT", "1234")
    processor = otel_lite.BatchSpanProcessor(otel_lite.InMemorySpanExporter())
    assert (
        processor.max_queue_size,
        processor.schedule_delay_millis,
        processor.max_export_batch_size,
        processor.export_timeout_millis,
    ) == (100, 250, 10, 1234)
    processor.shutdown()
    # arguments win over the environment
    processor = otel_lite.BatchSpanProcessor(
        otel_lite.InMemorySpanExporter(), max_queue_size=50, max_export_batch_size=5
    )
    assert (processor.max_queue_size, processor.max_export_batch_size) == (50, 5)
    processor.shutdown()


def test_bsp_garbage_environment_falls_back_to_defaults(monkeypatch):
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "lots")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "-1")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "")
    monkeypatch.setenv("OTEL_BSP_EXPORT_TIMEOUT", "1.5s")
    processor = otel_lite.BatchSpanProcessor(otel_lite.InMemorySpanExporter())
    assert (
        processor.max_queue_size,
        processor.schedule_delay_millis,
        processor.max_export_batch_size,
        processor.export_timeout_millis,
    ) == (2048, 5000, 512, 30000)
    processor.shutdown()


def test_export_timeout_reaches_deadline_aware_exporters(monkeypatch):
    monkeypatch.setenv("OTEL_BSP_EXPORT_TIMEOUT", "1234")
    exporter = BlockingExporter()
    exporter.release.set()
    provider, tracer = provider_with(otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=10))
    tracer.start_span("x").end()
    assert provider.force_flush(10_000)
    assert exporter.timeouts == [1234]
    provider.shutdown()


@pytest.mark.parametrize("processor", ["batch", "simple"])
def test_timeout_millis_goes_to_span_exporters_and_not_to_other_objects(processor):
    """The keyword is declared by the SpanExporter interface: its subclasses get it in export and
    shutdown; an object that is not one (an opentelemetry-sdk exporter) is called without it."""

    class Plain:  # export(spans) / shutdown() only: a TypeError would fail the export
        def __init__(self):
            self.exported, self.shut = 0, False

        def export(self, spans):
            self.exported += len(spans)

        def shutdown(self):
            self.shut = True

    ours, plain = BlockingExporter(), Plain()
    ours.release.set()
    make = (
        (lambda e: otel_lite.BatchSpanProcessor(e, schedule_delay_millis=10, export_timeout_millis=4321))
        if processor == "batch"
        else otel_lite.SimpleSpanProcessor
    )
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(make(ours))
    provider.add_span_processor(make(plain))
    provider.get_tracer("t").start_span("x").end()
    assert provider.force_flush(10_000)
    assert ours.exported == plain.exported == 1
    assert ours.timeouts == ([4321] if processor == "batch" else [None])
    assert provider.shutdown(5000)
    assert plain.shut and ours.shutdown_called and 0 < ours.shutdown_timeout <= 5000


def test_exporters_without_timeout_and_failing_exporters_are_handled():
    class Legacy:
        def __init__(self):
            self.calls = 0

        def export(self, spans):  # no timeout_millis keyword, raises
            self.calls += 1
            raise RuntimeError("boom")

        def shutdown(self):
            pass

    exporter = Legacy()
    provider, tracer = provider_with(otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=10))
    tracer.start_span("x").end()
    assert provider.force_flush(10_000)
    assert exporter.calls == 1
    assert provider.stats()["spans_export_failed"] == 1
    provider.shutdown()


def test_invalid_arguments_raise():
    with pytest.raises(ValueError):
        otel_lite.BatchSpanProcessor(otel_lite.InMemorySpanExporter(), max_queue_size=0)
    with pytest.raises(ValueError):
        otel_lite.BatchSpanProcessor(otel_lite.InMemorySpanExporter(), max_queue_size=10, max_export_batch_size=20)


def test_count_value_reads_an_itertools_count_without_advancing_it():
    import itertools

    from otel_lite.processors import count_value

    counter = itertools.count()
    assert count_value(counter) == 0
    for _ in range(3):
        next(counter)
    assert count_value(counter) == count_value(counter) == 3
    assert count_value(itertools.count(2**70)) == 2**70
