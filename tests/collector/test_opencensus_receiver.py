"""The opencensus receiver: translation rules (table-driven), the agent TraceService Export
stream over a real gRPC socket driven by our generated stubs (node/resource carried
across the stream, protocol violations, bad input, pipeline errors, metrics), byte
fixtures produced by the real ``opencensus-ext-ocagent`` exporter, and the path to an
OTLP backend."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.protobuf import timestamp_pb2, wrappers_pb2
from prometheus_client import generate_latest

from otel_lite.collector.config import build_config, parse_yaml
from otel_lite.collector.consumer import ThrottledError
from otel_lite.collector.legacy_proto.opencensus.agent.common.v1 import common_pb2
from otel_lite.collector.legacy_proto.opencensus.agent.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from otel_lite.collector.legacy_proto.opencensus.resource.v1 import resource_pb2
from otel_lite.collector.legacy_proto.opencensus.trace.v1 import trace_pb2
from otel_lite.collector.receivers.opencensus_translate import resource_from_node, spans_to_request
from otel_lite.collector.service import Collector
from otel_lite.otlp.responses import grpc_retry_delay
from tests.support import capture_collector

FIXTURES = Path(__file__).parent / "data"
TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
Span = trace_pb2.Span
Request = trace_service_pb2.ExportTraceServiceRequest


def _value(v):
    return getattr(v, v.WhichOneof("value"))


def attrs(obj) -> dict:
    return {kv.key: _value(kv.value) for kv in obj.attributes}


def ts(seconds: int, nanos: int = 0):
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def oc_attrs(**values) -> Span.Attributes:
    out = Span.Attributes()
    for key, value in values.items():
        v = out.attribute_map[key]
        if isinstance(value, str):
            v.string_value.value = value
        elif isinstance(value, bool):
            v.bool_value = value
        elif isinstance(value, int):
            v.int_value = value
        else:
            v.double_value = value
    return out


def oc_span(n: int = 1, name: str = "op", **fields) -> Span:
    span = Span(
        trace_id=TRACE,
        span_id=n.to_bytes(8, "big"),
        name=trace_pb2.TruncatableString(value=name),
        start_time=ts(1_700_000_000, 5),
        end_time=ts(1_700_000_001, 7),
    )
    for key, value in fields.items():
        if isinstance(value, (int, bytes)) or key == "kind":
            setattr(span, key, value)
        else:
            getattr(span, key).CopyFrom(value)
    return span


def one(request):
    spans = [(rs, s) for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == 1
    return spans[0]


NODE = common_pb2.Node(
    identifier=common_pb2.ProcessIdentifier(host_name="h1", pid=42, start_timestamp=ts(1_600_000_000, 500_000_000)),
    library_info=common_pb2.LibraryInfo(
        language=common_pb2.LibraryInfo.PYTHON, exporter_version="0.8", core_library_version="0.11.4"
    ),
    service_info=common_pb2.ServiceInfo(name="billing"),
    attributes={"env": "prod", "service.name": "overridden"},
)


# ---------------------------------------------------------------------------
# Translation rules


def test_node_and_resource_to_otlp_resource():
    resource = resource_pb2.Resource(type="k8s", labels={"k8s.pod.name": "p", "cloud.zone": "eu-1a"})
    assert attrs(resource_from_node(NODE, resource)) == {
        "k8s.pod.name": "p",
        "cloud.availability_zone": "eu-1a",
        "env": "prod",
        "service.name": "billing",
        "opencensus.starttime": "2020-09-13T12:26:40.5Z",
        "host.name": "h1",
        "process.pid": 42,
        "telemetry.sdk.version": "0.11.4",
        "opencensus.exporterversion": "0.8",
        "telemetry.sdk.language": "python",
        "opencensus.resourcetype": "k8s",
    }
    assert attrs(resource_from_node(None, None)) == {}


@pytest.mark.parametrize(
    "kind,attributes,expected_kind,left",
    [
        (Span.SERVER, {}, 2, {}),
        (Span.CLIENT, {}, 3, {}),
        (Span.SPAN_KIND_UNSPECIFIED, {}, 1, {}),  # as the OC shim: INTERNAL
        (Span.SPAN_KIND_UNSPECIFIED, {"span.kind": "producer"}, 4, {}),
        (Span.SPAN_KIND_UNSPECIFIED, {"span.kind": "sideways"}, 1, {"span.kind": "sideways"}),
        (Span.SERVER, {"span.kind": "consumer"}, 2, {"span.kind": "consumer"}),  # the field wins
    ],
)
def test_kind(kind, attributes, expected_kind, left):
    _, span = one(spans_to_request(None, None, [oc_span(kind=kind, attributes=oc_attrs(**attributes))]))
    assert span.kind == expected_kind and attrs(span) == left


def test_ids_times_name_tracestate_and_typed_attributes():
    src = oc_span(
        parent_span_id=(9).to_bytes(8, "big"),
        attributes=oc_attrs(s="x", i=7, b=True, d=0.25),
        tracestate=Span.Tracestate(
            entries=[Span.Tracestate.Entry(key="a", value="1"), Span.Tracestate.Entry(key="b", value="2")]
        ),
        same_process_as_parent_span=wrappers_pb2.BoolValue(value=False),
    )
    src.attributes.dropped_attributes_count = 3
    _, span = one(spans_to_request(None, None, [src]))
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE, (1).to_bytes(8, "big"), (9).to_bytes(8, "big"))
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (
        1_700_000_000_000_000_005,
        1_700_000_001_000_000_007,
    )
    assert span.name == "op" and span.trace_state == "a=1,b=2"
    assert attrs(span) == {"s": "x", "i": 7, "b": True, "d": 0.25, "opencensus.same_process_as_parent_span": False}
    assert span.dropped_attributes_count == 3


@pytest.mark.parametrize("trace_id,span_id", [(b"", b""), (bytes(16), bytes(8)), (b"short", b"x")])
def test_invalid_ids_are_replaced_by_random_ones(trace_id, span_id):
    _, span = one(spans_to_request(None, None, [oc_span(trace_id=trace_id, span_id=span_id)]))
    assert len(span.trace_id) == 16 and any(span.trace_id) and len(span.span_id) == 8 and any(span.span_id)


def test_missing_times():
    src = oc_span()
    src.ClearField("start_time")
    _, span = one(spans_to_request(None, None, [src]))
    assert span.start_time_unix_nano == span.end_time_unix_nano == 1_700_000_001_000_000_007
    src.ClearField("end_time")
    src.start_time.CopyFrom(ts(5))
    _, span = one(spans_to_request(None, None, [src]))
    assert span.start_time_unix_nano == span.end_time_unix_nano == 5_000_000_000


@pytest.mark.parametrize(
    "status,code,message,attribute",
    [
        (None, 0, "", None),  # no status: UNSET
        (trace_pb2.Status(code=0), 0, "", None),  # OK is what OC sends by default: UNSET
        (trace_pb2.Status(code=5, message="no such row"), 2, "no such row", 5),  # NOT_FOUND
        (trace_pb2.Status(code=14), 2, "", 14),
    ],
)
def test_status(status, code, message, attribute):
    src = oc_span() if status is None else oc_span(status=status)
    _, span = one(spans_to_request(None, None, [src]))
    assert (span.status.code, span.status.message) == (code, message)
    assert attrs(span).get("opencensus.status_code") == attribute


def test_time_events_to_events():
    TE = Span.TimeEvent
    events = Span.TimeEvents(
        time_event=[
            TE(
                time=ts(10),
                annotation=TE.Annotation(
                    description=trace_pb2.TruncatableString(value="cache miss"), attributes=oc_attrs(key="k", n=2)
                ),
            ),
            TE(
                time=ts(11),
                message_event=TE.MessageEvent(
                    type=TE.MessageEvent.SENT, id=7, uncompressed_size=100, compressed_size=40
                ),
            ),
            TE(time=ts(12), message_event=TE.MessageEvent(type=TE.MessageEvent.RECEIVED, id=8)),
        ],
        dropped_annotations_count=2,
        dropped_message_events_count=1,
    )
    _, span = one(spans_to_request(None, None, [oc_span(time_events=events)]))
    assert [(e.name, e.time_unix_nano, attrs(e)) for e in span.events] == [
        ("cache miss", 10_000_000_000, {"key": "k", "n": 2}),
        (
            "7",
            11_000_000_000,
            {
                "message.event.type": "SENT",
                "message.event.id": 7,
                "message.event.size.uncompressed": 100,
                "message.event.size.compressed": 40,
            },
        ),
        ("8", 12_000_000_000, {"message.event.type": "RECEIVED", "message.event.id": 8}),
    ]
    assert span.dropped_events_count == 3


def test_links():
    other = bytes.fromhex("1" * 32)
    links = Span.Links(
        link=[
            Span.Link(
                trace_id=other,
                span_id=b"\x01" * 8,
                type=Span.Link.PARENT_LINKED_SPAN,
                attributes=oc_attrs(w=1),
                tracestate=Span.Tracestate(entries=[Span.Tracestate.Entry(key="k", value="v")]),
            ),
            Span.Link(trace_id=other, span_id=b"\x02" * 8),
            Span.Link(trace_id=b"bad", span_id=b"\x03" * 8),
        ],
        dropped_links_count=1,
    )
    _, span = one(spans_to_request(None, None, [oc_span(links=links)]))
    assert [(ln.trace_id, ln.span_id, ln.trace_state, attrs(ln)) for ln in span.links] == [
        (other, b"\x01" * 8, "k=v", {"w": 1, "opencensus.link.type": "PARENT_LINKED_SPAN"}),
        (other, b"\x02" * 8, "", {"opencensus.link.type": "TYPE_UNSPECIFIED"}),
    ]
    assert span.dropped_links_count == 2  # the unusable link counts as dropped


def test_span_with_its_own_resource_gets_its_own_resource_spans():
    own = oc_span(2, resource=resource_pb2.Resource(labels={"team": "x"}))
    request = spans_to_request(NODE, resource_pb2.Resource(labels={"team": "y"}), [oc_span(1), own, oc_span(3)])
    groups = [
        (attrs(rs.resource)["team"], attrs(rs.resource)["service.name"], len(rs.scope_spans[0].spans))
        for rs in request.resource_spans
    ]
    assert groups == [("y", "billing", 2), ("x", "billing", 1)]


# ---------------------------------------------------------------------------
# The Export stream on a running collector, driven by our generated stubs

CONFIG = """
receivers:
  opencensus: {endpoint: "127.0.0.1:0"}
