"""OTLP/JSON for trace requests, both ways.

OTLP/JSON is protobuf's canonical JSON mapping (lowerCamelCase keys; 64-bit
integers as strings) with three differences the spec makes: enums are
integers, trace and span ids are **hex** strings (not base64), and receivers
ignore unknown fields.  The SDK's ``http/json`` exporter and the collector's
exporters write it with ``request_to_json``; the collector's receiver reads
it with ``json_to_request``.
"""
from __future__ import annotations

import base64
import json

__all__ = ["TRACE_ID_SIZE", "SPAN_ID_SIZE", "OTLPJSONError", "hex_to_id", "id_to_hex", "request_to_json_dict",
           "request_to_json", "json_to_request"]

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

_SPAN_ID_KEYS = ("traceId", "spanId", "parentSpanId")
_LINK_ID_KEYS = ("traceId", "spanId")


def _ids_to_hex(obj: dict, keys: tuple) -> None:
    for key in keys:
        value = obj.get(key)
        if value:  # MessageToDict writes bytes as base64
            obj[key] = base64.b64decode(value).hex()


def request_to_json_dict(request) -> dict:
    """The OTLP/JSON object of an ``ExportTraceServiceRequest`` message."""
    from google.protobuf import json_format

    data = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in data.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                _ids_to_hex(span, _SPAN_ID_KEYS)
                for link in span.get("links", ()):
                    _ids_to_hex(link, _LINK_ID_KEYS)
    return data


def request_to_json(request) -> bytes:
    """One compact OTLP/JSON document (UTF-8, no newline) for an ``ExportTraceServiceRequest``."""
    return json.dumps(request_to_json_dict(request), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


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


def json_to_request(body: bytes | str):
    """Parse an OTLP/JSON body into an ``ExportTraceServiceRequest`` (hex ids, unknown
    fields ignored); raises ``OTLPJSONError`` saying what is wrong and where."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise OTLPJSONError(f"invalid JSON: {e}") from None
    except RecursionError:  # deeply nested arrays/objects
        raise OTLPJSONError("invalid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise OTLPJSONError("expected a JSON object")
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
        return json_format.ParseDict(data, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, OverflowError) as e:  # OverflowError: 1e999 as an int
        raise OTLPJSONError(f"invalid OTLP JSON: {e}") from None
    except RecursionError:
        raise OTLPJSONError("invalid OTLP JSON: nested too deeply") from None
