"""The recording span: written by one thread, frozen at ``end()``.

A span is the only per-span object otel_lite allocates: it carries its own
read side (the attributes of opentelemetry-sdk's ``ReadableSpan``), and the
processor receives it at ``end()`` without a copy.  Attributes live in a plain
dict; events and links lists are created only when used.  There is no lock:
a span is written by the thread that owns it (the API's contract), and
``end()`` is made idempotent by a single check-and-set of ``_end_time``.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING

from opentelemetry import trace as trace_api
from opentelemetry.attributes import _clean_attribute_value
from opentelemetry.trace import SpanKind
from opentelemetry.trace.status import Status, StatusCode

from ._log import RateLimitedLog

if TYPE_CHECKING:
    from .provider import Tracer

_log = logging.getLogger("otel_lite.span")
_warn = RateLimitedLog(_log)
_time_ns = time.time_ns
_new_object = object.__new__

_UNSET_STATUS = Status(StatusCode.UNSET)
_SCALARS = frozenset((str, bool, int, float))
_EMPTY_MAPPING: Mapping = MappingProxyType({})


def clean_attributes(attributes, max_count, max_length) -> tuple[dict, int]:
    """Validate and limit a mapping of attributes: returns (dict, dropped)."""
    if max_length is None and (max_count is None or len(attributes) <= max_count):
        # the common case: a few scalar attributes with str keys, copied as they are
        for key, value in attributes.items():
            if type(value) not in _SCALARS or type(key) is not str or not key:
                break
        else:
            return dict(attributes), 0
    result: dict = {}
    dropped = 0
    for key, value in attributes.items():
        if type(value) not in _SCALARS or (max_length is not None and type(value) is str):
            value = _clean_value(value, max_length)
            if value is None:
                dropped += 1
                continue
        if type(key) is not str or not key:  # type first: a key object's __bool__ may raise
            dropped += 1
            continue
        if max_count is not None and len(result) >= max_count and key not in result:
            if max_count == 0:
                dropped += 1
                continue
            del result[next(iter(result))]  # the oldest goes, as in opentelemetry-sdk
            dropped += 1
        result[key] = value
    return result, dropped


def _clean_value(value, max_length):
    """Slow path of attribute validation (the API's own rules: sequences become
    tuples, mappings are copied, other objects become ``str``)."""
    if type(value) is str:
        return value if len(value) <= max_length else value[:max_length]
    try:
        value = _clean_attribute_value(value, max_length)
        # the API turns unknown objects into str without applying the length limit
        if type(value) is str and max_length is not None and len(value) > max_length:
            value = value[:max_length]
        return value
    except Exception:  # an exotic value must never reach the application as an error
        _log.debug("dropping invalid attribute value of type %s", type(value).__name__)
        return None


def _timestamp(value) -> int:
    """A user-given timestamp in ns since the epoch as an int (numpy integers, floats, bools and objects
    would make the exporter drop the whole span); anything unusable means now."""
    if value is None:
        return _time_ns()
    if type(value) is int and 0 <= value < 1 << 64:
        return value
    try:
        if isinstance(value, (str, bytes, bytearray)) or value != value:  # int("1") works; NaN does not
            raise ValueError(value)
        value = int(value)
        if not 0 <= value < 1 << 64:
            raise ValueError(value)
        return value
    except Exception:
        _warn("timestamp", "invalid timestamp of type %s: using the current time", type(value).__name__)
        return _time_ns()


def _as_name(name) -> str:
    """A span or event name that is not a str (the exporter would drop the whole span)."""
    try:
        text = str(name)
        if type(text) is str:
            return text
    except Exception:
        pass
    return f"<unprintable {type(name).__name__}>"


class Event:
    """A span event, with the read side of opentelemetry-sdk's ``Event``."""

    __slots__ = ("_name", "_attributes", "_timestamp", "_dropped")

    def __init__(self, name: str, attributes: Mapping | None = None, timestamp: int | None = None, dropped: int = 0):
        self._name = name
        self._attributes = attributes  # a dict we own, or None
        self._timestamp = timestamp if timestamp is not None else _time_ns()
        self._dropped = dropped

    @property
    def name(self) -> str:
        return self._name

    @property
    def timestamp(self) -> int:
        return self._timestamp

    @property
    def attributes(self) -> Mapping:
        return MappingProxyType(self._attributes) if self._attributes else _EMPTY_MAPPING

    @property
    def dropped_attributes(self) -> int:
        return self._dropped

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {dict(self.attributes)!r}, {self.timestamp})"


