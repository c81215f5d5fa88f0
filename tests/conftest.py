import pytest

from tests.support.otlp_sink import OtlpSink


@pytest.fixture
def otlp_sink():
    """A real OTLP receiver (gRPC + HTTP) on free loopback ports."""
    with OtlpSink() as sink:
        yield sink
