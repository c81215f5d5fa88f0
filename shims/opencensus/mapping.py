"""OpenCensus data -> OpenTelemetry data: pure conversion functions.

| OpenCensus                               | OpenTelemetry                                              |
|------------------------------------------|------------------------------------------------------------|
| SpanKind UNSPECIFIED / SERVER / CLIENT   | INTERNAL / SERVER / CLIENT                                 |
| attribute value                          | attribute (non-primitive values as ``str()``)              |
| annotation (description, attributes)     | event named by the description                             |
| MessageEvent(id, type, sizes, timestamp) | event named ``str(id)``: ``message.event.type`` (SENT /    |
|                                          | RECEIVED / TYPE_UNSPECIFIED), ``message.event.id``,        |
|                                          | ``message.event.size.uncompressed`` / ``.compressed``      |
| Link(trace_id, span_id, type, attrs)     | link + ``opencensus.link.type`` (CHILD_LINKED_SPAN, ...)   |
| Status code 0                            | StatusCode.OK (a description: dropped, warned once a       |
|                                          | minute at most)                                            |
| Status code != 0, message                | StatusCode.ERROR with the message as description           |
| (any explicit status)                    | attribute ``opencensus.status_code`` = the canonical code  |
| Tracer's SpanContext with a span id      | remote parent SpanContext (is_remote, SAMPLED from         |
| (hex ids, trace_options, tracestate)     | trace_options bit 0, TraceState); without a span id (the   |
|                                          | Tracer's default context) it is no parent: a new trace     |
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

_log = logging.getLogger(__name__)

STATUS_CODE_ATTRIBUTE = "opencensus.status_code"
LINK_TYPE_ATTRIBUTE = "opencensus.link.type"

# opencensus.trace.span.SpanKind values
OC_UNSPECIFIED, OC_SERVER, OC_CLIENT = 0, 1, 2
_KIND_TO_OTEL = {OC_UNSPECIFIED: SpanKind.INTERNAL, OC_SERVER: SpanKind.SERVER, OC_CLIENT: SpanKind.CLIENT}
_KIND_FROM_OTEL = {SpanKind.SERVER: OC_SERVER, SpanKind.CLIENT: OC_CLIENT}
_MESSAGE_TYPES = {0: "TYPE_UNSPECIFIED", 1: "SENT", 2: "RECEIVED"}
_LINK_TYPES = {0: "TYPE_UNSPECIFIED", 1: "CHILD_LINKED_SPAN", 2: "PARENT_LINKED_SPAN"}
_PRIMITIVES = (str, bool, int, float)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)


def span_kind(oc_kind) -> SpanKind:
    return _KIND_TO_OTEL.get(oc_kind, SpanKind.INTERNAL)


def oc_span_kind(otel_kind) -> int:
    return _KIND_FROM_OTEL.get(otel_kind, OC_UNSPECIFIED)


def attribute_value(value):
    if isinstance(value, _PRIMITIVES):
        return value
    return str(value)


def attributes(oc_attributes) -> dict:
    """An OpenCensus ``Attributes`` object or plain mapping -> attribute dict."""
    if oc_attributes is None:
        return {}
    mapping = getattr(oc_attributes, "attributes", oc_attributes)
    return {str(k): attribute_value(v) for k, v in dict(mapping).items()}


def status(oc_status) -> tuple[Status, int]:
    """OpenCensus ``Status`` -> (OpenTelemetry ``Status``, canonical code)."""
    code = int(getattr(oc_status, "canonical_code", getattr(oc_status, "code", 0)) or 0)
    if code == 0:
        return Status(StatusCode.OK), 0
    return Status(StatusCode.ERROR, getattr(oc_status, "description", None) or None), code


class _OkDescriptionWarning:
    """``Status(0, "message")``: OpenTelemetry keeps no description on OK, and the official shim
    (through the API's ``Status``) warns on every call; here at most once per ``interval`` seconds."""

    interval = 60.0
    last: float | None = None
    suppressed = 0


def warn_ok_description(description) -> None:
    now = time.monotonic()
    state = _OkDescriptionWarning
    if state.last is not None and now - state.last < state.interval:
        state.suppressed += 1
        return
    suppressed, state.suppressed, state.last = state.suppressed, 0, now
    _log.warning(
        "OpenCensus set_status(Status(0, %r)): description should only be set when status_code is set to "
        "StatusCode.ERROR; the span's status is OK without it%s",
        description,
        f" ({suppressed} more since the last warning)" if suppressed else "",
    )


def iso_to_ns(timestamp) -> int | None:
    """OpenCensus ISO-8601 UTC timestamp string (or datetime) -> epoch nanoseconds."""
    if timestamp is None:
        return None
    try:
        moment = timestamp if isinstance(timestamp, datetime) else datetime.fromisoformat(str(timestamp).rstrip("Z"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    except (TypeError, ValueError):
        _log.debug("unparsable OpenCensus timestamp %r; using now", timestamp)
        return None


def message_event(event) -> tuple[str, dict, int | None]:
    """OpenCensus ``MessageEvent`` -> (event name, attributes, timestamp ns)."""
    attrs: dict = {"message.event.type": _MESSAGE_TYPES.get(event.type, str(event.type))}
    if event.id is not None:
        attrs["message.event.id"] = attribute_value(event.id)
    if event.uncompressed_size_bytes is not None:
        attrs["message.event.size.uncompressed"] = int(event.uncompressed_size_bytes)
    if event.compressed_size_bytes is not None:
        attrs["message.event.size.compressed"] = int(event.compressed_size_bytes)
    return str(event.id), attrs, iso_to_ns(event.timestamp)


def _hex_id(value, digits: int) -> int:
    if not isinstance(value, str) or len(value) != digits:
        raise ValueError(f"expected {digits} hex digits, got {value!r}")
    number = int(value, 16)
    if number == 0:
        raise ValueError("all-zero id")
    return number


def link(oc_link) -> tuple[SpanContext, dict]:
    """OpenCensus ``Link`` -> (OpenTelemetry SpanContext, link attributes).
    Raises ``ValueError`` for malformed ids."""
    context = SpanContext(_hex_id(oc_link.trace_id, 32), _hex_id(oc_link.span_id, 16), is_remote=True)
    attrs = attributes(oc_link.attributes)
    attrs[LINK_TYPE_ATTRIBUTE] = _LINK_TYPES.get(oc_link.type, str(oc_link.type))
    return context, attrs


def trace_state(oc_tracestate) -> TraceState | None:
    if not oc_tracestate:
        return None
    try:
        return TraceState(list(oc_tracestate.items()))
    except Exception:  # malformed entries: drop the trace state, keep the parent
        return None


def remote_parent(oc_span_context, sampled: bool | None = None) -> SpanContext | None:
    """The OpenTelemetry parent described by an OpenCensus ``SpanContext``
    (typically built by OpenCensus middleware from request headers), or None
    when it names no parent span."""
    if oc_span_context is None or oc_span_context.span_id is None:
        return None
    try:
        trace_id = _hex_id(oc_span_context.trace_id, 32)
        span_id = _hex_id(oc_span_context.span_id, 16)
    except ValueError:
        return None
    if sampled is None:
        options = getattr(oc_span_context, "trace_options", None)
        sampled = bool(options is not None and options.get_enabled())
    return SpanContext(
        trace_id,
        span_id,
        # from a header or built by the caller (custom propagation, a message queue): either way it did
        # not come through the OpenTelemetry context, so it is a remote parent (the OpenCensus model)
        is_remote=True,
        trace_flags=_SAMPLED if sampled else _NOT_SAMPLED,
        trace_state=trace_state(getattr(oc_span_context, "tracestate", None)),
    )
