import pytest

import otel_lite


@pytest.fixture
def recorder():
    """An otel_lite provider exporting synchronously into memory: (provider, tracer, exporter)."""
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    yield provider, provider.get_tracer("tests", "1.0"), exporter
    provider.shutdown()
