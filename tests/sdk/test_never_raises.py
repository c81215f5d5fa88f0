"""Whatever the application hands to the SDK, and whatever a plug-in does,
tracing never raises into application code."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

import otel_lite

anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.binary()
    | st.builds(object)
    | st.complex_numbers(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=4)
        | st.sets(st.integers(), max_size=3)
    ),
    max_leaves=12,
)


def _provider(**kw):
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(shutdown_on_exit=False, **kw)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    return provider.get_tracer("t"), exporter


@settings(max_examples=200, deadline=None)
@given(
    key=st.text() | st.none() | st.integers(),
    value=anything,
    attrs=st.dictionaries(st.text() | st.integers(), anything, max_size=5),
)
def test_any_attribute_value(key, value, attrs):
    tracer, exporter = _provider(span_limits=otel_lite.SpanLimits(max_span_attribute_length=16))
    with tracer.start_as_current_span("s", attributes=attrs) as span:
        span.set_attribute(key, value)
        span.set_attributes({key: value} if key is not None else {})
        span.add_event("e", attrs)
    done = exporter.get_finished_spans()[-1]
    for v in done.attributes.values():
        if isinstance(v, str):
            assert len(v) <= 16
        if isinstance(v, float) and not math.isnan(v):
            assert v == v


def test_enormous_values_are_truncated_by_limits():
    tracer, exporter = _provider(span_limits=otel_lite.SpanLimits(max_span_attribute_length=1000))
    with tracer.start_as_current_span("big") as span:
        span.set_attribute("blob", "x" * 10_000_000)
    assert len(exporter.get_finished_spans()[0].attributes["blob"]) == 1000


def test_failing_sampler_does_not_raise():
    class Broken(otel_lite.Sampler):
        def should_sample(self, *args, **kwargs):
            raise RuntimeError("sampler bug")

    tracer, _ = _provider(sampler=Broken())
    with tracer.start_as_current_span("s") as span:
        span.set_attribute("a", 1)
    assert not span.is_recording()


def test_failing_exporter_does_not_raise():
    class Broken(otel_lite.SpanExporter):
        def export(self, spans, timeout_millis=None):
            raise RuntimeError("exporter bug")

    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(Broken()))
    batch = otel_lite.BatchSpanProcessor(Broken(), schedule_delay_millis=10)
    provider.add_span_processor(batch)
    for _ in range(5):
        with provider.get_tracer("t").start_as_current_span("s"):
            pass
    assert provider.force_flush(5000)
    stats = provider.stats()
    assert stats["spans_export_failed"] == 10 and stats["spans_exported"] == 0
    provider.shutdown()


def test_exception_with_broken_str_is_recorded():
    class Weird(Exception):
        def __str__(self):
            raise ValueError("no str for you")

    tracer, exporter = _provider()
    span = tracer.start_span("s")
    try:
        raise Weird()
    except Weird as exc:
        span.record_exception(exc)
    span.end()
    attrs = exporter.get_finished_spans()[0].events[0].attributes
    assert attrs["exception.type"].endswith("Weird")