exporters:
  capture:
service:
  pipelines:
    traces: {receivers: [opencensus], exporters: [capture]}
  telemetry: {metrics: {level: none}}
"""


class Running(capture_collector.Running):
    def __init__(self, loop_thread, text=CONFIG):
        super().__init__(loop_thread, text, receiver="opencensus")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.receiver.port}")
        self.stub = trace_service_pb2_grpc.TraceServiceStub(self.channel)

    def export(self, *messages):
        """One Export stream sending ``messages``; returns the responses (none are sent)."""
        return list(self.stub.Export(iter(messages), timeout=10))

    def metric(self, name: str) -> float:
        text = generate_latest(self.collector.telemetry.registry).decode()
        for line in text.splitlines():
            if line.startswith(name + "{") and 'transport="grpc"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self):
        self.channel.close()
        super().stop()


@pytest.fixture
def running(loop_thread):
    r = Running(loop_thread)
    yield r
    r.stop()


def _resource_of_each_batch(capture):
    return [
        [(attrs(rs.resource), [s.name for ss in rs.scope_spans for s in ss.spans]) for rs in t.message.resource_spans]
        for t in capture.batches
    ]


def test_node_and_resource_carry_across_the_stream_until_replaced(running):
    node2 = common_pb2.Node(service_info=common_pb2.ServiceInfo(name="billing-v2"))
    assert (
        running.export(
            Request(node=NODE, resource=resource_pb2.Resource(labels={"zone": "a"}), spans=[oc_span(1, "first")]),
            Request(spans=[oc_span(2, "carried")]),  # node and resource carry over
            Request(resource=resource_pb2.Resource(labels={"zone": "b"}), spans=[oc_span(3, "new-resource")]),
            Request(node=node2, spans=[oc_span(4, "new-node")]),  # resource still zone b
        )
        == []
    )
    batches = _resource_of_each_batch(running.capture)
    assert [(r["service.name"], r.get("zone"), names) for ((r, names),) in batches] == [
        ("billing", "a", ["first"]),
        ("billing", "a", ["carried"]),
        ("billing", "b", ["new-resource"]),
        ("billing-v2", "b", ["new-node"]),
    ]
    assert running.metric("otelcol_receiver_accepted_spans_total") == 4


def test_streams_are_independent(running):
    running.export(Request(node=NODE, spans=[oc_span(1, "a")]))
    with pytest.raises(grpc.RpcError) as e:  # a new stream does not inherit the old stream's node
        running.export(Request(spans=[oc_span(2, "b")]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "protocol violation" in e.value.details()
    assert running.metric("otelcol_receiver_refused_spans_total") == 1
    running.export(Request(node=NODE, spans=[oc_span(3, "c")]))  # still serving
    assert [s.name for s in running.capture.spans()] == ["a", "c"]


def test_malformed_message_ends_the_stream_counted_and_serving_goes_on(running):
    export = running.channel.stream_stream("/opencensus.proto.agent.trace.v1.TraceService/Export")
    good = Request(node=NODE, spans=[oc_span(1, "before")]).SerializeToString()
    with pytest.raises(grpc.RpcError) as e:
        list(export(iter([good, b"\xff\xff\xff\xff"]), timeout=10))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert running.metric("otelcol_receiver_refused_spans_total") == 1
    running.export(Request(node=NODE, spans=[oc_span(2, "after")]))
    assert [s.name for s in running.capture.spans()] == ["before", "after"]


def test_export_one_unary(running):
    running.stub.ExportOne(Request(node=NODE, spans=[oc_span(1, "single")]), timeout=10)
    ((resource, names),) = _resource_of_each_batch(running.capture)[0]
    assert resource["service.name"] == "billing" and names == ["single"]


def test_pipeline_error_ends_the_stream_with_its_status(running):
    running.capture.fail_with.append(ThrottledError("slow down", 1.0))
    with pytest.raises(grpc.RpcError) as e:
        running.export(Request(node=NODE, spans=[oc_span(1)]), Request(spans=[oc_span(2)]))
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert grpc_retry_delay(e.value.trailing_metadata()) == 1.0  # RetryInfo, as every receiver sends it
    assert running.metric("otelcol_receiver_refused_spans_total") == 1


class SlowExporter:
    """Holds every push for a while, like the batch processor holding a caller until it flushes."""

    def __init__(self):
        self.names = []

    async def start(self, host):
        pass

    async def shutdown(self):
        pass

    async def consume(self, traces):
        import asyncio

        await asyncio.sleep(0.3)
        self.names += [s.name for rs in traces.message.resource_spans for ss in rs.scope_spans for s in ss.spans]


def test_one_stream_is_not_serialised_behind_a_slow_pipeline(loop_thread):
    import time

    from otel_lite.collector.component import ComponentConfig, Factory

    slow = Factory(kind="exporter", type="slow", config_class=ComponentConfig, create=lambda s, c, n: SlowExporter())
    text = CONFIG.replace("capture", "slow")
    collector = loop_thread.call(
        Collector, build_config(parse_yaml(text), lambda k, t: slow if t == "slow" else capture_collector.lookup(k, t))
    )
    loop_thread.run(collector.start())
    try:
        port = collector.graph.get("receiver", "opencensus").port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            started = time.monotonic()
            list(stub.Export(iter([Request(node=NODE, spans=[oc_span(i, f"s{i}")]) for i in range(1, 11)]), timeout=10))
            elapsed = time.monotonic() - started
        assert sorted(collector.graph.get("exporter", "slow").names) == sorted(f"s{i}" for i in range(1, 11))
        assert elapsed < 2.0  # ten 0.3 s pushes, overlapped (one after the other: 3 s)
    finally:
        loop_thread.run(collector.shutdown())


def test_empty_messages_and_node_only_first_message(running):
    assert running.export(Request(node=NODE), Request(), Request(spans=[oc_span(1, "x")])) == []
    assert [s.name for s in running.capture.spans()] == ["x"]


# ---------------------------------------------------------------------------
# Byte fixtures from the real opencensus-ext-ocagent exporter (protobuf 3.20 venv; see
# tests/collector/data/make_ocagent_fixture.py) replayed on one stream


@pytest.mark.skipif(not (FIXTURES / "ocagent_stream.bin").exists(), reason="fixture not generated")
def test_real_ocagent_exporter_messages(running):
    import json

    raw = (FIXTURES / "ocagent_stream.bin").read_bytes()
    expected = json.loads((FIXTURES / "ocagent_stream.json").read_text())
    messages, pos = [], 0
    while pos < len(raw):  # length-prefixed (4 bytes big-endian) serialized ExportTraceServiceRequests
        n = int.from_bytes(raw[pos : pos + 4], "big")
        messages.append(raw[pos + 4 : pos + 4 + n])
        pos += 4 + n
    export = running.channel.stream_stream("/opencensus.proto.agent.trace.v1.TraceService/Export")
    assert list(export(iter(messages), timeout=10)) == []
    got = {}
    for t in running.capture.batches:
        for rs in t.message.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    got[s.name] = (attrs(rs.resource), s)
    assert sorted(got) == sorted(expected["spans"])
    for name, want in expected["spans"].items():
        resource, span = got[name]
        assert resource["service.name"] == expected["service"]
        assert resource["telemetry.sdk.language"] == "python" and resource["host.name"]
        assert span.trace_id.hex() == want["trace_id"] and span.span_id.hex() == want["span_id"]
        assert span.parent_span_id.hex() == (want["parent_span_id"] or "")
        assert span.kind == want["kind"]
        for key, value in want["attributes"].items():
            assert attrs(span)[key] == value
        assert [e.name for e in span.events] == want["events"]
        assert (span.status.code, span.status.message) == tuple(want["status"])
        if not want["status"][0]:
            assert "opencensus.status_code" not in attrs(span)
        assert [[link.trace_id.hex(), link.span_id.hex()] for link in span.links] == want["links"]


# ---------------------------------------------------------------------------
# Our stub client -> opencensus receiver -> collector pipeline -> OTLP backend

E2E = """
receivers:
  opencensus: {endpoint: "127.0.0.1:0"}
