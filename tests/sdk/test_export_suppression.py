"""Exporters run with instrumentation suppressed, in the context they were called from (the
SimpleSpanProcessor reuses the suppressed copy of a context it has just seen: it must never hand an
exporter a stale one)."""

from opentelemetry import context

import otel_lite


class ContextRecorder(otel_lite.SpanExporter):
    def __init__(self):
        self.seen = []

    def export(self, spans, timeout_millis=None):
        self.seen.append(
            (
                [s.name for s in spans],
                context.get_value(context._SUPPRESS_INSTRUMENTATION_KEY),
                context.get_value("request"),
            )
        )
        return otel_lite.SpanExportResult.SUCCESS

    def shutdown(self, timeout_millis=None):
        pass


def test_simple_processor_exports_suppressed_in_the_callers_context():
    exporter = ContextRecorder()
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    before = context.get_current()
    tracer.start_span("a1").end()
    tracer.start_span("a2").end()  # same context: the cached suppressed copy
    for request in ("r1", "r2", "r1"):
        token = context.attach(context.set_value("request", request))
        try:
            tracer.start_span(f"in_{request}").end()
        finally:
            context.detach(token)
    tracer.start_span("a3").end()
    assert exporter.seen == [
        (["a1"], True, None),
        (["a2"], True, None),
        (["in_r1"], True, "r1"),
        (["in_r2"], True, "r2"),
        (["in_r1"], True, "r1"),
        (["a3"], True, None),
    ]
    assert context.get_current() is before  # suppression undone after every export
    assert context.get_value(context._SUPPRESS_INSTRUMENTATION_KEY) is None
    provider.shutdown()
