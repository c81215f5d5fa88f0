"""OpenCensus agent protocol (Node, Resource, trace.v1 Spans) -> OTLP ``ExportTraceServiceRequest``.

Follows the OpenCensus proto semantics, the Go Collector's translator for the
node/resource attribute names, and this project's OpenCensus shim
(``shims/opencensus/mapping.py``) for the span-level rules, so a service looks
the same whether it runs the shim or still exports over the agent protocol:

| OpenCensus                                  | OTLP                                                       |
|---------------------------------------------|------------------------------------------------------------|
| Node.service_info.name                      | resource ``service.name``                                  |
| Node.identifier host_name / pid /           | ``host.name`` / ``process.pid`` (int) /                    |
| start_timestamp                             | ``opencensus.starttime`` (RFC 3339)                        |
| Node.library_info language /                | ``telemetry.sdk.language`` (cpp, dotnet, erlang, go, java, |
| core_library_version / exporter_version     | nodejs, php, python, ruby, webjs) / ``telemetry.sdk.version``|
|                                             | / ``opencensus.exporterversion``                           |
| Node.attributes, Resource.labels            | resource attributes (label ``cloud.zone`` ->               |
|                                             | ``cloud.availability_zone``)                               |
| Resource.type                               | ``opencensus.resourcetype``                                |
| Span.resource (own resource)                | a ResourceSpans of its own (with the node)                 |
| trace_id / span_id empty, zero or not 16/8  | a new random id (as the proto asks of receivers)           |
| bytes                                       |                                                            |
| kind SERVER / CLIENT / unspecified          | SERVER / CLIENT / INTERNAL; with unspecified kind a        |
|                                             | ``span.kind`` attribute (client, server, producer,         |
|                                             | consumer, internal) decides and is consumed                |
| attributes (string, int, bool, double)      | attributes of the same types; dropped count kept           |
| Status code 0 (or no status)                | UNSET: OC exporters send code 0 on every span whose code   |
|                                             | was never set, so it tells nothing (the Go translator too) |
| Status code != 0, message                   | ERROR with the message; attribute ``opencensus.status_code``|
|                                             | = the canonical code (the shim's attribute)                |
| TimeEvent annotation                        | event named by the description, typed attributes           |
| TimeEvent message event (type, id, sizes)   | event named ``str(id)``: ``message.event.type`` (SENT /    |
|                                             | RECEIVED / TYPE_UNSPECIFIED), ``message.event.id``,        |
|                                             | ``message.event.size.uncompressed`` / ``.compressed``      |
| dropped annotations + message events        | dropped_events_count                                       |
| Link (ids, type, attributes, tracestate)    | link + ``opencensus.link.type`` (CHILD_LINKED_SPAN, ...)   |
| tracestate entries                          | W3C ``trace_state`` string                                 |
| same_process_as_parent_span                 | ``opencensus.same_process_as_parent_span`` (bool)          |
| start_time / end_time missing               | end_time or now / start_time                               |
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

__all__ = ["resource_from_node", "spans_to_request", "STATUS_CODE_ATTRIBUTE", "LINK_TYPE_ATTRIBUTE"]

STATUS_CODE_ATTRIBUTE = "opencensus.status_code"  # the names of shims/opencensus/mapping.py
LINK_TYPE_ATTRIBUTE = "opencensus.link.type"
SAME_PROCESS_ATTRIBUTE = "opencensus.same_process_as_parent_span"
_LANGUAGES = {
    1: "cpp",
    2: "dotnet",
    3: "erlang",
    4: "go",
    5: "java",
    6: "nodejs",
    7: "php",
    8: "python",
    9: "ruby",
    10: "webjs",
}
_KINDS = {1: 2, 2: 3}  # OC SERVER, CLIENT -> OTLP SERVER, CLIENT
_TAG_KINDS = {"client": 3, "server": 2, "producer": 4, "consumer": 5, "internal": 1}
_INTERNAL = 1
_MESSAGE_TYPES = {0: "TYPE_UNSPECIFIED", 1: "SENT", 2: "RECEIVED"}
_LINK_TYPES = {0: "TYPE_UNSPECIFIED", 1: "CHILD_LINKED_SPAN", 2: "PARENT_LINKED_SPAN"}
_ZERO16, _ZERO8 = bytes(16), bytes(8)


def _put(attributes, key: str, value) -> None:
    kv = attributes.add()
    kv.key = key
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = value


def _rfc3339(ts) -> str:
    moment = datetime.fromtimestamp(ts.seconds, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.nanos:
        text += ("." + f"{ts.nanos:09d}").rstrip("0")
    return text + "Z"


def resource_from_node(node, resource) -> Resource:
    """The OTLP resource for spans sent under ``node`` with ``resource`` (either may be None)."""
    out = Resource()
    values: dict = {}
    if resource is not None:
        for key, value in resource.labels.items():
            values["cloud.availability_zone" if key == "cloud.zone" else key] = value
    if node is not None:
        values.update(node.attributes)
        # the special fields override labels and attributes
        if node.HasField("service_info") and node.service_info.name:
            values["service.name"] = node.service_info.name
        if node.HasField("identifier"):
            ident = node.identifier
            if ident.HasField("start_timestamp"):
                values["opencensus.starttime"] = _rfc3339(ident.start_timestamp)
            if ident.host_name:
                values["host.name"] = ident.host_name
            if ident.pid:
                values["process.pid"] = int(ident.pid)
        if node.HasField("library_info"):
            info = node.library_info
            if info.core_library_version:
                values["telemetry.sdk.version"] = info.core_library_version
            if info.exporter_version:
                values["opencensus.exporterversion"] = info.exporter_version
            language = _LANGUAGES.get(info.language)
            if language:
                values["telemetry.sdk.language"] = language
    if resource is not None and resource.type:
        values["opencensus.resourcetype"] = resource.type
    for key, value in values.items():
        _put(out.attributes, key, value)
    return out


def _attributes(dest, oc_attributes) -> int:
    """Copy OC attributes into ``dest`` (a repeated KeyValue); returns the dropped count."""
    attribute_map = oc_attributes.attribute_map
    add = dest.add
    for key in attribute_map:  # (iterating keys is C; .items() is a Python-level view)
        value = attribute_map[key]
        kv = add()
        kv.key = key
        out = kv.value
        which = value.WhichOneof("value")
        if which == "string_value":
            out.string_value = value.string_value.value
        elif which == "int_value":
            out.int_value = value.int_value
        elif which == "bool_value":
            out.bool_value = value.bool_value
        elif which == "double_value":
            out.double_value = value.double_value
        else:
            out.string_value = ""
    return max(0, oc_attributes.dropped_attributes_count)


def _trace_state(ts) -> str:
    return ",".join(f"{e.key}={e.value}" for e in ts.entries)


def _id(raw: bytes, size: int, zero: bytes) -> bytes:
    if len(raw) == size and raw != zero:
        return raw
    return os.urandom(size)


def _nanos(ts) -> int:
    return ts.seconds * 1_000_000_000 + ts.nanos


def _fill_span(span, src, now: int) -> None:
    span.trace_id = _id(src.trace_id, 16, _ZERO16)
    span.span_id = _id(src.span_id, 8, _ZERO8)
    if len(src.parent_span_id) == 8 and src.parent_span_id != _ZERO8:
        span.parent_span_id = src.parent_span_id
    if src.HasField("tracestate"):
        span.trace_state = _trace_state(src.tracestate)
    span.name = src.name.value
    start = _nanos(src.start_time) if src.HasField("start_time") else 0
    end = _nanos(src.end_time) if src.HasField("end_time") else 0
    if not start:
        start = end or now
    span.start_time_unix_nano = start
    span.end_time_unix_nano = end or start

    kind = _KINDS.get(src.kind)
    skip_kind_attribute = False
    if kind is None:
        kind = _INTERNAL
        attr = src.attributes.attribute_map.get("span.kind") if src.HasField("attributes") else None
        if attr is not None and attr.WhichOneof("value") == "string_value":
            tag_kind = _TAG_KINDS.get(attr.string_value.value.lower())
            if tag_kind is not None:
                kind, skip_kind_attribute = tag_kind, True
    span.kind = kind

    attributes = span.attributes
    if src.HasField("attributes"):
        span.dropped_attributes_count = _attributes(attributes, src.attributes)
        if skip_kind_attribute:
            for i, kv in enumerate(attributes):
                if kv.key == "span.kind":
                    del attributes[i]
                    break
    code = src.status.code
    if code:  # OC exporters send OK (0) for every span that set nothing: it stays UNSET, as in Go
        span.status.code = 2  # ERROR
        if src.status.message:
            span.status.message = src.status.message
        _put(attributes, STATUS_CODE_ATTRIBUTE, code)
    if src.HasField("same_process_as_parent_span"):
        _put(attributes, SAME_PROCESS_ATTRIBUTE, src.same_process_as_parent_span.value)

    if src.HasField("time_events"):
        te = src.time_events
        span.dropped_events_count = max(0, te.dropped_annotations_count) + max(0, te.dropped_message_events_count)
        events = span.events
        for oc_event in te.time_event:
            which = oc_event.WhichOneof("value")
            if which is None:
                continue
            event = events.add()
            event.time_unix_nano = _nanos(oc_event.time) if oc_event.HasField("time") else start
            if which == "annotation":
                annotation = oc_event.annotation
                event.name = annotation.description.value
                if annotation.HasField("attributes"):
                    event.dropped_attributes_count = _attributes(event.attributes, annotation.attributes)
            else:
                message = oc_event.message_event
                event.name = str(message.id)
                _put(event.attributes, "message.event.type", _MESSAGE_TYPES.get(message.type, str(message.type)))
                _put(event.attributes, "message.event.id", message.id)
                if message.uncompressed_size:
                    _put(event.attributes, "message.event.size.uncompressed", message.uncompressed_size)
                if message.compressed_size:
                    _put(event.attributes, "message.event.size.compressed", message.compressed_size)

    if src.HasField("links"):
        span.dropped_links_count = max(0, src.links.dropped_links_count)
        links = span.links
        for oc_link in src.links.link:
            if len(oc_link.trace_id) != 16 or len(oc_link.span_id) != 8 or oc_link.trace_id == _ZERO16:
                span.dropped_links_count += 1  # a link to nothing identifiable
                continue
            link = links.add()
            link.trace_id, link.span_id = oc_link.trace_id, oc_link.span_id
            if oc_link.HasField("tracestate"):
                link.trace_state = _trace_state(oc_link.tracestate)
            if oc_link.HasField("attributes"):
                link.dropped_attributes_count = _attributes(link.attributes, oc_link.attributes)
            _put(link.attributes, LINK_TYPE_ATTRIBUTE, _LINK_TYPES.get(oc_link.type, str(oc_link.type)))


def spans_to_request(node, resource, spans, base: Resource | None = None) -> ExportTraceServiceRequest:
    """One OTLP request for ``spans`` sent under ``node``/``resource``. ``base`` is the
    already-translated resource of (node, resource), so a stream translates it once."""
    request = ExportTraceServiceRequest()
    if not spans:
        return request
    now = time.time_ns()
    shared = None
    for src in spans:
        if src.HasField("resource"):  # its own resource: a ResourceSpans of its own
            rs = request.resource_spans.add()
            rs.resource.CopyFrom(resource_from_node(node, src.resource))
            _fill_span(rs.scope_spans.add().spans.add(), src, now)
            continue
        if shared is None:
            rs = request.resource_spans.add()
            rs.resource.CopyFrom(base if base is not None else resource_from_node(node, resource))
            shared = rs.scope_spans.add().spans
        _fill_span(shared.add(), src, now)
    return request
