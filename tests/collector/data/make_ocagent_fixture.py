"""Regenerate ocagent_stream.bin/.json: the messages the real ``opencensus-ext-ocagent``
exporter builds (its generated code needs protobuf 3.x, so this runs in a separate venv):

    python3 -m venv /tmp/oc && /tmp/oc/bin/pip install 'protobuf==3.20.3' opencensus-ext-ocagent
    /tmp/oc/bin/python tests/collector/data/make_ocagent_fixture.py

The exporter is given a client that records each serialized ExportTraceServiceRequest
instead of sending it; the .bin holds them length-prefixed (4 bytes, big-endian) and the
.json what tests/collector/test_opencensus_receiver.py expects to arrive in OTLP.
"""

import json
from pathlib import Path

from opencensus.ext.ocagent.trace_exporter import TraceExporter
from opencensus.trace import execution_context
from opencensus.trace.link import Link
from opencensus.trace.samplers import AlwaysOnSampler
from opencensus.trace.span import SpanKind
from opencensus.trace.status import Status
from opencensus.trace.tracer import Tracer

HERE = Path(__file__).parent
SERVICE = "oc-agent-app"


class RecordingClient:
    def __init__(self):
        self.messages = []

    def Export(self, requests):  # the stub's method name
        self.messages.extend(r.SerializeToString() for r in requests)
        return iter(())


client = RecordingClient()
exporter = TraceExporter(service_name=SERVICE, host_name="fixture-host", client=client)
tracer = Tracer(exporter=exporter, sampler=AlwaysOnSampler())
expected = {}
with tracer.span("GET /orders") as root:
    root.span_kind = SpanKind.SERVER
    root.add_attribute("http.method", "GET")
    root.add_attribute("http.status_code", 503)
    root.add_attribute("cached", False)
    root.add_attribute("ratio", 0.5)
    root.add_annotation("validated", user="u1")
    with tracer.span("SELECT orders") as child:
        child.span_kind = SpanKind.CLIENT
        child.add_link(Link(trace_id="1" * 32, span_id="2" * 16))
    with tracer.span("render") as local:
        pass
    root.set_status(Status(14, "backend unavailable"))
tracer.finish()
execution_context.clear()

kinds = {SpanKind.SERVER: 2, SpanKind.CLIENT: 3}
for span, attrs, events, status, links in (
    (
        root,
        {"http.method": "GET", "http.status_code": 503, "cached": False, "ratio": 0.5, "opencensus.status_code": 14},
        ["validated"],
        [2, "backend unavailable"],
        [],
    ),
    (child, {}, [], [0, ""], [["1" * 32, "2" * 16]]),
    (local, {}, [], [0, ""], []),
):
    expected[span.name] = {
        "trace_id": tracer.span_context.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span.span_id if getattr(span.parent_span, "span_id", None) else None,
        "kind": kinds.get(span.span_kind, 1),
        "attributes": attrs,
        "events": events,
        "status": status,
        "links": links,
    }

with open(HERE / "ocagent_stream.bin", "wb") as f:
    for raw in client.messages:
        f.write(len(raw).to_bytes(4, "big") + raw)
(HERE / "ocagent_stream.json").write_text(json.dumps({"service": SERVICE, "spans": expected}, indent=1) + "\n")
print(len(client.messages), "messages,", len(expected), "spans")
