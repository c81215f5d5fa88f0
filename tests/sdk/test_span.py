"""The recording span: the API's write side and opentelemetry-sdk's read side."""

import ast
import asyncio
import logging
from pathlib import Path

import pytest
from opentelemetry import baggage, context, trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

import otel_lite
from otel_lite.span import Span, new_span, set_kind


def test_parent_child_through_current_span(recorder):
    _provider, tracer, exporter = recorder
    with tracer.start_as_current_span("parent") as parent:
        assert trace.get_current_span() is parent
        with tracer.start_as_current_span("child") as child:
            assert trace.get_current_span() is child
        assert trace.get_current_span() is parent
    assert trace.get_current_span() is trace.INVALID_SPAN
    child_done, parent_done = exporter.get_finished_spans()
    assert child_done.name == "child" and parent_done.name == "parent"
    assert child_done.parent == parent.get_span_context()
    assert child_done.context.trace_id == parent_done.context.trace_id
    assert parent_done.parent is None
    assert child_done.context.span_id != 0 and child_done.context.trace_id != 0
    assert child_done.context.trace_flags.sampled
    assert child_done.start_time <= child_done.end_time
    assert child_done.instrumentation_scope.name == "tests"
    assert child_done.instrumentation_scope.version == "1.0"
    assert child_done.resource.attributes["telemetry.sdk.name"] == "otel-lite"


def test_start_span_does_not_activate_and_use_span_does(recorder):
    _, tracer, exporter = recorder
    span = tracer.start_span("detached", kind=SpanKind.CLIENT)
    assert trace.get_current_span() is trace.INVALID_SPAN
    with trace.use_span(span, end_on_exit=True):
        assert trace.get_current_span() is span
        child = tracer.start_span("child")
        child.end()
    assert exporter.get_finished_spans()[0].parent.span_id == span.get_span_context().span_id
    assert exporter.get_finished_spans()[1].kind is SpanKind.CLIENT


def test_explicit_context_and_remote_parent(recorder):
    _, tracer, exporter = recorder
    remote = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(1))
    ctx = trace.set_span_in_context(NonRecordingSpan(remote))
    tracer.start_span("server", context=ctx, kind=SpanKind.SERVER).end()
    span = exporter.get_finished_spans()[0]
    assert span.context.trace_id == 0x1234
    assert span.parent == remote and span.parent.is_remote


def test_attributes_types_and_invalid_values(recorder):
    _, tracer, exporter = recorder
    span = tracer.start_span("a", attributes={"s": "x", "i": 1, "f": 1.5, "b": True, "seq": [1, 2]})
    span.set_attribute("later", "v")
    span.set_attributes({"l2": ["a", "b"], "": "empty key dropped"})
    span.set_attribute("obj", object())  # not representable: the API turns it into str or drops it
    span.set_attribute(None, "x")
    span.end()
    attrs = exporter.get_finished_spans()[0].attributes
    assert attrs["s"] == "x" and attrs["i"] == 1 and attrs["f"] == 1.5 and attrs["b"] is True
    assert attrs["seq"] == (1, 2) and attrs["l2"] == ("a", "b") and attrs["later"] == "v"
    assert "" not in attrs
    with pytest.raises(TypeError):
        attrs["x"] = 1  # the read side is read-only


def test_attribute_reset_moves_key_to_end(recorder):
    _, tracer, exporter = recorder
    span = tracer.start_span("a", attributes={"a": 1, "b": 2})
    span.set_attribute("a", 3)
    span.end()
    assert list(exporter.get_finished_spans()[0].attributes.items()) == [("b", 2), ("a", 3)]


