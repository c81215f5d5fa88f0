"""OTLP/JSON for OTLP requests (traces, metrics, logs), both ways.

OTLP/JSON is protobuf's canonical JSON mapping (lowerCamelCase keys; 64-bit
integers as strings) with three differences the spec makes: enums are
integers, trace and span ids are **hex** strings (not base64), and receivers
ignore unknown fields.  The SDK's ``http/json`` exporter and the collector's
exporters write it with ``request_to_json``; the collector's receiver reads
it with ``json_to_request``.  Trace requests take a hand-written fast path; metrics and logs
requests go through protobuf's JSON mapping with their ids (log records' and exemplars'
``traceId`` / ``spanId``) turned to and from hex.
"""

from __future__ import annotations

import base64
import json

__all__ = [
    "TRACE_ID_SIZE",
    "SPAN_ID_SIZE",
    "OTLPJSONError",
    "hex_to_id",
    "id_to_hex",
    "request_to_json_dict",
    "request_to_json",
    "json_to_request",
]

TRACE_ID_SIZE = 16
SPAN_ID_SIZE = 8


class OTLPJSONError(ValueError):
    """A body that is not OTLP/JSON for a trace request; the message says where and why."""


def hex_to_id(value, size: int, where: str = "id") -> bytes:
    """The ``size`` bytes of a hex id (any case); ``""`` is the empty (unset) id.  Anything
    else (not a string, another length, non-hex digits) raises ``OTLPJSONError`` naming ``where``."""
    if not isinstance(value, str):
        raise OTLPJSONError(f"{where}: expected a hex string")
    if value == "":
        return b""
    if len(value) != size * 2:  # also refuses the whitespace bytes.fromhex would skip
        raise OTLPJSONError(f"{where}: id must be {size * 2} hex digits, got {len(value)} characters")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise OTLPJSONError(f"{where}: invalid hex id {value[:64]!r}") from None
    if len(raw) != size:
        raise OTLPJSONError(f"{where}: id must be {size} bytes ({size * 2} hex digits), got {len(raw)}")
    return raw


def id_to_hex(raw: bytes) -> str:
    """The OTLP/JSON form of an id: lowercase hex (written as it is, whatever its length)."""
    return bytes(raw).hex()


# -- writing ----------------------------------------------------------------------------------------

# A direct walk over the message, writing what protobuf's JSON mapping writes
# (``json_format.MessageToDict`` with integer enums: default values omitted, 64-bit
# integers as strings, bytes as base64) except ids, which are hex.  It is ~10x
# faster than MessageToDict, which inspects descriptors for every field of every
# span; tests/otlp compare the two on generated requests.


def _any_value(v) -> dict:
    kind = v.WhichOneof("value")
    if kind is None:
        return {}
    if kind == "string_value":
        return {"stringValue": v.string_value}
    if kind == "int_value":
        return {"intValue": str(v.int_value)}
    if kind == "bool_value":
        return {"boolValue": v.bool_value}
    if kind == "double_value":
        return {"doubleValue": _double(v.double_value)}
    if kind == "array_value":
        return {"arrayValue": _values(v.array_value.values)}
    if kind == "kvlist_value":
        return {"kvlistValue": _values(v.kvlist_value.values, _attributes)}
    return {"bytesValue": base64.b64encode(v.bytes_value).decode("ascii")}


def _double(x: float):
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def _values(values, convert=None) -> dict:
    if convert is not None:
        return {"values": convert(values)} if len(values) else {}
    return {"values": [_any_value(v) for v in values]} if len(values) else {}


def _attributes(attributes) -> list:
    out = []
    for kv in attributes:
        item = {"key": kv.key} if kv.key else {}
        if kv.HasField("value"):
            item["value"] = _any_value(kv.value)
        out.append(item)
    return out


def _put_attributes(obj: dict, msg) -> None:
    if len(msg.attributes):
        obj["attributes"] = _attributes(msg.attributes)
    if msg.dropped_attributes_count:
        obj["droppedAttributesCount"] = msg.dropped_attributes_count


