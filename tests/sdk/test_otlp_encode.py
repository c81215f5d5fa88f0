"""otel_lite's direct OTLP encoder against opentelemetry-exporter-otlp's encoder.

otel_lite spans have opentelemetry-sdk's ReadableSpan read side, so the same
spans go through the official encoder and through ours: the parsed messages
must be equal, and in fact the bytes are identical (we write fields in
field-number order, as protobuf does).
"""

from __future__ import annotations

import base64
import json
import math

import pytest
from google.protobuf.json_format import ParseDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PB2Span
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.trace.status import Status, StatusCode

import otel_lite
from otel_lite.export import otlp_encode
from otel_lite.export.otlp_encode import encode_spans, encode_spans_json, spans_to_json_dict
from tests.support.otlp_sink import otlp_json_to_message

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1


# -- helpers ------------------------------------------------------------------------------------------


def lite_provider(resource_attributes=None, schema_url=None, limits=None):
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(
        shutdown_on_exit=False,
        span_limits=limits,
        sampler=otel_lite.ALWAYS_ON,
        resource=otel_lite.Resource(resource_attributes or {"service.name": "test"}, schema_url),
    )
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    return provider, exporter


def parse(data: bytes) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(data)


def assert_same_as_official(spans, ours: bytes | None = None) -> ExportTraceServiceRequest:
    """Our bytes parse to the official message; the bytes themselves are identical."""
    expected = official_encode(spans)
    ours = encode_spans(spans) if ours is None else ours
    got = parse(ours)
    expected_bytes = expected.SerializeToString()
    if has_nan(expected):  # nan != nan: compare the (canonical) serialization only
        assert got.SerializeToString() == expected_bytes
    else:
        assert got == expected
    assert ours == expected_bytes
    return got


def has_nan(message) -> bool:
    return "nan" in str(message).lower()


class ReadableView:
    """Only the public ReadableSpan read side of a span: forces the generic path."""

    def __init__(self, span):
        self._span = span

    def get_span_context(self):
        return self._span.get_span_context()

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._span, name)


def remote_parent_context(
    trace_id=0x0AF7651916CD43DD8448EB211C80319C,
    span_id=0xB7AD6B7169203331,
    flags=1,
    entries=(("vendor", "value"), ("other", "x")),
):
    parent = NonRecordingSpan(
        SpanContext(
            trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags), trace_state=TraceState(list(entries))
        )
    )
    return trace.set_span_in_context(parent)


# -- explicit, field-by-field -------------------------------------------------------------------------