def test_events_links_status_update_name(recorder):
    _, tracer, exporter = recorder
    other = SpanContext(0xAA, 0xBB, is_remote=False, trace_flags=TraceFlags(1))
    span = tracer.start_span("old", links=[Link(other, {"why": "batch"})])
    span.add_event("e1", {"k": "v"}, timestamp=123)
    span.add_event("e2")
    span.add_link(SpanContext(0xCC, 0xDD, is_remote=True), {"n": 1})
    span.add_link(trace.INVALID_SPAN_CONTEXT)  # invalid and attribute-less: ignored
    span.update_name("new")
    span.set_status(StatusCode.ERROR, "bad")
    span.end(end_time=10**19)
    done = exporter.get_finished_spans()[0]
    assert done.name == "new" and done.end_time == 10**19
    assert next((e.name, dict(e.attributes), e.timestamp) for e in done.events) == ("e1", {"k": "v"}, 123)
    assert done.events[1].name == "e2" and dict(done.events[1].attributes) == {}
    assert [link.context.span_id for link in done.links] == [0xBB, 0xDD]
    assert dict(done.links[0].attributes) == {"why": "batch"}
    assert done.status.status_code is StatusCode.ERROR and done.status.description == "bad"


def test_status_rules(recorder):
    _, tracer, exporter = recorder
    span = tracer.start_span("s")
    span.set_status(Status(StatusCode.UNSET))
    assert span.status.status_code is StatusCode.UNSET
    span.set_status(StatusCode.OK)
    span.set_status(StatusCode.ERROR, "ignored: OK is final")
    span.end()
    assert exporter.get_finished_spans()[0].status.status_code is StatusCode.OK


def test_end_is_idempotent_and_ended_span_is_frozen(recorder, caplog):
    _, tracer, exporter = recorder
    span = tracer.start_span("s")
    span.end()
    with caplog.at_level(logging.WARNING, logger="otel_lite.span"):
        span.end()
        span.set_attribute("late", 1)
        span.add_event("late")
    assert len(exporter.get_finished_spans()) == 1
    assert not span.is_recording()
    assert "late" not in span.attributes and not span.events


def test_exception_in_current_span_sets_status_and_event(recorder):
    _, tracer, exporter = recorder
    with pytest.raises(ValueError), tracer.start_as_current_span("fails"):
        raise ValueError("boom")
    span = exporter.get_finished_spans()[0]
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: boom"
    event = span.events[0]
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "boom"
    assert "raise ValueError" in event.attributes["exception.stacktrace"]


def test_record_exception_options(recorder):
    _, tracer, exporter = recorder
    with (
        pytest.raises(KeyError),
        tracer.start_as_current_span("quiet", record_exception=False, set_status_on_exception=False),
    ):
        raise KeyError("k")
    span = exporter.get_finished_spans()[0]
    assert span.events == () and span.status.status_code is StatusCode.UNSET

    class Custom(Exception):
        pass

    s = tracer.start_span("manual")
    try:
        raise Custom("x")
    except Custom as exc:
        s.record_exception(exc, attributes={"extra": 1}, escaped=True)
    s.end()
    attrs = exporter.get_finished_spans()[1].events[0].attributes
    assert attrs["exception.type"].endswith("test_span.test_record_exception_options.<locals>.Custom")
    assert attrs["extra"] == 1
    assert attrs["exception.escaped"] == "True"


def test_decorator_sync_and_async(recorder):
    _, tracer, exporter = recorder

    @tracer.start_as_current_span("sync-fn")
    def work(x):
        return trace.get_current_span().name if hasattr(trace.get_current_span(), "name") else None, x

    @tracer.start_as_current_span("async-fn")
    async def awork():
        await asyncio.sleep(0)
        return trace.get_current_span()

    assert work(1) == ("sync-fn", 1)
    assert work(2) == ("sync-fn", 2)  # a fresh span per call
    span = asyncio.run(awork())
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["sync-fn", "sync-fn", "async-fn"]
    assert span.name == "async-fn"