class ExceptionEvent(Event):
    """``record_exception``'s event.  Formatting a traceback is the expensive
    part (~100 µs), so it happens when the attributes are first read, normally
    by the exporter on its own thread, not in the application's except block."""

    __slots__ = ("_exception", "_traceback", "_extra", "_escaped", "_limits")

    # the slots' types (annotations only: no class attribute, nothing at run time); None once materialized
    _exception: BaseException | None
    _traceback: TracebackType | None

    def __init__(self, exception: BaseException, extra, timestamp, escaped, limits):
        Event.__init__(self, "exception", None, timestamp)
        self._exception = exception
        self._traceback = getattr(exception, "__traceback__", None)  # anything may be passed in
        self._extra = extra
        self._escaped = escaped
        self._limits = limits
        self._attributes = None

    @property
    def attributes(self) -> Mapping:
        if self._exception is not None:
            self._materialize()
        return MappingProxyType(self._attributes) if self._attributes is not None else _EMPTY_MAPPING  # (None)

    @property
    def dropped_attributes(self) -> int:
        if self._exception is not None:
            self._materialize()
        return self._dropped

    def materialized_attributes(self) -> Mapping:
        if self._exception is not None:
            self._materialize()
        return self._attributes if self._attributes is not None else {}  # record_exception(None)

    def _materialize(self) -> None:
        exc = self._exception
        exc_type = type(exc)
        module = exc_type.__module__
        qualname = exc_type.__qualname__
        try:
            # ignore: runs only while _exception is set (and a non-exception is caught below)
            stacktrace = "".join(traceback.format_exception(exc_type, exc, self._traceback))  # type: ignore[arg-type]
            message = str(exc)
        except Exception:  # a broken __str__ (or not an exception at all) must not break export
            stacktrace = ""
            try:
                message = repr(exc)
            except Exception:
                message = f"<unprintable {qualname} object>"
        if type(message) is not str:  # a __str__ returning a str subclass
            message = str.__str__(message)
        attributes = {
            "exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
            "exception.message": message,
            "exception.stacktrace": stacktrace,
            "exception.escaped": str(self._escaped),
        }
        try:
            if self._extra:
                attributes.update(self._extra)
        except Exception:  # extra attributes that are not a mapping
            pass
        max_count, max_length = self._limits
        self._attributes, self._dropped = clean_attributes(attributes, max_count, max_length)
        self._exception = self._traceback = self._extra = None  # release frames


class Link(trace_api.Link):
    """``opentelemetry.trace.Link`` that remembers how many attributes the limits dropped."""

    __slots__ = ("_dropped",)

    def __init__(self, context, attributes=None, dropped: int = 0):
        super().__init__(context, attributes)
        self._dropped = dropped

    @property
    def dropped_attributes(self) -> int:
        return self._dropped


class InstrumentationScope:
    """Name, version, schema URL and attributes of the code that made the span
    (same read side as opentelemetry-sdk's ``InstrumentationScope``)."""

    __slots__ = ("_name", "_version", "_schema_url", "_attributes", "_key")

    def __init__(
        self, name: str, version: str | None = None, schema_url: str | None = None, attributes: Mapping | None = None
    ):
        self._name = name
        self._version = version
        self._schema_url = schema_url or ""
        self._attributes = MappingProxyType(dict(attributes)) if attributes else _EMPTY_MAPPING
        self._key = (name, version, self._schema_url, tuple(sorted((k, repr(v)) for k, v in self._attributes.items())))

    name = property(lambda self: self._name)
    version = property(lambda self: self._version)
    schema_url = property(lambda self: self._schema_url)
    attributes = property(lambda self: self._attributes)

    def __eq__(self, other) -> bool:
        return isinstance(other, InstrumentationScope) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"InstrumentationScope({self._name!r}, {self._version!r}, {self._schema_url!r})"

    def to_json(self, indent: int | None = 4) -> str:
        return json.dumps(
            {
                "name": self._name,
                "version": self._version,
                "schema_url": self._schema_url,
                "attributes": dict(self._attributes),
            },
            indent=indent,
        )


