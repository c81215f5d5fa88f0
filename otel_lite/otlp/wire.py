"""Protobuf wire framing for OTLP trace requests, written by hand.

The SDK's encoder writes spans straight to wire bytes and the collector's tail
sampler joins already-serialized spans into a request; both frame fields the
same way, with this module: varints, length-delimited fields and the tags of
the request's envelope (``ExportTraceServiceRequest`` -> ``ResourceSpans`` ->
``ScopeSpans``).  A tag is ``field_number << 3 | wire_type`` as one byte.
"""

from __future__ import annotations

__all__ = [
    "varint",
    "len_field",
    "T_REQUEST_RESOURCE_SPANS",
    "T_RESOURCE_SPANS_RESOURCE",
    "T_RESOURCE_SPANS_SCOPE_SPANS",
    "T_SCOPE_SPANS_SCOPE",
    "T_SCOPE_SPANS_SPAN",
    "T_SCHEMA_URL",
]


def varint_slow(value: int) -> bytes:
    """The base-128 varint of a non-negative ``value`` (no table)."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


VARINT_TABLE_SIZE = 4096  # covers the lengths of all but unusually large spans and values (~150 KiB)
VARINTS = tuple(varint_slow(i) for i in range(VARINT_TABLE_SIZE))


def varint(value: int) -> bytes:
    """The varint of a non-negative ``value`` (small ones from a table)."""
    return VARINTS[value] if value < VARINT_TABLE_SIZE else varint_slow(value)


def len_field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, varint length, payload."""
    n = len(payload)
    return tag + (VARINTS[n] if n < VARINT_TABLE_SIZE else varint_slow(n)) + payload


# ExportTraceServiceRequest.resource_spans = 1
T_REQUEST_RESOURCE_SPANS = b"\x0a"
# ResourceSpans: resource = 1, scope_spans = 2, schema_url = 3
T_RESOURCE_SPANS_RESOURCE = b"\x0a"
T_RESOURCE_SPANS_SCOPE_SPANS = b"\x12"
# ScopeSpans: scope = 1, spans = 2, schema_url = 3
T_SCOPE_SPANS_SCOPE = b"\x0a"
T_SCOPE_SPANS_SPAN = b"\x12"
T_SCHEMA_URL = b"\x1a"  # field 3 of both ResourceSpans and ScopeSpans