def test_fields_of_a_rich_span_match_the_official_encoder():
    provider, exporter = lite_provider({"service.name": "svc", "host.cores": 8}, "https://schema/resource")
    tracer = provider.get_tracer("lib.a", "2.0", schema_url="https://schema/scope", attributes={"scope.k": "v"})
    link_context = SpanContext(0x1111, 0x2222, is_remote=True, trace_state=TraceState([("lk", "lv")]))
    with tracer.start_as_current_span(
        "GET /users/{id}",
        context=remote_parent_context(),
        kind=SpanKind.SERVER,
        attributes={
            "http.method": "GET",
            "http.status_code": 200,
            "ok": True,
            "ratio": 0.25,
            "neg": -42,
            "raw": b"\x00\xff",
            "tags": ("a", "b"),
            "flags": (True, False),
            "empty": "",
            "nothing": None,
            "nested": {"k": [1, "two", 3.0, None, {"deep": True}]},
        },
        links=[Link(link_context, {"link.attr": 1})],
    ) as span:
        span.add_event("cache.miss", {"key": "user:1"}, timestamp=1_700_000_000_000_000_001)
        span.add_link(SpanContext(0x3333, 0x4444, is_remote=False), {"added": "later"})
        span.set_status(Status(StatusCode.ERROR, "it broke"))
    spans = exporter.get_finished_spans()
    message = assert_same_as_official(spans)

    (resource_spans,) = message.resource_spans
    assert resource_spans.schema_url == "https://schema/resource"
    assert {kv.key for kv in resource_spans.resource.attributes} == {"service.name", "host.cores"}
    (scope_spans,) = resource_spans.scope_spans
    assert scope_spans.schema_url == "https://schema/scope"
    assert (scope_spans.scope.name, scope_spans.scope.version) == ("lib.a", "2.0")
    assert scope_spans.scope.attributes[0].key == "scope.k"
    (pb,) = scope_spans.spans
    lite = spans[0]
    assert pb.trace_id == lite.context.trace_id.to_bytes(16, "big")
    assert pb.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert pb.span_id == lite.context.span_id.to_bytes(8, "big")
    assert pb.parent_span_id.hex() == "b7ad6b7169203331"
    assert pb.trace_state == "vendor=value,other=x"
    assert pb.flags == 0x300  # has-is-remote | is-remote; trace flags are not copied (as officially)
    assert pb.kind == PB2Span.SpanKind.SPAN_KIND_SERVER
    assert (pb.start_time_unix_nano, pb.end_time_unix_nano) == (lite.start_time, lite.end_time)
    values = {kv.key: kv.value for kv in pb.attributes}
    assert values["http.status_code"].int_value == 200
    assert values["neg"].int_value == -42
    assert values["ok"].bool_value is True
    assert values["ratio"].double_value == 0.25
    assert values["raw"].bytes_value == b"\x00\xff"
    assert [v.string_value for v in values["tags"].array_value.values] == ["a", "b"]
    assert [v.bool_value for v in values["flags"].array_value.values] == [True, False]
    assert values["empty"].WhichOneof("value") == "string_value"
    assert "nothing" not in values and pb.dropped_attributes_count == 1  # None is invalid at the top level
    deep = values["nested"].kvlist_value.values[0]
    assert deep.key == "k" and deep.value.array_value.values[4].kvlist_value.values[0].value.bool_value
    assert deep.value.array_value.values[3].WhichOneof("value") is None  # None inside: an empty AnyValue
    assert pb.events[0].name == "cache.miss" and pb.events[0].time_unix_nano == 1_700_000_000_000_000_001
    assert pb.links[0].trace_id == (0x1111).to_bytes(16, "big") and pb.links[0].flags == 0x300
    assert pb.links[0].trace_state == ""  # the official encoder does not write link trace_state
    assert pb.links[1].flags == 0x100
    assert pb.status.code == StatusCode.ERROR.value and pb.status.message == "it broke"


def test_root_span_has_no_parent_and_status_is_always_present():
    provider, exporter = lite_provider()
    provider.get_tracer("t").start_span("root").end()
    message = assert_same_as_official(exporter.get_finished_spans())
    pb = message.resource_spans[0].scope_spans[0].spans[0]
    assert pb.parent_span_id == b"" and pb.flags == 0x100
    assert pb.HasField("status") and pb.status.code == 0
    assert pb.kind == PB2Span.SpanKind.SPAN_KIND_INTERNAL


def test_local_parent_and_every_kind():
    provider, exporter = lite_provider()
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("parent"):
        for kind in SpanKind:
            tracer.start_span(kind.name, kind=kind).end()
    spans = exporter.get_finished_spans()
    message = assert_same_as_official(spans)
    pbs = message.resource_spans[0].scope_spans[0].spans
    assert [pb.kind for pb in pbs[:-1]] == [kind.value + 1 for kind in SpanKind]
    assert all(pb.flags == 0x100 and pb.parent_span_id == pbs[-1].span_id for pb in pbs[:-1])


def test_span_limits_produce_dropped_counts():
    limits = otel_lite.SpanLimits(
        max_span_attributes=2, max_events=1, max_links=1, max_event_attributes=1, max_link_attributes=1
    )
    provider, exporter = lite_provider(limits=limits)
    tracer = provider.get_tracer("t")
    links = [Link(SpanContext(i + 1, i + 1, False), {"a": 1, "b": 2}) for i in range(3)]
    with tracer.start_as_current_span("limited", attributes={"a": 1, "b": 2, "c": 3}, links=links) as span:
        span.add_event("e1", {"x": 1, "y": 2})
        span.add_event("e2", {"x": 1, "y": 2, "z": 3})
    message = assert_same_as_official(exporter.get_finished_spans())
    pb = message.resource_spans[0].scope_spans[0].spans[0]
    assert (pb.dropped_attributes_count, pb.dropped_events_count, pb.dropped_links_count) == (1, 1, 2)
    assert pb.events[0].dropped_attributes_count == 2 and pb.links[0].dropped_attributes_count == 1


