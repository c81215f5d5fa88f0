"""Span exporters: the interface, an in-memory one for tests and a console one
for debugging.  The OTLP exporter is one export loop (``_otlp_common.OTLPExporter``)
over a transport; ``otlp_grpc.OTLPSpanExporter`` and ``otlp_http.OTLPSpanExporter``
build it with opentelemetry-sdk's constructor arguments for each protocol."""

from __future__ import annotations

import enum
import sys
import threading
import typing


class SpanExportResult(enum.Enum):
    SUCCESS = 0
    FAILURE = 1


class SpanExporter:
    """Interface: opentelemetry-sdk's, plus a deadline.  ``export`` and ``shutdown`` take
    ``timeout_millis``, the time the caller has left (the batch processor's export timeout, what
    remains of a ``shutdown(timeout_millis)``), or None for the exporter's own timeout; an exporter
    must not take longer (it may finish sooner).  A subclass keeps the keyword in its overrides,
    even if it ignores it: the processors pass it to every ``SpanExporter``.

    Any other object with ``export(spans)`` and ``shutdown()`` works too (opentelemetry-sdk's
    exporters as they are): it is called without the keyword, and the processors bound its time
    from the outside instead (a hanging one is abandoned on its thread)."""

    def export(self, spans: typing.Sequence, timeout_millis: float | None = None) -> SpanExportResult:
        raise NotImplementedError

    def shutdown(self, timeout_millis: float | None = None) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class InMemorySpanExporter(SpanExporter):
    """Keeps exported spans in a list (for tests)."""

    def __init__(self):
        self._spans: list = []
        self._lock = threading.Lock()
        self._stopped = False

    def export(self, spans, timeout_millis: float | None = None) -> SpanExportResult:
        if self._stopped:
            return SpanExportResult.FAILURE
        with self._lock:
            self._spans.extend(spans)
        return SpanExportResult.SUCCESS

    def get_finished_spans(self) -> tuple:
        with self._lock:
            return tuple(self._spans)

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()

    def shutdown(self, timeout_millis: float | None = None) -> None:
        self._stopped = True


class ConsoleSpanExporter(SpanExporter):
    """Writes each span as JSON (``to_json``) to a stream, stdout by default."""

    def __init__(self, out: typing.IO | None = None, formatter=None):
        self._out = out
        self._formatter = formatter or (lambda span: span.to_json() + "\n")

    def export(self, spans, timeout_millis: float | None = None) -> SpanExportResult:
        out = self._out or sys.stdout
        for span in spans:
            out.write(self._formatter(span))
        out.flush()
        return SpanExportResult.SUCCESS