def test_context_isolated_between_asyncio_tasks(recorder):
    _, tracer, exporter = recorder

    async def job(name):
        with tracer.start_as_current_span(name):
            await asyncio.sleep(0.01)
            with tracer.start_as_current_span(name + "-child"):
                await asyncio.sleep(0)

    async def main():
        with tracer.start_as_current_span("root"):
            await asyncio.gather(job("a"), job("b"))

    asyncio.run(main())
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["a-child"].parent.span_id == spans["a"].context.span_id
    assert spans["b-child"].parent.span_id == spans["b"].context.span_id
    assert spans["a"].parent.span_id == spans["root"].context.span_id


def test_baggage_kept_in_context_alongside_span(recorder):
    _, tracer, _ = recorder
    token = context.attach(baggage.set_baggage("user", "42"))
    try:
        with tracer.start_as_current_span("s"):
            assert baggage.get_baggage("user") == "42"
    finally:
        context.detach(token)


def test_readable_span_to_json(recorder):
    _, tracer, exporter = recorder
    with tracer.start_as_current_span("j", attributes={"a": 1}):
        pass
    text = exporter.get_finished_spans()[0].to_json()
    assert '"name": "j"' in text and '"a": 1' in text


def test_sdk_exporters_work_as_is():
    """opentelemetry-sdk exporters accept otel_lite spans (they read the ReadableSpan side)."""
    import io

    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    out = io.StringIO()
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(ConsoleSpanExporter(out=out)))
    with provider.get_tracer("t").start_as_current_span("to-console", attributes={"k": "v"}):
        pass
    assert '"name": "to-console"' in out.getvalue()


def test_processor_failures_never_reach_the_application(recorder):
    provider, tracer, _ = recorder

    class Broken(otel_lite.SpanProcessor):
        def on_start(self, span, parent_context=None):
            raise RuntimeError("on_start")

        def on_end(self, span):
            raise RuntimeError("on_end")

    provider.add_span_processor(Broken())
    with tracer.start_as_current_span("survives"):
        pass