def test_record_exception_event_is_materialized_once():
    provider, exporter = lite_provider()
    tracer = provider.get_tracer("t")
    with pytest.raises(ValueError), tracer.start_as_current_span("failing"):
        raise ValueError("bad input ü")
    spans = exporter.get_finished_spans()
    ours = encode_spans(spans)  # ours first: the traceback is formatted by our read
    message = assert_same_as_official(spans, ours)
    pb = message.resource_spans[0].scope_spans[0].spans[0]
    attributes = {kv.key: kv.value.string_value for kv in pb.events[0].attributes}
    assert attributes["exception.type"] == "ValueError" and attributes["exception.message"] == "bad input ü"
    assert "Traceback" in attributes["exception.stacktrace"]
    assert pb.status.code == StatusCode.ERROR.value


def test_grouping_by_resource_then_scope_in_first_seen_order():
    p1, e1 = lite_provider({"service.name": "one"})
    p2, e2 = lite_provider({"service.name": "two"}, "https://schema/2")
    p3, e3 = lite_provider({"service.name": "one"})  # equal to p1's resource: same group
    tracers = [
        p1.get_tracer("a"),
        p2.get_tracer("b", "1"),
        p1.get_tracer("c", schema_url="https://s/c"),
        p3.get_tracer("a"),
        p2.get_tracer("a"),
    ]
    order = [0, 1, 2, 3, 4, 0, 3, 1, 2, 4, 3]
    for n, index in enumerate(order):
        tracers[index].start_span(f"span{n}").end()
    # interleave the three exporters' spans in the order they ended
    spans = sorted(
        e1.get_finished_spans() + e2.get_finished_spans() + e3.get_finished_spans(), key=lambda s: int(s.name[4:])
    )
    message = assert_same_as_official(spans)
    assert len(message.resource_spans) == 2
    assert [len(rs.scope_spans) for rs in message.resource_spans] == [2, 2]
    assert [s.name for s in message.resource_spans[0].scope_spans[0].spans] == [
        "span0",
        "span3",
        "span5",
        "span6",
        "span10",
    ]


def test_generic_path_gives_the_same_bytes():
    provider, exporter = lite_provider()
    tracer = provider.get_tracer("t", "1")
    with tracer.start_as_current_span("a", context=remote_parent_context(), attributes={"k": [1, 2]}) as span:
        span.add_event("e", {"x": "y"})
        span.add_link(SpanContext(5, 6, True), {"l": True})
        try:
            raise KeyError("k")
        except KeyError as error:
            span.record_exception(error)
    spans = exporter.get_finished_spans()
    views = [ReadableView(s) for s in spans]
    assert encode_spans(views) == encode_spans(spans)
    assert_same_as_official(views)


def test_fast_path_without_the_instance_dict_shortcut(monkeypatch):
    """If span.py ever moves the rarely-set fields into __slots__, every field is still read."""
    provider, exporter = lite_provider()
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("a", links=[Link(SpanContext(1, 2, False))]) as span:
        span.add_event("e")
        span.set_status(StatusCode.OK)
    tracer.start_span("plain").end()
    spans = exporter.get_finished_spans()
    expected = encode_spans(spans)
    monkeypatch.setattr(otlp_encode, "_RARE_IN_DICT", False)
    assert encode_spans(spans) == expected
    assert_same_as_official(spans)


