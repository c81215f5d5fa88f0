"""OTLP JSON encoding of trace requests (what the OTLP/HTTP ``json`` encoding
and the file exporter write): lowerCamelCase keys, integer enums and, unlike
protobuf's canonical JSON mapping, trace/span ids as hex strings."""
from __future__ import annotations

import base64
import json

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["request_to_otlp_json"]

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _ids_to_hex(obj: dict) -> None:
    for key in _ID_KEYS:
        value = obj.get(key)
        if value:
            obj[key] = base64.b64decode(value).hex()


def request_to_otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """One compact OTLP JSON document (no newline) for ``request``."""
    data = json_format.MessageToDict(request, use_integers_for_enums=True)
    for rs in data.get("resourceSpans", ()):
        for ss in rs.get("scopeSpans", ()):
            for span in ss.get("spans", ()):
                _ids_to_hex(span)
                for link in span.get("links", ()):
                    _ids_to_hex(link)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
