"""Fixtures for the shim tests: one place picks the SDK under the shims.

The shims need only opentelemetry-api; the tests run over otel_lite, or over
opentelemetry-sdk with ``SHIM_TESTS_SDK=opentelemetry-sdk`` (same names, same results).
"""

import contextvars
import os

import pytest

SDK = os.environ.get("SHIM_TESTS_SDK", "otel_lite")


def _sdk_parts():
    if SDK == "opentelemetry-sdk":
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        return TracerProvider(), SimpleSpanProcessor, InMemorySpanExporter
    import otel_lite

    return (
        otel_lite.TracerProvider(shutdown_on_exit=False),
        otel_lite.SimpleSpanProcessor,
        otel_lite.InMemorySpanExporter,
    )


class Recorder:
    """A TracerProvider exporting synchronously into memory."""

    def __init__(self):
        self.provider, processor, exporter = _sdk_parts()
        self.exporter = exporter()
        self.provider.add_span_processor(processor(self.exporter))
        self.otel_tracer = self.provider.get_tracer("tests.shims")

    def spans(self):
        return list(self.exporter.get_finished_spans())

    def by_name(self):
        return {s.name: s for s in self.exporter.get_finished_spans()}

    def shutdown(self):
        self.provider.shutdown()


def make_recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def recorder():
    rec = make_recorder()
    yield rec
    rec.shutdown()


@pytest.fixture(autouse=True)
def _isolated_context():
    """Every test starts with an empty OpenTelemetry context (no leaked span or baggage)."""
    from opentelemetry import context as context_api

    token = context_api.attach(context_api.Context())
    yield
    try:
        context_api.detach(token)
    except Exception:  # a test that leaves a scope open on purpose
        pass


def run_isolated(fn, *args):
    return contextvars.copy_context().run(fn, *args)
