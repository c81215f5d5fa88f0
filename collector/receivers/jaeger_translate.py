"""Jaeger (Thrift and api_v2 protobuf) → OTLP, as the Go Collector's pkg/translator/jaeger does.

Both front ends reduce a span to plain Python values (tags become an ordered
``{key: value}`` whose Python type carries the Jaeger type: str, float, bool,
int, bytes) and share one writer, so every mapping rule lives once:

- trace id: 128 bits from traceIdHigh/Low (64-bit senders leave the high half 0);
- parent: parentSpanId, else the first CHILD_OF reference in the same trace;
  every other reference becomes a link with ``opentracing.ref_type``;
- tags → attributes with their types; ``span.kind`` → SpanKind; ``error`` (bool
  true), ``otel.status_code``/``otel.status_description`` and, failing those,
  ``http.status_code`` → status; ``w3c.tracestate`` → trace_state;
  ``otel.scope.*``/``otel.library.*`` → the instrumentation scope. Those tags are
  removed from the attributes;
- process serviceName → ``service.name``, process tags → resource attributes
  (``hostname`` → ``host.name``, ``jaeger.version`` → ``opencensus.exporterversion``
  = "Jaeger-<version>", as Go);
- logs → events named by their ``event`` field (removed), else "event";
- flags: the sampled bit becomes the W3C sampled trace flag; µs → ns.
"""

from __future__ import annotations

import struct
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

__all__ = ["BadInput", "thrift_batch_to_request", "proto_batches_to_request", "DEFAULT_EVENT_NAME"]

DEFAULT_EVENT_NAME = "event"
NO_SERVICE_NAME = "OTLPResourceNoServiceName"  # Go's placeholder for "no service.name", never exported

_KINDS = {
    "client": Span.SPAN_KIND_CLIENT,
    "server": Span.SPAN_KIND_SERVER,
    "producer": Span.SPAN_KIND_PRODUCER,
    "consumer": Span.SPAN_KIND_CONSUMER,
    "internal": Span.SPAN_KIND_INTERNAL,
}
_REF_TYPES = ("child_of", "follows_from")  # index = Thrift SpanRefType = proto SpanRefType
_SAMPLED = 0x1
_pack_q = struct.Struct(">q").pack
_pack_qq = struct.Struct(">qq").pack


class BadInput(ValueError):
    """Data that decodes but cannot be translated (e.g. an id of the wrong length)."""


# ---------------------------------------------------------------------------
# The shared writer


def _put_attributes(dest, attrs: dict) -> None:
    # add(key=...) then one field set: ~3x faster with upb than add() + two assignments
    add = dest.add
    for key, value in attrs.items():
        t = type(value)  # exact types: bool is an int subclass
        if t is str:
            add(key=key).value.string_value = value
        elif t is int:
            add(key=key).value.int_value = value
        elif t is float:
            add(key=key).value.double_value = value
        elif t is bool:
            add(key=key).value.bool_value = value
        else:
            add(key=key).value.bytes_value = value


def _http_status(value, kind: int) -> int | None:
    """Status code for an ``http.status_code`` tag (Go's getStatusCodeFromHTTPStatusAttr), None to ignore."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            return None
    elif not isinstance(value, int):
        return None
    if kind == Span.SPAN_KIND_SERVER and 400 <= value < 500:  # a server's 4xx is the client's fault
        return Status.STATUS_CODE_UNSET
    return Status.STATUS_CODE_UNSET if 100 <= value < 399 else Status.STATUS_CODE_ERROR


def _status(kind: int, attrs: dict) -> tuple[int, str] | None:
    """Go's setInternalSpanStatus: the ``error`` tag wins, then otel.status_code, then http.status_code."""
    code: int = Status.STATUS_CODE_UNSET
    message, exists = "", False
    if attrs.get("error") is True:
        del attrs["error"]
        code, exists = Status.STATUS_CODE_ERROR, True
        if "otel.status_description" in attrs:
            message = str(attrs.pop("otel.status_description"))
        elif isinstance(attrs.get("http.status_message"), str):
            message = attrs["http.status_message"]
    if "otel.status_code" in attrs:
        otel_code = attrs.pop("otel.status_code")
        if not exists:
            exists = True
            name = otel_code.upper() if isinstance(otel_code, str) else ""
            if name == "OK":
                code = Status.STATUS_CODE_OK
            elif name == "ERROR":
                code = Status.STATUS_CODE_ERROR
            if "otel.status_description" in attrs:
                message = str(attrs.pop("otel.status_description"))
    elif not exists and "http.status_code" in attrs:
        http_code = _http_status(attrs["http.status_code"], kind)
        if http_code is not None:
            if http_code != Status.STATUS_CODE_UNSET:
                code, exists = http_code, True
            if isinstance(attrs.get("http.status_message"), str):
                message = attrs["http.status_message"]
    return (code, message) if exists else None


def _scope_of(attrs: dict) -> tuple[str, str]:
    name = attrs.pop("otel.scope.name", None)
    if name is not None:
        version = attrs.pop("otel.scope.version", "")
    else:
        name = attrs.pop("otel.library.name", "")
        version = attrs.pop("otel.library.version", "")
    return (name if isinstance(name, str) else "", version if isinstance(version, str) else "")


