"""Span limits and resources from arguments and OTEL_* variables."""

import logging

import otel_lite
from otel_lite import Resource, SpanLimits


def _provider(**kw):
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(shutdown_on_exit=False, **kw)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    return provider.get_tracer("t"), exporter


def test_limits_drop_and_count():
    limits = SpanLimits(
        max_span_attributes=2, max_events=1, max_links=1, max_event_attributes=1, max_span_attribute_length=3
    )
    tracer, exporter = _provider(span_limits=limits)
    from opentelemetry.trace import Link, SpanContext

    links = [Link(SpanContext(1, i + 1, False)) for i in range(3)]
    span = tracer.start_span("s", attributes={"a": "long value", "b": 2, "c": 3}, links=links)
    span.set_attribute("d", 4)
    span.add_event("e1", {"x": 1, "y": 2})
    span.add_event("e2")
    span.end()
    done = exporter.get_finished_spans()[0]
    assert dict(done.attributes) == {"c": 3, "d": 4}
    assert done.dropped_attributes == 2
    assert [e.name for e in done.events] == ["e2"] and done.dropped_events == 1
    assert len(done.links) == 1 and done.dropped_links == 2


def test_value_length_limit_truncates_strings():
    tracer, exporter = _provider(span_limits=SpanLimits(max_span_attribute_length=4))
    tracer.start_span("s", attributes={"a": "abcdefgh", "seq": ["123456"]}).end()
    attrs = exporter.get_finished_spans()[0].attributes
    assert attrs["a"] == "abcd" and attrs["seq"] == ("1234",)


def test_limits_from_env(monkeypatch):
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "3")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "1")
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "5")
    monkeypatch.setenv("OTEL_SPAN_LINK_COUNT_LIMIT", "")  # empty means unset
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "10")
    limits = SpanLimits()
    assert limits.max_span_attributes == 1 and limits.max_event_attributes == 3
    assert limits.max_events == 5 and limits.max_links == 128
    assert limits.max_span_attribute_length == 10


def test_malformed_limit_warns_and_is_ignored(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "lots")
    with caplog.at_level(logging.WARNING):
        limits = SpanLimits()
    assert limits.max_span_attributes == 128
    assert "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT" in caplog.text


def test_resource_from_env(monkeypatch):
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,team=a%20b,broken, deployment.environment=prod"
    )
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    resource = Resource.create({"extra": 1})
    attrs = resource.attributes
    assert attrs["service.name"] == "checkout"  # OTEL_SERVICE_NAME wins
    assert attrs["team"] == "a b" and attrs["deployment.environment"] == "prod" and attrs["extra"] == 1
    assert attrs["telemetry.sdk.language"] == "python" and attrs["service.instance.id"]


def test_resource_default_service_name(monkeypatch):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert Resource.create().attributes["service.name"].startswith("unknown_service:")


def test_resource_merge_rules():
    a = Resource({"k": 1, "x": 1}, "https://s/1")
    b = Resource({"k": 2}, "")
    merged = a.merge(b)
    assert dict(merged.attributes) == {"k": 2, "x": 1} and merged.schema_url == "https://s/1"
    conflict = a.merge(Resource({"k": 3}, "https://s/2"))
    assert conflict is a
    assert Resource({"a": 1}) == Resource({"a": 1}) and hash(Resource({"a": 1})) == hash(Resource({"a": 1}))


def test_configure_arguments_win_over_env(monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "env-name")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.configure(
        service_name="arg-name", sampler="always_on", exporter=exporter, schedule_delay_millis=10, set_global=False
    )
    try:
        assert provider.resource.attributes["service.name"] == "arg-name"
        provider.get_tracer("t").start_span("x").end()
        assert provider.force_flush(5000)
        assert [s.name for s in exporter.get_finished_spans()] == ["x"]
    finally:
        provider.shutdown()