def sdk_recorder(resource_attributes, schema_url=None, limits=None):
    """An opentelemetry-sdk provider (always sampling) exporting into memory."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource(resource_attributes, schema_url), span_limits=limits, sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_mixed_batch_of_otel_lite_and_sdk_spans():
    lite, lite_exporter = lite_provider({"service.name": "lite"})
    sdk, sdk_exporter = sdk_recorder({"service.name": "sdk"})
    for i in range(3):
        lite.get_tracer("t").start_span(f"lite{i}", attributes={"i": i}).end()
        sdk.get_tracer("t").start_span(f"sdk{i}", attributes={"i": i}).end()
    spans = [
        s
        for pair in zip(lite_exporter.get_finished_spans(), sdk_exporter.get_finished_spans(), strict=True)
        for s in pair
    ]
    message = assert_same_as_official(spans)
    assert [len(rs.scope_spans[0].spans) for rs in message.resource_spans] == [3, 3]


def test_opentelemetry_sdk_spans():
    from opentelemetry.sdk.trace import SpanLimits

    provider, exporter = sdk_recorder(
        {"service.name": "sdk"}, "https://schema/sdk", SpanLimits(max_span_attributes=3, max_events=2)
    )
    tracer = provider.get_tracer("sdk.lib", "3", schema_url="https://s", attributes={"sa": 1})
    with tracer.start_as_current_span(
        "outer",
        context=remote_parent_context(),
        kind=SpanKind.CONSUMER,
        links=[Link(SpanContext(7, 8, True), {"la": "x"})],
    ) as outer:
        outer.set_attributes({"s": "ü", "i": -1, "f": 1e300, "b": False, "seq": [1.5, 2.5]})
        for i in range(3):
            outer.add_event(f"e{i}", {"n": i}, timestamp=i + 1)
        with tracer.start_as_current_span("inner") as inner:
            inner.set_status(Status(StatusCode.OK))
        try:
            raise RuntimeError("x")
        except RuntimeError as error:
            outer.record_exception(error)
    spans = exporter.get_finished_spans()
    message = assert_same_as_official(spans)
    pb = message.resource_spans[0].scope_spans[0].spans[1]
    assert pb.dropped_attributes_count == 2 and pb.dropped_events_count == 2 and pb.flags == 0x300


def test_values_that_cannot_be_encoded_are_skipped():
    provider, _exporter = lite_provider()
    span = provider.get_tracer("t").start_span("weird")
    loop: list = []
    loop.append(loop)
    # straight into the attribute dict: the SDK's validation would have cleaned these
    span._attributes.update(
        {
            "before": 1,
            "obj": object(),
            "too.big": 2**64,
            "too.small": INT64_MIN - 1,
            "surrogate": "\ud800",
            "in.list": (1, object()),
            "loop": loop,
            42: "int key",
            "after": "kept",
        }
    )
    span.end()
    message = parse(encode_spans([span]))
    pb = message.resource_spans[0].scope_spans[0].spans[0]
    assert [kv.key for kv in pb.attributes] == ["before", "42", "after"]
    assert pb.attributes[1].value.string_value == "int key"


def test_a_broken_span_is_skipped_and_the_batch_kept():
    provider, exporter = lite_provider()
    provider.get_tracer("t").start_span("good").end()
    spans = list(exporter.get_finished_spans())
    message = parse(encode_spans([object(), *spans]))
    assert [s.name for s in message.resource_spans[0].scope_spans[0].spans] == ["good"]
    assert encode_spans([]) == b""


def test_large_values_use_multi_byte_lengths():
    provider, exporter = lite_provider()
    tracer = provider.get_tracer("t")
    tracer.start_span(
        "x" * 20_000,
        attributes={
            "big": "y" * 100_000,
            "list": tuple(range(5000)),
            "max": INT64_MAX,
            "min": INT64_MIN,
            "floats": (math.inf, -math.inf, -0.0, 5e-324),
        },
        start_time=UINT64_MAX,
    ).end(end_time=UINT64_MAX)
    assert_same_as_official(exporter.get_finished_spans())


def test_nan_attribute():
    provider, exporter = lite_provider()
    provider.get_tracer("t").start_span("nan", attributes={"nan": math.nan, "list": (math.nan, 1.0)}).end()
    message = assert_same_as_official(exporter.get_finished_spans())
    assert math.isnan(message.resource_spans[0].scope_spans[0].spans[0].attributes[0].value.double_value)


def test_cached_fields_keep_types_apart():
    """True == 1 and hash(True) == hash(1): the KeyValue cache must not mix them up."""
    provider, exporter = lite_provider()
    tracer = provider.get_tracer("t")
    for value in (True, 1, 1.0, "1", False, 0, 0.0, "", 1, True):
        tracer.start_span("s", attributes={"v": value}).end()
        with tracer.start_as_current_span("e") as span:
            span.add_event("ev", {"v": value})
    spans = exporter.get_finished_spans()
    message = assert_same_as_official(spans)
    kinds = [
        (s.attributes or s.events[0].attributes)[0].value.WhichOneof("value")
        for s in message.resource_spans[0].scope_spans[0].spans
    ]
    assert kinds[::2] == [
        "bool_value",
        "int_value",
        "double_value",
        "string_value",
        "bool_value",
        "int_value",
        "double_value",
        "string_value",
        "int_value",
        "bool_value",
    ]
    assert kinds[::2] == kinds[1::2]


def test_high_cardinality_values_overflow_the_caches_correctly():
    provider, exporter = lite_provider()
    tracer = provider.get_tracer("t")
    for i in range(otlp_encode._MAX_VALUES_PER_KEY * 3):
        tracer.start_span(f"name{i}", attributes={"id": f"user-{i}", "n": i, f"key{i}": i}).end()
    spans = exporter.get_finished_spans()
    assert_same_as_official(spans)
    assert_same_as_official(spans)  # second pass: from the caches


def test_json_encoding_parses_back_to_the_same_message():
    provider, exporter = lite_provider({"service.name": "json"})
    tracer = provider.get_tracer("t", "1")
    with tracer.start_as_current_span(
        "a", context=remote_parent_context(), kind=SpanKind.CLIENT, attributes={"i": 7, "raw": b"\x01\x02", "f": 0.5}
    ) as span:
        span.add_link(SpanContext(0xABC, 0xDEF, False), {"x": 1})
        span.set_status(Status(StatusCode.ERROR, "bad"))
    spans = exporter.get_finished_spans()
    body = encode_spans_json(spans)
    data = json.loads(body)
    assert data == spans_to_json_dict(spans)
    js = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert js["traceId"] == "0af7651916cd43dd8448eb211c80319c" and js["parentSpanId"] == "b7ad6b7169203331"
    assert len(js["spanId"]) == 16 and js["kind"] == 3 and js["status"]["code"] == 2
    assert isinstance(js["startTimeUnixNano"], str) and js["links"][0]["traceId"] == f"{0xABC:032x}"
    assert {a["key"]: a["value"] for a in js["attributes"]}["i"] == {"intValue": "7"}
    # back to protobuf: OTLP/JSON ids are hex where protobuf's JSON mapping expects base64
    for span_json in [js]:
        for holder in [span_json, *span_json.get("links", [])]:
            for field in ("traceId", "spanId", "parentSpanId"):
                if field in holder:
                    holder[field] = base64.b64encode(bytes.fromhex(holder[field])).decode()
    assert ParseDict(data, ExportTraceServiceRequest()) == official_encode(spans)
    assert otlp_json_to_message(body) == official_encode(spans)  # the test sink's own OTLP/JSON parser


def test_many_spans_encode_compactly():
    provider, exporter = lite_provider()
    tracer = provider.get_tracer("bulk", "1.0")
    for i in range(4096):
        with tracer.start_as_current_span(
            "GET /items", attributes={"http.method": "GET", "item.id": i, "http.status_code": 200}
        ) as span:
            span.add_event("done")
    spans = exporter.get_finished_spans()
    data = encode_spans(spans)
    message = parse(data)
    assert len(message.resource_spans[0].scope_spans[0].spans) == 4096
    assert 80 < len(data) / 4096 < 250
    assert data == official_encode(spans).SerializeToString()


# -- property-based -----------------------------------------------------------------------------------

texts = st.text(max_size=12)
keys = st.text(min_size=1, max_size=10)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(INT64_MIN, INT64_MAX),
    st.integers(-300, 300),
    st.floats(allow_nan=False),
    texts,
    st.binary(max_size=8),
)
homogeneous = st.one_of(
    st.lists(st.booleans(), max_size=4),
    st.lists(st.integers(INT64_MIN, INT64_MAX), max_size=4),
    st.lists(st.floats(allow_nan=False), max_size=4),
    st.lists(texts, max_size=4),
).map(tuple)
any_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=3).map(tuple), st.dictionaries(keys, children, max_size=3)),
    max_leaves=6,
)
lite_attributes = st.dictionaries(keys, st.one_of(scalars, homogeneous, any_values), max_size=5)
# opentelemetry-sdk span attributes: primitives and homogeneous sequences only
sdk_attributes = st.dictionaries(
    keys,
    st.one_of(st.booleans(), st.integers(INT64_MIN, INT64_MAX), st.floats(allow_nan=False), texts, homogeneous),
    max_size=5,
)
times = st.one_of(st.none(), st.integers(0, UINT64_MAX))
ids = st.integers(1, 2**64 - 1)
trace_ids = st.integers(1, 2**128 - 1)
trace_states = st.lists(
    st.tuples(st.sampled_from(["a", "vendor", "x@y", "k1"]), st.text(alphabet="abc123", min_size=1, max_size=5)),
    max_size=3,
    unique_by=lambda kv: kv[0],
)


@st.composite
def span_contexts(draw, remote=None):
    return SpanContext(
        draw(trace_ids),
        draw(ids),
        is_remote=draw(st.booleans()) if remote is None else remote,
        trace_flags=TraceFlags(draw(st.integers(0, 3))),
        trace_state=TraceState(draw(trace_states)),
    )


@st.composite
def span_plans(draw, attributes=lite_attributes):
    return {
        "name": draw(st.text(max_size=16)),
        "kind": draw(st.sampled_from(list(SpanKind))),
        "attributes": draw(attributes),
        "set_attributes": draw(attributes),
        "parent": draw(st.sampled_from(["none", "local", "remote"])),
        "parent_context": draw(span_contexts(remote=True)),
        "start": draw(times),
        "end": draw(times),
        "events": draw(st.lists(st.tuples(st.text(max_size=8), attributes, times), max_size=3)),
        "links": draw(st.lists(st.tuples(span_contexts(), attributes), max_size=2)),
        "added_links": draw(st.lists(st.tuples(span_contexts(), attributes), max_size=2)),
        "exception": draw(st.booleans()),
        "status": draw(
            st.sampled_from(
                [
                    None,
                    (StatusCode.OK, None),
                    (StatusCode.ERROR, None),
                    (StatusCode.ERROR, "failed ü"),
                    (StatusCode.UNSET, None),
                ]
            )
        ),
        "tracer": draw(st.integers(0, 3)),
        "provider": draw(st.integers(0, 2)),
    }


TRACER_ARGS = [
    ("lib.a", None, None, None),
    ("lib.b", "1.0", "https://schema/b", {"team": "x", "n": 1}),
    ("lib.c", "2", None, {"flag": True}),
    ("lib.a", "9", "https://schema/a", None),
]
PROVIDER_ARGS = [
    ({"service.name": "alpha"}, None, None),
    ({"service.name": "beta", "k": 2}, "https://schema/r", None),
    (
        {"service.name": "gamma"},
        None,
        dict(
            max_span_attributes=2,
            max_events=1,
            max_links=1,
            max_event_attributes=1,
            max_link_attributes=2,
            max_attribute_length=6,
        ),
    ),
]


def run_plans(plans, make_provider, get_tracer):
    providers = [make_provider(*args) for args in PROVIDER_ARGS]
    for plan in plans:
        provider, _ = providers[plan["provider"]]
        tracer = get_tracer(provider, TRACER_ARGS[plan["tracer"]])
        if plan["parent"] == "remote":
            context = trace.set_span_in_context(NonRecordingSpan(plan["parent_context"]))
        elif plan["parent"] == "local":
            context = trace.set_span_in_context(tracer.start_span("local parent"))
        else:
            context = None
        span = tracer.start_span(
            plan["name"],
            context=context,
            kind=plan["kind"],
            attributes=plan["attributes"] or None,
            links=[Link(c, a or None) for c, a in plan["links"]] or None,
            start_time=plan["start"],
        )
        span.set_attributes(plan["set_attributes"])
        for name, attributes, timestamp in plan["events"]:
            span.add_event(name, attributes or None, timestamp)
        for link_context, attributes in plan["added_links"]:
            span.add_link(link_context, attributes or None)
        if plan["exception"]:
            try:
                raise ValueError(f"failure in {plan['name']!r}")
            except ValueError as error:
                span.record_exception(error, {"extra": 1}, timestamp=plan["start"])
        if plan["status"] is not None:
            span.set_status(Status(*plan["status"]))
        span.end(plan["end"])
    spans = [span for _, exporter in providers for span in exporter.get_finished_spans()]
    spans.sort(key=lambda s: (s.start_time, s.name))  # interleave the providers' spans
    return spans


def lite_factory(attributes, schema_url, limits):
    return lite_provider(attributes, schema_url, otel_lite.SpanLimits(**limits) if limits else None)


def lite_tracer(provider, args):
    name, version, schema_url, attributes = args
    return provider.get_tracer(name, version, schema_url, attributes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(span_plans(), min_size=1, max_size=5))
def test_property_lite_spans_match_official_on_fast_and_generic_paths(plans):
    spans = run_plans(plans, lite_factory, lite_tracer)
    ours = encode_spans(spans)
    assert_same_as_official(spans, ours)
    assert encode_spans([ReadableView(s) for s in spans]) == ours
    assert encode_spans(spans) == ours  # stable through the caches


def sdk_factory(attributes, schema_url, limits):
    from opentelemetry.sdk.trace import SpanLimits

    return sdk_recorder(attributes, schema_url, SpanLimits(**limits) if limits else None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(span_plans(sdk_attributes), min_size=1, max_size=4))
def test_property_opentelemetry_sdk_spans_match_official(plans):
    spans = run_plans(plans, sdk_factory, lite_tracer)
    assert_same_as_official(spans)