class Span(trace_api.Span):
    """A recording span.  Created only by ``new_span`` (which ``Tracer.start_span`` calls): the slots
    below are this module's private layout, written nowhere else (the OTLP encoder reads them)."""

    __slots__ = ("_name", "_context", "_parent", "_kind", "_start_time", "_end_time", "_attributes", "_tracer")

    # the slots' types, for type checkers: annotations only (no class attribute, nothing at run time)
    _name: str
    _context: trace_api.SpanContext
    _parent: trace_api.SpanContext | None
    _kind: SpanKind
    _start_time: int
    _end_time: int | None
    _attributes: dict
    _tracer: Tracer

    # Rarely changed from these defaults, so kept out of __slots__: a new span
    # does not pay to set them, and the few that change them get an instance dict.
    _events: list[Event] | None = None
    _links: list[Link] | None = None
    _status = _UNSET_STATUS
    _dropped_attributes = 0
    _dropped_events = 0
    _dropped_links = 0
    _record_exception = True
    _set_status_on_exception = True

    # -- the write side (opentelemetry.trace.Span) ---------------------------------------------------

    def get_span_context(self):
        return self._context

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attribute(self, key: str, value) -> None:
        if self._end_time is not None:
            _warn("ended", "Setting attribute on ended span (further such warnings are rate-limited)")
            return
        limits = self._tracer._limits
        if type(value) not in _SCALARS or (type(value) is str and limits.max_span_attribute_length is not None):
            value = _clean_value(value, limits.max_span_attribute_length)
            if value is None:
                self._dropped_attributes += 1
                return
        if type(key) is not str or not key:  # type first: a key object's __bool__ may raise
            self._dropped_attributes += 1
            return
        attributes = self._attributes
        if key in attributes:
            del attributes[key]  # re-set keys move to the end, as in opentelemetry-sdk
        elif limits.max_span_attributes is not None and len(attributes) >= limits.max_span_attributes:
            self._dropped_attributes += 1
            if not attributes:
                return
            del attributes[next(iter(attributes))]
        attributes[key] = value

    def set_attributes(self, attributes) -> None:
        try:
            for key, value in attributes.items():
                self.set_attribute(key, value)
        except Exception:  # not a mapping, or a mapping that fails to iterate
            _warn("set_attributes", "set_attributes() needs a mapping, got %s: ignored", type(attributes).__name__)

    def add_event(self, name: str, attributes=None, timestamp: int | None = None) -> None:
        if self._end_time is not None:
            _warn("ended", "Calling add_event() on an ended span (further such warnings are rate-limited)")
            return
        limits = self._tracer._limits
        event = _new_object(Event)  # slots set here directly: cheaper than a constructor call
        event._name = name if type(name) is str else _as_name(name)
        event._dropped = 0
        try:
            if not attributes:
                event._attributes = None
            # the common case inline (a small dict of scalars under str keys, no length limit): the
            # checks of clean_attributes' fast path without its call
            elif (
                type(attributes) is dict
                and limits.max_attribute_length is None
                and (limits.max_event_attributes is None or len(attributes) <= limits.max_event_attributes)
            ):
                for key, value in attributes.items():
                    if type(value) not in _SCALARS or type(key) is not str or not key:
                        event._attributes, event._dropped = clean_attributes(
                            attributes, limits.max_event_attributes, None
                        )
                        break
                else:
                    event._attributes = attributes.copy()
            else:
                event._attributes, event._dropped = clean_attributes(
                    attributes, limits.max_event_attributes, limits.max_attribute_length
                )
        except Exception:  # not a mapping, or one that fails to iterate
            _warn("event_attributes", "add_event() attributes must be a mapping: ignored")
            event._attributes, event._dropped = None, 0
        event._timestamp = _time_ns() if timestamp is None else _timestamp(timestamp)
        events = self._events
        if events is None:
            if limits.max_events != 0:
                self._events = [event]
                return
            events = self._events = []
        self._append_event(event)

    def _append_event(self, event: Event) -> None:
        events = self._events
        if events is None:
            events = self._events = []
        max_events = self._tracer._limits.max_events
        if max_events is not None and len(events) >= max_events:
            self._dropped_events += 1
            if not events:
                return
            del events[0]  # the oldest event goes (a FIFO, as in opentelemetry-sdk)
        events.append(event)

    def add_link(self, context, attributes=None) -> None:
        if self._end_time is not None:
            _warn("ended", "Calling add_link() on an ended span (further such warnings are rate-limited)")
            return
        try:
            if context is None or not (context.is_valid or attributes or context.trace_state):
                return
            self._append_link(context, attributes)
        except Exception:  # not a SpanContext, or attributes that are not a mapping
            _warn("add_link", "add_link() needs a SpanContext and a mapping of attributes: ignored")

    def _append_link(self, context, attributes) -> None:
        limits = self._tracer._limits
        dropped = 0
        if attributes:
            attributes, dropped = clean_attributes(attributes, limits.max_link_attributes, limits.max_attribute_length)
        link = Link(context, attributes, dropped)
        links = self._links
        if links is None:
            links = self._links = []
        if limits.max_links is not None and len(links) >= limits.max_links:
            self._dropped_links += 1
            if not links:
                return
            del links[0]
        links.append(link)

    def update_name(self, name: str) -> None:
        if self._end_time is not None:
            _warn("ended", "Calling update_name() on an ended span (further such warnings are rate-limited)")
            return
        self._name = name if type(name) is str else _as_name(name)

    def set_status(self, status, description: str | None = None) -> None:
        if self._end_time is not None:
            _warn("ended", "Calling set_status() on an ended span (further such warnings are rate-limited)")
            return
        current = self._status.status_code
        if isinstance(status, Status):
            if current is StatusCode.OK or status.status_code is StatusCode.UNSET:
                return
            if description is not None:
                _log.warning("Description %s ignored. Use either `Status` or `(StatusCode, Description)`", description)
            self._status = status
        elif isinstance(status, StatusCode):
            if current is StatusCode.OK or status is StatusCode.UNSET:
                return
            if description is not None and type(description) is not str:
                _warn("status_description", "Invalid status description type, expected str")
                description = None
            self._status = Status(status, description)

    def record_exception(
        self, exception: BaseException, attributes=None, timestamp: int | None = None, escaped: bool = False
    ) -> None:
        if self._end_time is not None:
            _warn("ended", "Calling record_exception() on an ended span (further such warnings are rate-limited)")
            return
        limits = self._tracer._limits
        self._append_event(
            ExceptionEvent(
                exception,
                attributes,
                _timestamp(timestamp),
                escaped,
                (limits.max_event_attributes, limits.max_attribute_length),
            )
        )

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            _warn("ended", "Calling end() on an ended span (further such warnings are rate-limited)")
            return
        self._end_time = _time_ns() if end_time is None else _timestamp(end_time)
        tracer = self._tracer
        tracer._count_ended()
        try:
            tracer._processor.on_end(self)
        except Exception:  # a failing processor must not reach the application
            _warn("on_end", "span processor failed in on_end", exc_info=True)

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        if exc_val is not None and self._end_time is None and isinstance(exc_val, Exception):
            if self._record_exception:
                self.record_exception(exc_val, escaped=True)
            if self._set_status_on_exception:
                self.set_status(Status(StatusCode.ERROR, f"{exc_type.__name__}: {exc_val}"))
        self.end()

    # -- the read side (opentelemetry.sdk.trace.ReadableSpan) ---------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def context(self):
        return self._context

    @property
    def parent(self):
        return self._parent

    @property
    def kind(self) -> SpanKind:
        return self._kind

    @property
    def start_time(self) -> int:
        return self._start_time

    @property
    def end_time(self) -> int | None:
        return self._end_time

    @property
    def attributes(self) -> Mapping:
        return MappingProxyType(self._attributes)

    @property
    def events(self) -> tuple:
        return tuple(self._events) if self._events else ()

    @property
    def links(self) -> tuple:
        return tuple(self._links) if self._links else ()

    @property
    def status(self) -> Status:
        return self._status

    @property
    def resource(self):
        return self._tracer._resource

    @property
    def instrumentation_scope(self) -> InstrumentationScope:
        return self._tracer._scope

    @property
    def instrumentation_info(self) -> InstrumentationScope:  # deprecated name in opentelemetry-sdk
        return self._tracer._scope

    @property
    def dropped_attributes(self) -> int:
        return self._dropped_attributes

    @property
    def dropped_events(self) -> int:
        return self._dropped_events

    @property
    def dropped_links(self) -> int:
        return self._dropped_links

    def to_json(self, indent: int | None = 4) -> str:
        """The same shape as opentelemetry-sdk's ``ReadableSpan.to_json``."""
        ctx = self._context
        parent = self._parent
        data = {
            "name": self._name,
            "context": {
                "trace_id": f"0x{ctx.trace_id:032x}",
                "span_id": f"0x{ctx.span_id:016x}",
                "trace_state": repr(ctx.trace_state),
            },
            "kind": str(self._kind),
            "parent_id": f"0x{parent.span_id:016x}" if parent is not None else None,
            "start_time": _iso(self._start_time),
            "end_time": _iso(self._end_time),
            "status": {
                "status_code": self._status.status_code.name,
                **({"description": self._status.description} if self._status.description else {}),
            },
            "attributes": dict(self._attributes),
            "events": [
                {"name": e.name, "timestamp": _iso(e.timestamp), "attributes": dict(e.attributes)} for e in self.events
            ],
            "links": [
                {
                    "context": {
                        "trace_id": f"0x{link.context.trace_id:032x}",
                        "span_id": f"0x{link.context.span_id:016x}",
                        "trace_state": repr(link.context.trace_state),
                    },
                    "attributes": dict(link.attributes or {}),
                }
                for link in self.links
            ],
            "resource": json.loads(self.resource.to_json()),
        }
        return json.dumps(data, indent=indent, default=str)

    def __repr__(self) -> str:
        ctx = self._context
        return f"Span(name={self._name!r}, trace_id=0x{ctx.trace_id:032x}, span_id=0x{ctx.span_id:016x})"


