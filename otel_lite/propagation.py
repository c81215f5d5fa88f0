"""W3C Trace Context (Level 2): the ``traceparent`` and ``tracestate`` headers.

``TraceContextPropagator`` is what the name ``tracecontext`` means under
``otel_lite.configure`` / ``otel_lite.set_propagators`` / ``OTEL_PROPAGATORS``
(https://www.w3.org/TR/trace-context-2/).  Where it differs from
opentelemetry-api's ``TraceContextTextMapPropagator``, following the spec:

* **Several traceparent values** (the getter returns more than one, i.e. the
  header was sent twice): the context is not used and the trace restarts.
* **tracestate** is parsed by the spec's grammar: a simple key is ``lcalpha``
  then up to 255 of ``a-z 0-9 _ - * /`` (256 in all); a multi-tenant key is
  ``tenant@system`` with exactly one ``@``, a tenant of 1-241 characters starting
  with a letter or digit and a system of 1-14 starting with a letter.  Values are
  1-256 printable ASCII characters without ``,`` and ``=``, not ending in a space.
  Empty and whitespace-only members are allowed; several tracestate values are
  joined with ``,`` (RFC 9110).  Any invalid member, a duplicated key or more
  than 32 members discards the whole tracestate, never the traceparent.
* **trace-flags**: any two lowercase hex digits are accepted; bit 0 is
  ``sampled`` and bit 1 the Level 2 ``random-trace-id`` flag.  The received
  byte is kept in the remote SpanContext, so a service that forwards the
  context unchanged (no span of its own) sends the flags it received; for a
  span of this process the reserved bits (2-7) are written as zero, as the
  spec asks of a new parent-id, and ``random-trace-id`` is whatever the span
  carries (otel_lite children keep their parent's, roots set it for random ids).
* **Versions**: ``ff`` and malformed versions are refused; ``00`` must be exactly
  55 characters; a higher version is read by the version-00 layout when it is
  at least 55 characters and anything after the flags starts with ``-``; what
  is sent is always version ``00``.  Leading and trailing spaces and tabs around
  the value are ignored.

Header names are matched by the getter (the instrumentations' getters ignore
case; a plain ``dict`` carrier needs the lower-case names).  Neither method
raises: bad input, or a getter/setter that fails, leaves the context as it was
(logged at debug).  No regular expression: the checks are ``str`` methods.
"""

from __future__ import annotations

import logging

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.propagators import textmap
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

__all__ = ["TraceContextPropagator", "parse_traceparent", "parse_tracestate", "format_tracestate"]

_log = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_FIELDS = frozenset((TRACEPARENT, TRACESTATE))

_HEX = "0123456789abcdef"
_HEX_OR_DASH = _HEX + "-"
_OWS = " \t"
_LCALPHA = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
_KEY_CHARS = _LCALPHA + _DIGITS + "_-*/"
# value chars: printable ASCII 0x20-0x7E except "," (0x2C) and "=" (0x3D)
_VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if c not in (0x2C, 0x3D))
_VERSION_00_LENGTH = 55
_MAX_TRACEPARENT_LENGTH = 512  # "only disallow prohibitively large headers" (future versions may be longer)
_MAX_MEMBERS = 32
_MAX_TRACESTATE_LENGTH = 32 * 1024  # 32 members of 256 + 1 + 256 characters fit; garbage beyond is not parsed
_RESERVED_FLAGS_MASK = 0x03  # sampled | random-trace-id: the flags Level 2 defines
_FLAGS = tuple(TraceFlags(i) for i in range(256))
_EMPTY_TRACE_STATE = TraceState()