def _span(s) -> dict:
    obj = {}
    if s.trace_id:
        obj["traceId"] = s.trace_id.hex()
    if s.span_id:
        obj["spanId"] = s.span_id.hex()
    if s.trace_state:
        obj["traceState"] = s.trace_state
    if s.parent_span_id:
        obj["parentSpanId"] = s.parent_span_id.hex()
    if s.flags:
        obj["flags"] = s.flags
    if s.name:
        obj["name"] = s.name
    if s.kind:
        obj["kind"] = s.kind
    if s.start_time_unix_nano:
        obj["startTimeUnixNano"] = str(s.start_time_unix_nano)
    if s.end_time_unix_nano:
        obj["endTimeUnixNano"] = str(s.end_time_unix_nano)
    _put_attributes(obj, s)
    if len(s.events):
        events = []
        for e in s.events:
            ev = {}
            if e.time_unix_nano:
                ev["timeUnixNano"] = str(e.time_unix_nano)
            if e.name:
                ev["name"] = e.name
            _put_attributes(ev, e)
            events.append(ev)
        obj["events"] = events
    if s.dropped_events_count:
        obj["droppedEventsCount"] = s.dropped_events_count
    if len(s.links):
        links = []
        for link in s.links:
            lk = {}
            if link.trace_id:
                lk["traceId"] = link.trace_id.hex()
            if link.span_id:
                lk["spanId"] = link.span_id.hex()
            if link.trace_state:
                lk["traceState"] = link.trace_state
            _put_attributes(lk, link)
            if link.flags:
                lk["flags"] = link.flags
            links.append(lk)
        obj["links"] = links
    if s.dropped_links_count:
        obj["droppedLinksCount"] = s.dropped_links_count
    if s.HasField("status"):
        st = {}
        if s.status.message:
            st["message"] = s.status.message
        if s.status.code:
            st["code"] = s.status.code
        obj["status"] = st
    return obj


def request_to_json_dict(request) -> dict:
    """The OTLP/JSON object of an ``ExportTraceServiceRequest`` message."""
    out = []
    for rs in request.resource_spans:
        robj: dict[str, object] = {}
        if rs.HasField("resource"):
            res: dict[str, object] = {}
            _put_attributes(res, rs.resource)
            robj["resource"] = res
        scopes = []
        for ss in rs.scope_spans:
            sobj: dict[str, object] = {}
            if ss.HasField("scope"):
                sc = ss.scope
                scope = {}
                if sc.name:
                    scope["name"] = sc.name
                if sc.version:
                    scope["version"] = sc.version
                _put_attributes(scope, sc)
                sobj["scope"] = scope
            if len(ss.spans):
                sobj["spans"] = [_span(s) for s in ss.spans]
            if ss.schema_url:
                sobj["schemaUrl"] = ss.schema_url
            scopes.append(sobj)
        if scopes:
            robj["scopeSpans"] = scopes
        if rs.schema_url:
            robj["schemaUrl"] = rs.schema_url
        out.append(robj)
    return {"resourceSpans": out} if out else {}


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _object(obj: dict, big_key: str, write_items) -> str:
    """``obj`` as JSON with its list ``big_key`` written item by item (same key order)."""
    return (
        "{"
        + ",".join(
            f'"{key}":[' + ",".join(write_items(value)) + "]" if key == big_key else f"{_dumps(key)}:{_dumps(value)}"
            for key, value in obj.items()
        )
        + "}"
    )


def _scope_spans(items) -> list[str]:
    return [_object(ss, "spans", lambda spans: [_dumps(span) for span in spans]) for ss in items]


_ID_KEYS = {"traceId": TRACE_ID_SIZE, "trace_id": TRACE_ID_SIZE, "spanId": SPAN_ID_SIZE, "span_id": SPAN_ID_SIZE}


def _ids_to_hex(obj) -> None:
    """Protobuf's JSON of a metrics or logs request, in place: base64 ids → hex.  Only log
    records and exemplars have ``traceId``/``spanId`` keys (attributes are key/value lists, so
    an attribute named ``traceId`` is a value, never a key)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in _ID_KEYS and isinstance(value, str):
                obj[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)
    elif isinstance(obj, list):
        for item in obj:
            _ids_to_hex(item)


def _ids_to_b64(obj, where: str) -> None:
    """The reverse of ``_ids_to_hex`` for a body being read: hex ids → base64, checked."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in _ID_KEYS and value is not None:
                obj[key] = base64.b64encode(hex_to_id(value, _ID_KEYS[key], f"{where}.{key}")).decode()
            else:
                _ids_to_b64(value, f"{where}.{key}" if where else key)
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            _ids_to_b64(item, f"{where}[{i}]")