def new_span(
    tracer, name, span_context, parent, kind, start_time, attributes, links, record_exception, set_status_on_exception
) -> Span:
    """The one constructor of a recording span: ``Tracer.start_span`` calls it once the sampler has
    said RECORD.  ``tracer`` gives the limits, the resource, the scope and the processor (read on
    ``end()``); ``parent`` is the parent ``SpanContext`` or None; the other arguments are
    ``start_span``'s, not yet validated (a bad name, kind or timestamp is repaired here, bad
    attributes and links are dropped and counted).

    The slots are set directly on a bare object (no ``__init__`` call), and the rarely changed
    fields (events, status, dropped counts, the exception flags) keep their class defaults: the
    common span costs one allocation and no lock."""
    span = _new_object(Span)
    span._name = name if type(name) is str else _as_name(name)
    span._context = span_context
    span._parent = parent
    span._kind = kind if type(kind) is SpanKind else _as_kind(kind)
    span._start_time = _time_ns() if start_time is None else _timestamp(start_time)
    span._end_time = None
    if attributes:
        limits = tracer._limits
        span._attributes, dropped = clean_attributes(
            attributes, limits.max_span_attributes, limits.max_span_attribute_length
        )
        if dropped:
            span._dropped_attributes = dropped
    else:
        span._attributes = {}
    span._tracer = tracer
    if not record_exception:
        span._record_exception = False
    if not set_status_on_exception:
        span._set_status_on_exception = False
    if links:
        for link in links:
            link_context = link.context
            if link_context.is_valid or link.attributes or link_context.trace_state:
                span._append_link(link_context, link.attributes)
    return span


def set_kind(span, kind) -> bool:
    """Change the kind of a recording otel_lite span after its start (the OpenTelemetry API fixes it
    at start, but OpenCensus code sets it just after; the OpenCensus shim calls this).  False when
    ``span`` is not an otel_lite span or has ended."""
    if not isinstance(span, Span) or span._end_time is not None:
        return False
    span._kind = kind if type(kind) is SpanKind else _as_kind(kind)
    return True


def _as_kind(kind) -> SpanKind:
    try:
        return SpanKind(kind)  # e.g. an int
    except Exception:
        _log.warning("invalid span kind of type %s: INTERNAL used", type(kind).__name__)
        return SpanKind.INTERNAL


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    import datetime

    return datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.UTC).isoformat().replace("+00:00", "Z")


# isinstance(span, opentelemetry.sdk.trace.Span): registered when (and only if) opentelemetry-sdk is imported
from ._sdk_compat import register_with_sdk_span  # noqa: E402  # after Span exists

register_with_sdk_span(Span)