class _ResourceWriter:
    """Fills one ResourceSpans, one ScopeSpans per distinct scope."""

    __slots__ = ("rs", "scopes", "count")

    def __init__(self, request, service_name: str, tags: dict):
        self.rs = request.resource_spans.add()
        self.scopes: dict[tuple[str, str], Any] = {}  # scope -> its ScopeSpans message
        self.count = 0
        attrs = {}
        if service_name and service_name != NO_SERVICE_NAME:
            attrs["service.name"] = service_name
        attrs.update(tags)
        if "hostname" in attrs and "host.name" not in attrs:
            attrs["host.name"] = attrs.pop("hostname")
        if "jaeger.version" in attrs and "opencensus.exporterversion" not in attrs:
            version = attrs.pop("jaeger.version")
            attrs["opencensus.exporterversion"] = f"Jaeger-{version if isinstance(version, str) else ''}"
        _put_attributes(self.rs.resource.attributes, attrs)

    def span(
        self,
        trace_id: bytes,
        span_id: bytes,
        parent_id: bytes,
        name: str,
        flags: int,
        start_ns: int,
        end_ns: int,
        attrs: dict,
        links: list,
        events: list,
    ) -> None:
        """``links``: (trace_id, span_id, ref_type name); ``events``: (time_ns, name, attrs)."""
        scope = _scope_of(attrs)
        ss = self.scopes.get(scope)
        if ss is None:
            ss = self.scopes[scope] = self.rs.scope_spans.add()
            if scope[0] or scope[1]:
                ss.scope.name, ss.scope.version = scope
        kind = attrs.pop("span.kind", None)
        if kind is not None:
            kind = _KINDS.get(kind, Span.SPAN_KIND_UNSPECIFIED) if isinstance(kind, str) else Span.SPAN_KIND_UNSPECIFIED
        tracestate = attrs.pop("w3c.tracestate", None)
        # the W3C sampled bit; Jaeger's debug bit has no OTLP counterpart
        span = ss.spans.add(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent_id,
            name=name,
            start_time_unix_nano=start_ns,
            end_time_unix_nano=end_ns,
            flags=flags & _SAMPLED,
            kind=kind or 0,
            trace_state=tracestate if isinstance(tracestate, str) else "",
        )
        status = _status(kind or 0, attrs)
        if status is not None:
            span.status.code, span.status.message = status
        _put_attributes(span.attributes, attrs)
        for ts, ev_name, ev_attrs in events:
            _put_attributes(span.events.add(time_unix_nano=ts, name=ev_name).attributes, ev_attrs)
        for l_trace, l_span, ref_type in links:
            span.links.add(trace_id=l_trace, span_id=l_span).attributes.add(
                key="opentracing.ref_type"
            ).value.string_value = ref_type
        self.count += 1


def _event(ts_ns: int, fields: dict) -> tuple[int, str, dict]:
    name = fields.get("event")
    if isinstance(name, str):
        del fields["event"]
        return ts_ns, name, fields
    return ts_ns, DEFAULT_EVENT_NAME, fields


# ---------------------------------------------------------------------------
# Thrift (thriftpy2 objects of collector/legacy_proto/jaeger/jaeger.thrift)