def parse_traceparent(value) -> tuple[int, int, int] | None:
    """``(trace_id, span_id, flags)`` from one traceparent value, or None when the
    spec says to ignore it (restart the trace)."""
    if not isinstance(value, str) or len(value) > _MAX_TRACEPARENT_LENGTH:
        return None
    value = value.strip(_OWS)
    length = len(value)
    if length < _VERSION_00_LENGTH:
        return None
    head = value[:_VERSION_00_LENGTH]
    if (
        head[2] != "-"
        or head[35] != "-"
        or head[52] != "-"
        or head.count("-") != 3
        or head.strip(_HEX_OR_DASH)  # a character that is neither lowercase hex nor "-"
    ):
        return None
    version = head[:2]
    if version == "ff":
        return None
    if length > _VERSION_00_LENGTH and (version == "00" or value[_VERSION_00_LENGTH] != "-"):
        return None
    trace_id = int(head[3:35], 16)
    span_id = int(head[36:52], 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, int(head[53:55], 16)


def _valid_key(key: str) -> bool:
    tenant, at, system = key.partition("@")
    if not at:
        return 0 < len(key) <= 256 and key[0] in _LCALPHA and not key.strip(_KEY_CHARS)
    return (
        0 < len(tenant) <= 241
        and 0 < len(system) <= 14
        and (tenant[0] in _LCALPHA or tenant[0] in _DIGITS)
        and system[0] in _LCALPHA
        and not tenant.strip(_KEY_CHARS)
        and not system.strip(_KEY_CHARS)  # a second "@" is not a key character
    )


def _valid_value(value: str) -> bool:
    return 0 < len(value) <= 256 and value[-1] != " " and not value.strip(_VALUE_CHARS)


def parse_tracestate(values) -> list[tuple[str, str]] | None:
    """The members of one or more tracestate values, in order, or None when the
    tracestate must be discarded (an invalid member, a duplicated key, more than
    32 members)."""
    if isinstance(values, str):
        values = [values]
    combined = ",".join(values)
    if len(combined) > _MAX_TRACESTATE_LENGTH:
        return None
    members: list[tuple[str, str]] = []
    seen: set[str] = set()
    for member in combined.split(","):
        member = member.strip(_OWS)
        if not member:
            continue  # empty and whitespace-only members are allowed
        key, eq, value = member.partition("=")
        if not eq or not _valid_key(key) or not _valid_value(value) or key in seen:
            return None
        seen.add(key)
        members.append((key, value))
        if len(members) > _MAX_MEMBERS:
            return None
    return members


def format_tracestate(trace_state) -> str:
    return ",".join(f"{key}={value}" for key, value in trace_state.items())


def _as_list(values):
    if values is None:
        return None
    if isinstance(values, str):
        return [values]
    return list(values)


class TraceContextPropagator(textmap.TextMapPropagator):
    """W3C Trace Context Level 2 ``traceparent`` / ``tracestate`` (see the module docstring)."""

    def extract(
        self,
        carrier: textmap.CarrierT,
        context: Context | None = None,
        getter: textmap.Getter[textmap.CarrierT] = textmap.default_getter,
    ) -> Context:
        if context is None:
            context = Context()
        try:
            values = _as_list(getter.get(carrier, TRACEPARENT))
            if not values:
                return context
            if len(values) != 1:  # the header was sent more than once: which is the parent is unknowable
                _log.debug("%d traceparent headers: the trace restarts", len(values))
                return context
            parsed = parse_traceparent(values[0])
            if parsed is None:
                _log.debug("invalid traceparent %.80r: the trace restarts", values[0])
                return context
            trace_id, span_id, flags = parsed
            trace_state = self._trace_state(carrier, getter)  # its failure never affects traceparent
            span_context = SpanContext(trace_id, span_id, True, _FLAGS[flags], trace_state)
            return trace_api.set_span_in_context(NonRecordingSpan(span_context), context)
        except Exception:  # never into application code
            _log.debug("traceparent extraction failed", exc_info=True)
            return context

    @staticmethod
    def _trace_state(carrier, getter) -> TraceState:
        try:
            values = _as_list(getter.get(carrier, TRACESTATE))
            if not values:
                return _EMPTY_TRACE_STATE
            members = parse_tracestate(values)
            if members is None:
                _log.debug("invalid tracestate %.80r: discarded", values)
                return _EMPTY_TRACE_STATE
            return TraceState(members) if members else _EMPTY_TRACE_STATE
        except Exception:
            _log.debug("tracestate extraction failed: discarded", exc_info=True)
            return _EMPTY_TRACE_STATE

    def inject(
        self,
        carrier: textmap.CarrierT,
        context: Context | None = None,
        setter: textmap.Setter[textmap.CarrierT] = textmap.default_setter,
    ) -> None:
        try:
            span_context = trace_api.get_current_span(context).get_span_context()
            if not span_context.is_valid:
                return
            flags: int = span_context.trace_flags
            if not span_context.is_remote:
                flags &= _RESERVED_FLAGS_MASK  # our own parent-id: reserved flags are zero
            setter.set(carrier, TRACEPARENT, f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{flags:02x}")
            trace_state = span_context.trace_state
            if trace_state:
                setter.set(carrier, TRACESTATE, format_tracestate(trace_state))
        except Exception:  # never into application code
            _log.debug("traceparent injection failed", exc_info=True)

    @property
    def fields(self) -> set[str]:
        return set(_FIELDS)
