"""The OTTL condition subset on real OTLP messages: Go's precedence and comparison rules, literals and
enums, each context's paths, the converters, and clear errors for what is not there."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_lite.collector.attribute_actions import set_any
from otel_lite.collector.ottl import OTTLError, compile_condition


def _with(message, **attributes):
    for key, value in attributes.items():
        set_any(message.attributes.add(key=key).value, value)
    return message


RESOURCE = _with(Resource(), **{"service.name": "checkout", "k8s.pod.name": "checkout-7d9"})
SCOPE = InstrumentationScope(name="opentelemetry.instrumentation.flask", version="0.50b0")
SPAN = _with(
    Span(name="GET /cart", kind=2, trace_id=bytes.fromhex("0af7651916cd43dd8448eb211c80319c"), span_id=b"\x01" * 8),
    **{
        "http.status_code": 503,
        "http.route": "/cart",
        "ratio": 0.25,
        "cached": False,
        "tags": ["a", "b"],
        "db": {"system": "redis"},
    },
)
SPAN.status.code = 2


def holds(text: str, context: str = "span", **item) -> bool:
    return compile_condition(text, context)({"span": SPAN, "resource": RESOURCE, "scope": SCOPE, **item})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name == "GET /cart"', True),
        ('span.name == "GET /cart"', True),  # the context may be named first
        ("kind == SPAN_KIND_SERVER", True),
        ("status.code == STATUS_CODE_ERROR", True),
        ('attributes["http.status_code"] >= 500', True),
        ('attributes["http.status_code"] > 500.5', True),  # ints and floats compare as numbers
        ('attributes["http.status_code"] == "503"', False),  # a string is not an int
        ('attributes["http.status_code"] != "503"', True),
        ('attributes["http.route"] < "/d"', True),  # strings order
        ('attributes["cached"] == false', True),
        ('attributes["cached"] < true', False),  # bools do not order
        ('attributes["missing"] == nil', True),
        ('attributes["missing"] != nil', False),
        ('attributes["missing"] > 1', False),
        ('attributes["tags"][1] == "b"', True),
        ('attributes["tags"][5] == nil', True),
        ('attributes["db"]["system"] == "redis"', True),
        ('resource.attributes["service.name"] == "checkout"', True),
        ('instrumentation_scope.name == "opentelemetry.instrumentation.flask"', True),
        ('trace_id.string == "0af7651916cd43dd8448eb211c80319c"', True),
        ('IsMatch(resource.attributes["k8s.pod.name"], "^checkout-")', True),
        ('IsMatch(attributes["http.status_code"], "^5")', True),  # a number matched as its text
        ('IsMatch(attributes["missing"], ".*")', False),
        ('HasPrefix(name, "GET ") and HasSuffix(name, "/cart")', True),
        ('Len(attributes["tags"]) == 2', True),
        ('IsString(name) and IsInt(attributes["http.status_code"]) and IsDouble(attributes["ratio"])', True),
        ('IsMap(attributes["db"]) and IsList(attributes["tags"]) and IsBool(attributes["cached"])', True),
        ('ToLowerCase(name) == "get /cart"', True),
        ('Int("42") == 42 and Double(attributes["http.status_code"]) == 503.0', True),
        ('String(attributes["http.status_code"]) == "503"', True),
        # not binds tightest, then and, then or
        ('name == "x" and kind == SPAN_KIND_SERVER or attributes["http.status_code"] == 503', True),
        ('name == "x" and (kind == SPAN_KIND_SERVER or attributes["http.status_code"] == 503)', False),
        ('not name == "x" and kind == SPAN_KIND_CLIENT', False),
        ('not (name == "x" or kind == SPAN_KIND_CLIENT)', True),
        ("true and not false", True),
    ],
)
def test_span_conditions(text, expected):
    assert holds(text) is expected


def test_log_record_metric_and_datapoint_contexts():
    record = _with(LogRecord(severity_number=13, severity_text="WARN", event_name="db.slow"), user="u1")
    record.body.string_value = "query took 3s"
    item = {"record": record}
    assert holds("severity_number >= SEVERITY_NUMBER_WARN and severity_number < SEVERITY_NUMBER_ERROR", "log", **item)
    assert holds('IsMatch(body, "took \\\\d+s$") and log.attributes["user"] == "u1"', "log", **item)
    assert holds('event_name == "db.slow" and severity_text == "WARN"', "log", **item)

    metric = Metric(name="http.server.duration", unit="ms")
    metric.histogram.aggregation_temporality = 2
    point = _with(metric.histogram.data_points.add(count=7, sum=12.5), **{"http.route": "/health"})
    item = {"metric": metric, "point": point}
    assert holds(
        "type == METRIC_DATA_TYPE_HISTOGRAM and aggregation_temporality == AGGREGATION_TEMPORALITY_CUMULATIVE",
        "metric",
        **item,
    )
    assert holds('name == "http.server.duration" and unit == "ms"', "metric", **item)
    assert holds(
        'attributes["http.route"] == "/health" and count > 5 and metric.name == "http.server.duration"',
        "datapoint",
        **item,
    )
    gauge = Metric(name="queue")
    number = gauge.gauge.data_points.add(as_double=0.5)
    assert holds("value_double < 1.0 and value_int == 0", "datapoint", metric=gauge, point=number)


@pytest.mark.parametrize(
    ("text", "context", "message"),
    [
        ("name", "span", "is not a condition"),
        ('attributes["x"] = 1', "span", "cannot parse"),
        ('Substring(name, 0, 1) == "G"', "span", "converter Substring is not available here"),
        ('IsMatch(name, "(")', "span", "invalid regular expression"),
        ('IsMatch(name, attributes["p"])', "span", "pattern must be a string literal"),
        ("Len(name, name) == 1", "span", "Len takes 1 argument"),
        ("events == nil", "span", "'events' is not a path of the span context"),
        ("kind == SPAN_KIND_SERVR", "span", "unknown enum SPAN_KIND_SERVR"),
        ('name == "a" and "b"', "span", "and / or / not join conditions"),
        ("attributes == nil", "metric", "'attributes' is not a path of the metric context"),
        ('metric.nam == "x"', "datapoint", "is not a metric field"),
        ("status.reason == nil", "span", "status has code and message"),
    ],
)
def test_what_is_not_there_is_a_clear_error(text, context, message):
    with pytest.raises(OTTLError, match=message.replace("(", "\\\\(")):
        compile_condition(text, context)


_WORDS = ["name", "attributes", "IsMatch", "SPAN_KIND_SERVER", " and ", " or ", "not ", '"x"', "set", " where "]
_PIECES = st.sampled_from([*'abnotr ()[]".,=<>!0123456789_-+', *_WORDS, "resource.", "[0]", "nil", "true", "Len"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=16).map("".join), st.sampled_from(["span", "log", "metric", "datapoint", "resource"]))
def test_any_text_compiles_or_raises_an_ottl_error(text, context):
    """Operators' strings: whatever they hold, validate gets an OTTLError with the reason, never a crash."""
    from otel_lite.collector.ottl_statements import compile_statement

    for compile_one in (compile_condition, compile_statement):
        try:
            compile_one(text, context)
        except OTTLError as e:
            assert str(e)
