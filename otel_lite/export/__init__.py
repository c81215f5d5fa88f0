"""Span exporters: the interface, an in-memory one for tests and a console one
for debugging.  The OTLP exporters live in ``otlp_grpc`` and ``otlp_http``."""
from __future__ import annotations

import enum
import sys
import threading
import typing


class SpanExportResult(enum.Enum):
    SUCCESS = 0
    FAILURE = 1


class SpanExporter:
    """Interface (same as opentelemetry-sdk's).  Any object with ``export(spans)``
    and ``shutdown()`` works; opentelemetry-sdk exporters work as they are."""

    def export(self, spans: typing.Sequence) -> SpanExportResult:
        raise NotImplementedError

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class InMemorySpanExporter(SpanExporter):
    """Keeps exported spans in a list (for tests)."""

    def __init__(self):
        self._spans: list = []
        self._lock = threading.Lock()
        self._stopped = False

    def export(self, spans) -> SpanExportResult:
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

    def shutdown(self) -> None:
        self._stopped = True


class ConsoleSpanExporter(SpanExporter):
    """Writes each span as JSON (``to_json``) to a stream, stdout by default."""

    def __init__(self, out: typing.IO | None = None, formatter=None):
        self._out = out
        self._formatter = formatter or (lambda span: span.to_json() + "\n")

    def export(self, spans) -> SpanExportResult:
        out = self._out or sys.stdout
        for span in spans:
            out.write(self._formatter(span))
        out.flush()
        return SpanExportResult.SUCCESS