processors:
  batch: {timeout: 50ms}
exporters:
  otlp_grpc: {endpoint: "SINK", tls: {insecure: true}}
service:
  pipelines:
    traces: {receivers: [opencensus], processors: [batch], exporters: [otlp_grpc]}
  telemetry: {metrics: {level: none}}
"""


def test_stream_to_otlp_backend(loop_thread, otlp_sink):
    collector = loop_thread.call(Collector, build_config(parse_yaml(E2E.replace("SINK", otlp_sink.grpc_endpoint))))
    loop_thread.run(collector.start())
    try:
        port = collector.graph.get("receiver", "opencensus").port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            sent = [
                oc_span(
                    i,
                    f"span-{i}",
                    kind=Span.CLIENT,
                    attributes=oc_attrs(i=i),
                    status=trace_pb2.Status(code=2 if i % 2 else 0, message="bad" if i % 2 else ""),
                )
                for i in range(1, 21)
            ]
            list(stub.Export(iter([Request(node=NODE, spans=sent[:10]), Request(spans=sent[10:])]), timeout=10))
        assert otlp_sink.wait_for_spans(20, timeout=10)
    finally:
        loop_thread.run(collector.shutdown())
    got = {}
    for req in otlp_sink.requests:
        for rs in req.resource_spans:
            assert attrs(rs.resource)["service.name"] == "billing"
            for ss in rs.scope_spans:
                for s in ss.spans:
                    got[s.name] = s
    assert len(got) == 20
    for i in range(1, 21):
        s = got[f"span-{i}"]
        assert s.trace_id == TRACE and s.span_id == i.to_bytes(8, "big") and s.kind == 3
        assert attrs(s)["i"] == i and attrs(s).get("opencensus.status_code") == (2 if i % 2 else None)
        assert (s.status.code, s.status.message) == ((2, "bad") if i % 2 else (0, ""))
