"""Zipkin (v2 JSON, v2 protobuf, v1 JSON) -> OTLP ``ExportTraceServiceRequest``.

Follows the OpenTelemetry specification's Zipkin mapping read in reverse, and the
Go Collector's zipkin translator where the specification is silent:

| Zipkin                                   | OTLP                                                         |
|------------------------------------------|--------------------------------------------------------------|
| traceId (16 or 32 hex / 8 or 16 bytes)   | trace_id, 64-bit ids left-padded with zeros to 16 bytes      |
| id, parentId (parentId == id ignored)    | span_id, parent_span_id                                      |
| kind CLIENT/SERVER/PRODUCER/CONSUMER     | the same SpanKind; absent -> INTERNAL (the spec maps         |
|                                          | INTERNAL to an absent kind); a ``span.kind`` tag is used     |
|                                          | when the kind is absent                                      |
| timestamp, duration (µs)                 | start/end in ns; no timestamp -> start 0 and the attribute   |
|                                          | ``otel.zipkin.absentField.startTime`` = true (as Go)         |
| localEndpoint.serviceName                | resource ``service.name`` (spans grouped by resource)        |
| localEndpoint ipv4/ipv6, port            | ``net.host.ip``, ``net.host.port``                           |
| remoteEndpoint.serviceName               | ``peer.service`` unless a ``peer.service`` tag is present    |
| remoteEndpoint ipv4/ipv6, port           | ``net.peer.ip``, ``net.peer.port`` unless tags carry them    |
| tags                                     | attributes: strings, or typed (int, double, bool) with       |
|                                          | ``parse_string_tags``                                        |
| tags of resource conventions (service.*, | resource attributes (the SDK exporters flatten the resource  |
| host.*, process.*, telemetry.*, ...)     | into tags)                                                   |
| otel.scope.name/version (or              | instrumentation scope                                        |
| otel.library.name/version)               |                                                              |
| otel.status_code OK / ERROR              | status code                                                  |
| error tag                                | status ERROR, its value (unless "true"/"") the description;  |
|                                          | ``error: "false"`` is dropped                                |
| w3c.tracestate tag                       | trace_state                                                  |
| otel.dropped_{attributes,events,links}   | the span's dropped counts                                    |
| _count tags                              |                                                              |
| annotation ``{"name": {attrs}}`` (spec)  | event ``name`` with typed attributes                         |
| other annotations                        | event named by the value                                     |

v1 JSON spans are first converted to the v2 shape (as Zipkin's V1SpanConverter does):
core annotations cs/cr -> CLIENT, sr/ss -> SERVER, ms -> PRODUCER, mr -> CONSUMER (and
they supply the local endpoint and, without a span timestamp, start and end);
binary annotations ca/sa/ma give the remote endpoint, ``lc`` becomes the ``component``
attribute, other binary annotations become attributes (bool and number values typed).
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ..legacy_proto.zipkin import zipkin_pb2

__all__ = [
    "ZipkinError",
    "v2_json_to_request",
    "v2_proto_to_request",
    "v1_json_to_request",
    "typed_tag",
    "START_TIME_ABSENT",
]

START_TIME_ABSENT = "otel.zipkin.absentField.startTime"
SCOPE_NAME_KEYS = ("otel.scope.name", "otel.library.name")
SCOPE_VERSION_KEYS = ("otel.scope.version", "otel.library.version")
_KINDS = {"CLIENT": 3, "SERVER": 2, "PRODUCER": 4, "CONSUMER": 5}
_TAG_KINDS = {"client": 3, "server": 2, "producer": 4, "consumer": 5, "internal": 1}
_PROTO_KINDS = {1: 3, 2: 2, 3: 4, 4: 5}
_INTERNAL = 1
_STATUS_CODES = {"OK": 1, "STATUS_CODE_OK": 1, "ERROR": 2, "STATUS_CODE_ERROR": 2, "UNSET": 0, "STATUS_CODE_UNSET": 0}
_DROPPED = {
    "otel.dropped_attributes_count": "dropped_attributes_count",
    "otel.dropped_events_count": "dropped_events_count",
    "otel.dropped_links_count": "dropped_links_count",
}
# resource semantic conventions: such tags describe the process, not the span
_RESOURCE_PREFIXES = (
    "service.",
    "telemetry.",
    "host.",
    "os.",
    "process.",
    "container.",
    "k8s.",
    "cloud.",
    "deployment.",
    "device.",
    "webengine.",
)
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_INT = re.compile(r"^[+-]?[0-9]+$")
_FLOAT = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_BOOLS = {
    "true": True,
    "True": True,
    "TRUE": True,
    "t": True,
    "T": True,
    "false": False,
    "False": False,
    "FALSE": False,
    "f": False,
    "F": False,
}
_INT64 = (-(1 << 63), (1 << 63) - 1)


class ZipkinError(ValueError):
    """The body is not valid Zipkin data (answered with 400 and this message); ``spans`` is
    how many spans the rejected body held when that is known (0 when it is not)."""

    def __init__(self, message: str, spans: int = 0):
        super().__init__(message)
        self.spans = spans


def _convert(items, convert, parse_string_tags: bool) -> ExportTraceServiceRequest:
    try:
        spans = [convert(item, i) for i, item in enumerate(items)]
    except ZipkinError as e:
        raise ZipkinError(str(e), len(items)) from None
    return spans_to_request(spans, parse_string_tags)


# ---------------------------------------------------------------------------
# Values


def typed_tag(value: str) -> Any:
    """``parse_string_tags``: a string tag as int, double or bool when it reads as one
    (integer first, then float, then bool, as the Go receiver), else the string."""
    if _INT.match(value):
        number = int(value)
        if _INT64[0] <= number <= _INT64[1]:
            return number
        return float(number)
    if _FLOAT.match(value):
        return float(value)
    flag = _BOOLS.get(value)
    if flag is not None:
        return flag
    return value


def _set_value(any_value, value) -> None:
    if isinstance(value, str):
        any_value.string_value = value
    elif isinstance(value, bool):
        any_value.bool_value = value
    elif isinstance(value, int):
        if _INT64[0] <= value <= _INT64[1]:
            any_value.int_value = value
        else:
            any_value.double_value = float(value)
    elif isinstance(value, float):
        any_value.double_value = value
    elif isinstance(value, (list, tuple)):
        values = any_value.array_value.values
        for item in value:
            _set_value(values.add(), item)
    elif value is None:
        any_value.string_value = ""
    else:
        any_value.string_value = json.dumps(value, separators=(",", ":"), sort_keys=True)


def _add_attr(attributes, key: str, value) -> None:
    kv = attributes.add()
    kv.key = key
    _set_value(kv.value, value)


def _hex_id(value, size: int, what: str, allow_short: bool) -> bytes:
    if not isinstance(value, str) or not value:
        raise ZipkinError(f"{what}: expected a hex string")
    n = len(value)
    if n > size * 2 or not _HEX.match(value) or (not allow_short and n != size * 2):
        raise ZipkinError(f"{what}: invalid id {value[:40]!r}")
    raw = bytes.fromhex(value.rjust(size * 2, "0"))
    if not any(raw):
        raise ZipkinError(f"{what}: all-zero id")
    return raw


def _trace_id_hex(value) -> bytes:
    if isinstance(value, str) and len(value) <= 16:
        return b"\0" * 8 + _hex_id(value, 8, "traceId", True)  # 64-bit trace id
    return _hex_id(value, 16, "traceId", True)


def _ip_text(ipv4, ipv6) -> str | None:
    if ipv6:
        return str(ipv6)
    if ipv4:
        return str(ipv4)
    return None


# ---------------------------------------------------------------------------
# The normalised span: every input format is brought to this shape first


class _Span:
    __slots__ = (
        "trace_id",
        "span_id",
        "parent_id",
        "kind",
        "name",
        "timestamp",
        "duration",
        "service",
        "local_ip",
        "local_port",
        "remote_service",
        "remote_ip",
        "remote_port",
        "annotations",
        "tags",
    )
    trace_id: bytes  # set by the decoder right after construction
    span_id: bytes

    def __init__(self):
        self.parent_id = b""
        self.kind = None
        self.name = ""
        self.timestamp = 0
        self.duration = 0
        self.service = ""
        self.local_ip = self.remote_ip = self.remote_service = None
        self.local_port = self.remote_port = 0
        self.annotations: list = []
        self.tags: dict = {}


def _micros(value, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ZipkinError(f"{what}: expected a non-negative number of microseconds")
    return int(value)


def _endpoint(value, what: str):
    """JSON endpoint -> (service name, ip text or None, port)."""
    if value is None:
        return "", None, 0
    if not isinstance(value, dict):
        raise ZipkinError(f"{what}: expected an object")
    service = value.get("serviceName") or ""
    if not isinstance(service, str):
        raise ZipkinError(f"{what}.serviceName: expected a string")
    port = value.get("port") or 0
    if isinstance(port, bool) or not isinstance(port, int):
        raise ZipkinError(f"{what}.port: expected an integer")
    ipv4, ipv6 = value.get("ipv4"), value.get("ipv6")
    for field_name, ip in (("ipv4", ipv4), ("ipv6", ipv6)):
        if ip is not None and not isinstance(ip, str):
            raise ZipkinError(f"{what}.{field_name}: expected a string")
    return service, _ip_text(ipv4, ipv6), port


def _load_json_list(body: bytes, what: str) -> list:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ZipkinError(f"invalid {what} JSON: {e}") from None
    if not isinstance(data, list):
        raise ZipkinError(f"{what}: expected a JSON array of spans")
    return data


def _v2_json_span(obj, i: int) -> _Span:
    if not isinstance(obj, dict):
        raise ZipkinError(f"spans[{i}]: expected an object")
    s = _Span()
    s.trace_id = _trace_id_hex(obj.get("traceId"))
    s.span_id = _hex_id(obj.get("id"), 8, "id", True)
    parent = obj.get("parentId")
    if parent:
        s.parent_id = _hex_id(parent, 8, "parentId", True)
    kind = obj.get("kind")
    if kind is not None:
        if kind not in _KINDS:
            raise ZipkinError(f"spans[{i}].kind: unknown kind {str(kind)[:20]!r}")
        s.kind = _KINDS[kind]
    name = obj.get("name")
    s.name = name if isinstance(name, str) else ""
    s.timestamp = _micros(obj.get("timestamp"), "timestamp")
    s.duration = _micros(obj.get("duration"), "duration")
    s.service, s.local_ip, s.local_port = _endpoint(obj.get("localEndpoint"), "localEndpoint")
    s.remote_service, s.remote_ip, s.remote_port = _endpoint(obj.get("remoteEndpoint"), "remoteEndpoint")
    annotations = obj.get("annotations")
    if annotations:
        if not isinstance(annotations, list):
            raise ZipkinError(f"spans[{i}].annotations: expected a list")
        for a in annotations:
            if not isinstance(a, dict) or not isinstance(a.get("value"), str):
                raise ZipkinError(f"spans[{i}].annotations: expected objects with a string value")
            s.annotations.append((_micros(a.get("timestamp"), "annotation timestamp"), a["value"]))
    tags = obj.get("tags")
    if tags:
        if not isinstance(tags, dict):
            raise ZipkinError(f"spans[{i}].tags: expected an object")
        if all(type(value) is str for value in tags.values()):  # the common case: one C-level pass
            s.tags = tags
            return s
        for key, value in tags.items():
            if not isinstance(value, str):
                # Zipkin v2 tags are strings; be lenient with primitive values some clients send
                if isinstance(value, (bool, int, float)):
                    value = json.dumps(value)
                else:
                    raise ZipkinError(f"spans[{i}].tags.{key}: expected a string")
            s.tags[key] = value
    return s


def _v1_json_span(obj, i: int) -> _Span:
    if not isinstance(obj, dict):
        raise ZipkinError(f"spans[{i}]: expected an object")
    s = _Span()
    trace_id = obj.get("traceId")
    high = obj.get("traceIdHigh")
    if high and isinstance(trace_id, str) and len(trace_id) <= 16:
        trace_id = str(high).rjust(16, "0") + trace_id.rjust(16, "0")
    s.trace_id = _trace_id_hex(trace_id)
    s.span_id = _hex_id(obj.get("id"), 8, "id", True)
    parent = obj.get("parentId")
    if parent:
        s.parent_id = _hex_id(parent, 8, "parentId", True)
    name = obj.get("name")
    s.name = name if isinstance(name, str) else ""
    s.timestamp = _micros(obj.get("timestamp"), "timestamp")
    s.duration = _micros(obj.get("duration"), "duration")
    first = last = None
    local = None
    annotations = obj.get("annotations") or []
    if not isinstance(annotations, list):
        raise ZipkinError(f"spans[{i}].annotations: expected a list")
    for a in annotations:
        if not isinstance(a, dict) or not isinstance(a.get("value"), str):
            raise ZipkinError(f"spans[{i}].annotations: expected objects with a string value")
        ts = _micros(a.get("timestamp"), "annotation timestamp")
        value = a["value"]
        endpoint = _endpoint(a.get("endpoint"), "annotation endpoint")
        if value in _V1_CORE:
            if s.kind is None:
                s.kind = _V1_CORE[value]
            if local is None and endpoint[0]:
                local = endpoint
            if ts:
                first = ts if first is None else min(first, ts)
                last = ts if last is None else max(last, ts)
            continue
        if local is None and endpoint[0]:
            local = endpoint
        s.annotations.append((ts, value))
    binary = obj.get("binaryAnnotations") or []
    if not isinstance(binary, list):
        raise ZipkinError(f"spans[{i}].binaryAnnotations: expected a list")
    fallback = None
    for b in binary:
        if not isinstance(b, dict) or not isinstance(b.get("key"), str):
            raise ZipkinError(f"spans[{i}].binaryAnnotations: expected objects with a string key")
        key, value = b["key"], b.get("value")
        endpoint = _endpoint(b.get("endpoint"), "binaryAnnotation endpoint")
        if key in ("ca", "sa", "ma") and value in (True, 1, "true", "1"):
            s.remote_service, s.remote_ip, s.remote_port = endpoint
            if s.kind is None:  # an address annotation alone still tells the side
                s.kind = {"ca": 2, "sa": 3, "ma": None}[key]
            continue
        if fallback is None and endpoint[0]:
            fallback = endpoint
        if key == "lc":
            key = "component"
        if isinstance(value, str):
            s.tags[key] = value
        elif isinstance(value, (bool, int, float)):
            s.tags[key] = value  # already typed in the v1 JSON
        elif value is None:
            s.tags[key] = ""
        else:
            raise ZipkinError(f"spans[{i}].binaryAnnotations.{key}: unsupported value")
    if local is None:
        local = fallback
    if local is not None:
        s.service, s.local_ip, s.local_port = local
    if not s.timestamp and first is not None and last is not None:
        s.timestamp, s.duration = first, last - first
    return s


_V1_CORE = {"cs": 3, "cr": 3, "sr": 2, "ss": 2, "ms": 4, "mr": 5}


def _ip_bytes(raw: bytes, what: str) -> str | None:
    if not raw:
        return None
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise ZipkinError(f"{what}: invalid address of {len(raw)} bytes") from None


def _proto_endpoint(ep, what: str):
    return ep.service_name, _ip_bytes(ep.ipv6, what) or _ip_bytes(ep.ipv4, what), ep.port


def _proto_span(p, i: int) -> _Span:
    s = _Span()
    if len(p.trace_id) == 8:
        s.trace_id = b"\0" * 8 + p.trace_id
    elif len(p.trace_id) == 16:
        s.trace_id = p.trace_id
    else:
        raise ZipkinError(f"spans[{i}].trace_id: expected 8 or 16 bytes, got {len(p.trace_id)}")
    if not any(s.trace_id):
        raise ZipkinError(f"spans[{i}].trace_id: all-zero id")
    if len(p.id) != 8 or not any(p.id):
        raise ZipkinError(f"spans[{i}].id: expected 8 non-zero bytes")
    s.span_id = p.id
    if p.parent_id:
        if len(p.parent_id) != 8:
            raise ZipkinError(f"spans[{i}].parent_id: expected 8 bytes")
        s.parent_id = p.parent_id
    s.kind = _PROTO_KINDS.get(p.kind)
    s.name = p.name
    s.timestamp, s.duration = p.timestamp, p.duration
    if p.HasField("local_endpoint"):
        s.service, s.local_ip, s.local_port = _proto_endpoint(p.local_endpoint, "local_endpoint")
    if p.HasField("remote_endpoint"):
        s.remote_service, s.remote_ip, s.remote_port = _proto_endpoint(p.remote_endpoint, "remote_endpoint")
    s.annotations = [(a.timestamp, a.value) for a in p.annotations]
    tags = p.tags
    s.tags = {key: tags[key] for key in tags}  # (iterating a upb map's keys is C; items() is not)
    return s


# ---------------------------------------------------------------------------
# Building the OTLP request


def _event(event, value: str) -> None:
    """An annotation value -> event name and attributes. The specification's form is
    ``{"name": {"key": value, ...}}`` (what the OpenTelemetry SDK exporters send)."""
    if value.startswith("{") and value.endswith("}"):
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        if isinstance(data, dict) and len(data) == 1:
            ((name, attrs),) = data.items()
            if isinstance(attrs, dict):
                event.name = name
                for key, item in attrs.items():
                    _add_attr(event.attributes, key, item)
                return
    event.name = value


def _fill_span(span, s: _Span, tags: dict, parse_string_tags: bool) -> None:
    span.trace_id = s.trace_id
    span.span_id = s.span_id
    if s.parent_id and s.parent_id != s.span_id:
        span.parent_span_id = s.parent_id
    span.name = s.name
    kind = s.kind
    tag_kind = tags.pop("span.kind", None) if kind is None else None
    if kind is None:
        kind = _TAG_KINDS.get(tag_kind.lower(), _INTERNAL) if isinstance(tag_kind, str) else _INTERNAL
    span.kind = kind
    if s.timestamp:
        span.start_time_unix_nano = s.timestamp * 1000
        span.end_time_unix_nano = (s.timestamp + s.duration) * 1000
    else:
        span.end_time_unix_nano = s.duration * 1000
    trace_state = tags.pop("w3c.tracestate", None)
    if isinstance(trace_state, str):
        span.trace_state = trace_state

    # status: otel.status_code, then the error tag (its value is the description)
    code_tag = tags.pop("otel.status_code", None)
    description = tags.pop("otel.status_description", None)
    error = tags.pop("error", None)
    code = 0
    if code_tag is not None:
        code = _STATUS_CODES.get(str(code_tag).upper(), -1)
        if code < 0:  # unknown: keep what was sent
            tags["otel.status_code"] = code_tag
            code = 0
    if error is not None:
        text = error if isinstance(error, str) else json.dumps(error)
        if text.lower() == "false":
            pass  # the specification says a false error tag should be removed
        else:
            code = 2
            if description is None and text.lower() != "true":
                description = text
    if code:
        span.status.code = code
        if code == 2 and description:
            span.status.message = str(description)
    elif description is not None:
        tags["otel.status_description"] = description

    for key, attr in _DROPPED.items():
        value = tags.pop(key, None)
        if value is not None:
            try:
                setattr(span, attr, max(0, int(value)))
            except (TypeError, ValueError):
                tags[key] = value

    attributes = span.attributes
    add = attributes.add
    for key, value in tags.items():
        if type(value) is str:
            if parse_string_tags:
                value = typed_tag(value)
            else:
                kv = add()
                kv.key = key
                kv.value.string_value = value
                continue
        _add_attr(attributes, key, value)
    if s.local_ip and "net.host.ip" not in tags:
        _add_attr(attributes, "net.host.ip", s.local_ip)
    if s.local_port and "net.host.port" not in tags:
        _add_attr(attributes, "net.host.port", s.local_port)
    if s.remote_service and "peer.service" not in tags:
        _add_attr(attributes, "peer.service", s.remote_service)
    if s.remote_ip and "net.peer.ip" not in tags:
        _add_attr(attributes, "net.peer.ip", s.remote_ip)
    if s.remote_port and "net.peer.port" not in tags:
        _add_attr(attributes, "net.peer.port", s.remote_port)
    if not s.timestamp:
        _add_attr(attributes, START_TIME_ABSENT, True)

    events = span.events
    for ts, value in s.annotations:
        event = events.add()
        event.time_unix_nano = ts * 1000
        _event(event, value)


def _split_tags(tags: dict):
    """-> (resource tags, scope (name, version), span tags); ``tags`` is not modified."""
    resource, span_tags = {}, {}
    name = version = ""
    for key, value in tags.items():
        if key in SCOPE_NAME_KEYS:
            name = name or str(value)
        elif key in SCOPE_VERSION_KEYS:
            version = version or str(value)
        elif key.startswith(_RESOURCE_PREFIXES):
            resource[key] = value
        else:
            span_tags[key] = value
    return resource, (name, version), span_tags


def spans_to_request(spans: list[_Span], parse_string_tags: bool) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    by_resource: dict = {}
    for s in spans:
        resource_tags, scope, tags = _split_tags(s.tags)
        rkey = (s.service, tuple(sorted((k, str(v)) for k, v in resource_tags.items())))
        entry = by_resource.get(rkey)
        if entry is None:
            rs = request.resource_spans.add()
            attrs = rs.resource.attributes
            if s.service:
                _add_attr(attrs, "service.name", s.service)
            for key, value in resource_tags.items():
                if key == "service.name" and s.service:
                    continue  # the local endpoint names the service
                if parse_string_tags and isinstance(value, str):
                    value = typed_tag(value)
                _add_attr(attrs, key, value)
            entry = by_resource[rkey] = (rs, {})
        rs, scopes = entry
        ss = scopes.get(scope)
        if ss is None:
            ss = scopes[scope] = rs.scope_spans.add()
            ss.scope.name, ss.scope.version = scope
        _fill_span(ss.spans.add(), s, tags, parse_string_tags)
    return request


# ---------------------------------------------------------------------------
# Entry points


def v2_json_to_request(body: bytes, parse_string_tags: bool = False) -> ExportTraceServiceRequest:
    return _convert(_load_json_list(body, "Zipkin v2"), _v2_json_span, parse_string_tags)


def v1_json_to_request(body: bytes, parse_string_tags: bool = False) -> ExportTraceServiceRequest:
    return _convert(_load_json_list(body, "Zipkin v1"), _v1_json_span, parse_string_tags)


def v2_proto_to_request(body: bytes, parse_string_tags: bool = False) -> ExportTraceServiceRequest:
    try:
        message = zipkin_pb2.ListOfSpans.FromString(body)
    except DecodeError as e:
        raise ZipkinError(f"invalid Zipkin ListOfSpans protobuf: {e}") from None
    return _convert(message.spans, _proto_span, parse_string_tags)