# Thrift TagType: STRING, DOUBLE, BOOL, LONG, BINARY
def _thrift_tags(tags) -> dict:
    out: dict = {}
    if not tags:
        return out
    for t in tags:
        vt = t.vType
        if vt is None or t.key is None:
            raise BadInput("Tag without its required key or vType")
        if vt == 0:
            v = t.vStr or ""
            if isinstance(v, bytes):  # thriftpy2 hands back bytes for non-UTF-8 strings
                v = v.decode("utf-8", "replace")
        elif vt == 3:
            v = t.vLong or 0
        elif vt == 2:
            v = bool(t.vBool)
        elif vt == 1:
            v = float(t.vDouble or 0.0)
        elif vt == 4:
            v = t.vBinary or b""
            if isinstance(v, str):
                v = v.encode("utf-8", "surrogateescape")
        else:
            v = f"<Unknown Jaeger TagType {vt!r}>"  # as Go
        key = t.key or ""
        out[key.decode("utf-8", "replace") if isinstance(key, bytes) else key] = v
    return out


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def thrift_batch_to_request(
    batch, request: ExportTraceServiceRequest | None = None
) -> tuple[ExportTraceServiceRequest, int]:
    """One Thrift ``Batch`` → (request, span count). Raises ``BadInput`` on values that cannot be ids."""
    request = request if request is not None else ExportTraceServiceRequest()
    spans, process = batch.spans, batch.process
    # thriftpy2 does not enforce `required`; Go's generated readers do, so incomplete data is refused
    if spans is None or process is None or process.serviceName is None:
        raise BadInput("Batch without its required process, process.serviceName or spans")
    if not spans:
        return request, 0
    writer = _ResourceWriter(request, _text(process.serviceName), _thrift_tags(process.tags))
    try:
        for s in spans:
            high, low, parent, start = s.traceIdHigh, s.traceIdLow, s.parentSpanId, s.startTime
            if None in (high, low, s.spanId, parent, s.operationName, s.flags, start, s.duration):
                raise BadInput("Span without one of its required fields")
            trace_id = _pack_qq(high, low)
            links = []
            for r in s.references or ():
                ref_type = r.refType
                if None in (ref_type, r.traceIdHigh, r.traceIdLow, r.spanId):
                    raise BadInput("SpanRef without one of its required fields")
                if ref_type == 0 and parent == 0 and r.traceIdHigh == high and r.traceIdLow == low:
                    parent = r.spanId  # no parentSpanId: the first CHILD_OF in the trace is the parent
                    if parent:
                        continue
                if ref_type == 0 and parent and r.spanId == parent:
                    continue  # the parent, already carried by parent_span_id
                links.append(
                    (
                        _pack_qq(r.traceIdHigh, r.traceIdLow),
                        _pack_q(r.spanId),
                        _REF_TYPES[ref_type] if ref_type in (0, 1) else str(ref_type),
                    )
                )
            events = []
            for lg in s.logs or ():
                if lg.timestamp is None or lg.fields is None:
                    raise BadInput("Log without its required timestamp or fields")
                events.append(_event(lg.timestamp * 1000, _thrift_tags(lg.fields)))
            writer.span(
                trace_id,
                _pack_q(s.spanId),
                _pack_q(parent) if parent else b"",
                _text(s.operationName),
                s.flags,
                start * 1000,
                (start + s.duration) * 1000,
                _thrift_tags(s.tags),
                links,
                events,
            )
    except (struct.error, TypeError, AttributeError, ValueError) as e:  # ids out of i64 range, wrong types
        raise BadInput(f"invalid Jaeger Thrift span: {e}") from None
    return request, writer.count


# ---------------------------------------------------------------------------
# api_v2 protobuf (collector/legacy_proto/jaeger/api_v2/model.proto)


# proto ValueType: STRING, BOOL, INT64, FLOAT64, BINARY
def _proto_tags(tags) -> dict:
    out = {}
    for t in tags:
        vt = t.v_type
        if vt == 0:
            v = t.v_str
        elif vt == 2:
            v = t.v_int64
        elif vt == 1:
            v = t.v_bool
        elif vt == 3:
            v = t.v_float64
        elif vt == 4:
            v = t.v_binary
        else:
            v = f"<Unknown Jaeger TagType {vt!r}>"
        out[t.key] = v
    return out


def _trace_id(raw: bytes) -> bytes:
    if len(raw) == 16:
        return raw
    if len(raw) == 8:  # a 64-bit id: high half zero
        return bytes(8) + raw
    if not raw:
        return bytes(16)
    raise BadInput(f"trace id must be 16 bytes, got {len(raw)}")


def _span_id(raw: bytes) -> bytes:
    if len(raw) == 8:
        return raw
    if not raw:
        return bytes(8)
    raise BadInput(f"span id must be 8 bytes, got {len(raw)}")


def _ns(ts) -> int:
    return ts.seconds * 1_000_000_000 + ts.nanos


def proto_batches_to_request(
    batches, request: ExportTraceServiceRequest | None = None
) -> tuple[ExportTraceServiceRequest, int]:
    """api_v2 ``Batch`` messages → (request, span count). A span carrying its own process goes to a
    resource of its own (the batch's process is the default, as in Go)."""
    request = request if request is not None else ExportTraceServiceRequest()
    count = 0
    for batch in batches:
        if not batch.spans:
            continue
        writers: dict[bytes, _ResourceWriter] = {}
        batch_key = batch.process.SerializeToString(deterministic=True)

        def writer_for(process, key, writers=writers):  # this batch's writers (bound: defined in the loop)
            w = writers.get(key)
            if w is None:
                w = writers[key] = _ResourceWriter(request, process.service_name, _proto_tags(process.tags))
            return w

        for s in batch.spans:
            if s.HasField("process"):
                key = s.process.SerializeToString(deterministic=True)
                writer = writer_for(s.process, key)
            else:
                writer = writer_for(batch.process, batch_key)
            trace_id = _trace_id(s.trace_id)
            parent = b""
            refs = []
            for r in s.references:
                refs.append((_trace_id(r.trace_id), _span_id(r.span_id), r.ref_type))
                if not parent and r.ref_type == 0 and refs[-1][0] == trace_id:
                    parent = refs[-1][1]
            links = [
                (t, sid, _REF_TYPES[rt] if rt in (0, 1) else str(rt))
                for t, sid, rt in refs
                if not (rt == 0 and sid == parent)
            ]
            start = _ns(s.start_time)
            events = [_event(_ns(lg.timestamp), _proto_tags(lg.fields)) for lg in s.logs]
            writer.span(
                trace_id,
                _span_id(s.span_id),
                parent if parent != bytes(8) else b"",
                s.operation_name,
                s.flags,
                start,
                start + _ns(s.duration),
                _proto_tags(s.tags),
                links,
                events,
            )
        count += sum(w.count for w in writers.values())
    return request, count