def test_non_recording_spans_for_dropped_traces():
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(sampler=otel_lite.ALWAYS_OFF, shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("dropped") as span:
        assert not span.is_recording()
        assert span.get_span_context().is_valid
        assert not span.get_span_context().trace_flags.sampled
        child = tracer.start_span("child")
        assert child.get_span_context().trace_id == span.get_span_context().trace_id
        span.set_attribute("ignored", 1)
    assert exporter.get_finished_spans() == ()


def test_provider_counters(recorder):
    provider, tracer, _ = recorder
    for _ in range(3):
        tracer.start_span("s").end()
    stats = provider.stats()
    assert stats["spans_started"] == 3 and stats["spans_ended"] == 3 and stats["spans_exported"] == 3


def test_tracers_are_cached_per_scope(recorder):
    provider, _, _ = recorder
    assert provider.get_tracer("a", "1") is provider.get_tracer("a", "1")
    assert provider.get_tracer("a", "1") is not provider.get_tracer("a", "2")
    scoped = provider.get_tracer("b", "2", "https://schema", {"x": 1})
    assert scoped.instrumentation_scope.schema_url == "https://schema"
    assert dict(scoped.instrumentation_scope.attributes) == {"x": 1}


def test_sdk_disabled(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    assert isinstance(provider.get_tracer("x"), trace.NoOpTracer)


def test_custom_id_generator(recorder):
    class Fixed(otel_lite.IdGenerator):
        def generate_trace_id(self):
            return 7

        def generate_span_id(self):
            return 9

    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(id_generator=Fixed(), shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("s").end()
    ctx = exporter.get_finished_spans()[0].context
    assert (ctx.trace_id, ctx.span_id) == (7, 9)
    assert not ctx.trace_flags & 2  # not a random trace id


def test_random_ids_are_nonzero_and_distinct(recorder):
    _, tracer, _ = recorder
    ids = {tracer.start_span("s").get_span_context().span_id for _ in range(2000)}
    assert len(ids) == 2000 and 0 not in ids


def test_scope_attributes_with_sequences_do_not_break_get_tracer():
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    first = provider.get_tracer("lib", "1.0", attributes={"tags": ["a", "b"], "n": 1})
    again = provider.get_tracer("lib", "1.0", attributes={"tags": ["a", "b"], "n": 1})
    other = provider.get_tracer("lib", "1.0", attributes={"tags": ["a"], "n": 1})
    assert first is again and first is not other
    assert dict(first.instrumentation_scope.attributes)["n"] == 1


# -- construction: one place, otel_lite.span.new_span; no other module of otel_lite or the shims writes a
# span's private fields (the OTLP encoder and the batch processor only read them)

ROOT = Path(__file__).resolve().parents[2]
# the slots plus the class-level defaults that a span overrides on demand
SPAN_FIELDS = set(Span.__slots__) | {
    "_events",
    "_links",
    "_status",
    "_dropped_attributes",
    "_dropped_events",
    "_dropped_links",
    "_record_exception",
    "_set_status_on_exception",
}

# opentelemetry-sdk spans under the shims: their kind is changed in place (otel_lite spans go through
# otel_lite.span.set_kind).
KNOWN = {("shims/_kind.py", "otel_span._kind")}


def _writes(tree):
    """(line, target) of every assignment to ``<not self>.<span field>`` in a module."""
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                if (
                    isinstance(element, ast.Attribute)
                    and element.attr in SPAN_FIELDS
                    and not (isinstance(element.value, ast.Name) and element.value.id == "self")
                ):
                    yield node.lineno, ast.unparse(element)


def test_only_span_module_writes_span_fields():
    offenders = []
    for folder in ("otel_lite", "shims"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "otel_lite" / "span.py":
                continue
            for line, target in _writes(ast.parse(path.read_text(), str(path))):
                if (str(path.relative_to(ROOT)), target) not in KNOWN:
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: {target}")
    assert not offenders, "span fields written outside otel_lite/span.py:\n" + "\n".join(offenders)


def test_new_span_fills_every_slot_and_repairs_bad_input():
    provider = otel_lite.TracerProvider(shutdown_on_exit=False, span_limits=otel_lite.SpanLimits(max_span_attributes=1))
    tracer = provider.get_tracer("t")
    ctx = SpanContext(1, 2, False, TraceFlags(1))
    link_ctx = SpanContext(3, 4, False)
    span = new_span(
        tracer,
        42,
        ctx,
        None,
        3,
        "not a time",
        {"a": 1, "b": 2},
        [Link(link_ctx, {"k": "v"}), Link(SpanContext(0, 0, False))],
        False,
        False,
    )
    for slot in Span.__slots__:
        getattr(span, slot)  # all set: none raises AttributeError
    assert span.name == "42" and span.kind is SpanKind.PRODUCER and span.context is ctx and span.parent is None
    assert isinstance(span.start_time, int) and span.end_time is None and span.is_recording()
    assert dict(span.attributes) == {"b": 2} and span.dropped_attributes == 1
    assert [link.context for link in span.links] == [link_ctx]  # the invalid, empty link is left out
    assert span._record_exception is False and span._set_status_on_exception is False
    plain = new_span(tracer, "plain", ctx, ctx, SpanKind.SERVER, 5, None, None, True, True)
    assert plain.start_time == 5 and dict(plain.attributes) == {} and plain.links == () and plain.events == ()
    assert plain.parent is ctx and plain.dropped_attributes == 0 and "_record_exception" not in plain.__dict__
    provider.shutdown()


def test_set_kind_changes_a_recording_span_only():
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    span = provider.get_tracer("t").start_span("s")
    assert set_kind(span, SpanKind.SERVER) and span.kind is SpanKind.SERVER
    assert set_kind(span, 3) and span.kind is SpanKind.PRODUCER
    span.end()
    assert not set_kind(span, SpanKind.CLIENT) and span.kind is SpanKind.PRODUCER
    assert not set_kind(object(), SpanKind.CLIENT)
    provider.shutdown()