def _is_trace_request(request) -> bool:
    return request.DESCRIPTOR.full_name == "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"


def request_to_json(request) -> bytes:
    """One compact OTLP/JSON document (UTF-8, no newline) for an ``Export*ServiceRequest``.

    Written span by span rather than in one ``json.dumps`` call: a single call on an
    8,192-span batch holds the GIL for ~100 ms, stalling the collector's event loop (and
    so every sender's acknowledgement) while a file exporter writes."""
    if not _is_trace_request(request):
        from google.protobuf import json_format

        data = json_format.MessageToDict(request, use_integers_for_enums=True)
        _ids_to_hex(data)
        return _dumps(data).encode("utf-8")
    data = request_to_json_dict(request)
    if not data:
        return b"{}"
    text = _object(data, "resourceSpans", lambda items: [_object(rs, "scopeSpans", _scope_spans) for rs in items])
    return text.encode("utf-8")


# -- reading ----------------------------------------------------------------------------------------

_TRACE_KEYS = ("traceId", "trace_id")  # the JSON name, then the proto name (protobuf's parser takes both)
_SPAN_KEYS = ("spanId", "span_id", "parentSpanId", "parent_span_id")
_LINK_SPAN_KEYS = ("spanId", "span_id")


def _hex_to_b64(obj: dict, keys: tuple, size: int, where: str) -> None:
    for key in keys:
        value = obj.get(key)
        if value is not None:
            obj[key] = base64.b64encode(hex_to_id(value, size, f"{where}.{key}")).decode()


def _items(obj: dict, *keys: str) -> list:
    for key in keys:
        value = obj.get(key)
        if value is not None:
            if not isinstance(value, list):
                raise OTLPJSONError(f"{key}: expected a list")
            return value
    return []


def json_to_request(body: bytes | str, request_class=None):
    """Parse an OTLP/JSON body into ``request_class`` (default ``ExportTraceServiceRequest``;
    also the metrics and logs requests), hex ids, unknown fields ignored; raises
    ``OTLPJSONError`` saying what is wrong and where."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request_class = request_class or ExportTraceServiceRequest

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise OTLPJSONError(f"invalid JSON: {e}") from None
    except RecursionError:  # deeply nested arrays/objects
        raise OTLPJSONError("invalid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise OTLPJSONError("expected a JSON object")
    if request_class is not ExportTraceServiceRequest:
        try:
            _ids_to_b64(data, "")
        except RecursionError:
            raise OTLPJSONError("invalid JSON: nested too deeply") from None
    for ri, rs in enumerate(_items(data, "resourceSpans", "resource_spans")):
        if not isinstance(rs, dict):
            raise OTLPJSONError("resourceSpans: expected objects")
        for si, ss in enumerate(_items(rs, "scopeSpans", "scope_spans")):
            if not isinstance(ss, dict):
                raise OTLPJSONError("scopeSpans: expected objects")
            for pi, span in enumerate(_items(ss, "spans")):
                if not isinstance(span, dict):
                    raise OTLPJSONError("spans: expected objects")
                where = f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]"
                _hex_to_b64(span, _TRACE_KEYS, TRACE_ID_SIZE, where)
                _hex_to_b64(span, _SPAN_KEYS, SPAN_ID_SIZE, where)
                for li, link in enumerate(_items(span, "links")):
                    if isinstance(link, dict):
                        _hex_to_b64(link, _TRACE_KEYS, TRACE_ID_SIZE, f"{where}.links[{li}]")
                        _hex_to_b64(link, _LINK_SPAN_KEYS, SPAN_ID_SIZE, f"{where}.links[{li}]")
    try:
        return json_format.ParseDict(data, request_class(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, OverflowError) as e:  # OverflowError: 1e999 as an int
        raise OTLPJSONError(f"invalid OTLP JSON: {e}") from None
    except RecursionError:
        raise OTLPJSONError("invalid OTLP JSON: nested too deeply") from None
