"""OpenCensus shim: mapping table, parentage, remote parents, propagation formats, uninstall."""

import asyncio
import datetime
from concurrent.futures import ThreadPoolExecutor

import pytest
from opencensus.trace import execution_context, time_event
from opencensus.trace import link as oc_link
from opencensus.trace import span as oc_span
from opencensus.trace import status as oc_status
from opencensus.trace.propagation.b3_format import B3FormatPropagator
from opencensus.trace.propagation.trace_context_http_header_format import TraceContextPropagator
from opencensus.trace.samplers import AlwaysOffSampler, AlwaysOnSampler
from opencensus.trace.span_context import SpanContext as OCSpanContext
from opencensus.trace.trace_options import TraceOptions
from opencensus.trace.tracer import Tracer
from opencensus.trace.tracers.context_tracer import ContextTracer
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from otel_lite.shims.opencensus import SCOPE_NAME, install_shim, is_installed, uninstall_shim

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"


@pytest.fixture
def shimmed(recorder):
    install_shim(recorder.provider)
    execution_context.clear()
    yield recorder
    uninstall_shim()
    execution_context.clear()


def parent_id(span):
    return span.parent.span_id if span.parent else None


def test_mapping_table(shimmed):
    tracer = Tracer(sampler=AlwaysOffSampler())  # the OpenCensus sampler is bypassed
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 600000)
    with tracer.span("op") as span:
        span.name = "renamed"
        span.span_kind = oc_span.SpanKind.SERVER
        span.add_attribute("http.status_code", 200)
        span.add_attribute("obj", ["a"])
        span.add_annotation("cache miss", key="k", hits=0)
        span.add_message_event(time_event.MessageEvent(when, 42, time_event.Type.RECEIVED, 1000, 600))
        span.add_link(oc_link.Link(TRACE_ID, SPAN_ID, oc_link.Type.PARENT_LINKED_SPAN, {"why": "batch"}))
        span.set_status(oc_status.Status(5, "not found"))
        assert span.span_kind == oc_span.SpanKind.SERVER
    (s,) = shimmed.spans()
    assert s.name == "renamed" and s.kind == SpanKind.SERVER
    assert s.instrumentation_scope.name == SCOPE_NAME
    assert dict(s.attributes) == {"http.status_code": 200, "obj": "['a']", "opencensus.status_code": 5}
    assert s.status.status_code == StatusCode.ERROR and s.status.description == "not found"
    annotation, message = s.events
    assert annotation.name == "cache miss" and dict(annotation.attributes) == {"key": "k", "hits": 0}
    assert message.name == "42" and dict(message.attributes) == {
        "message.event.type": "RECEIVED",
        "message.event.id": 42,
        "message.event.size.uncompressed": 1000,
        "message.event.size.compressed": 600,
    }
    assert message.timestamp == int(when.replace(tzinfo=datetime.UTC).timestamp()) * 10**9 + 600_000_000
    (link,) = s.links
    assert (link.context.trace_id, link.context.span_id) == (int(TRACE_ID, 16), int(SPAN_ID, 16))
    assert dict(link.attributes) == {"why": "batch", "opencensus.link.type": "PARENT_LINKED_SPAN"}
    assert s.end_time >= s.start_time


def test_status_ok_exceptions_and_bad_input(shimmed):
    tracer = Tracer()
    with tracer.span("ok") as span:
        span.set_status(oc_status.Status.as_ok())
        span.add_link(oc_link.Link("nothex", SPAN_ID))  # dropped with a warning
        with pytest.raises(TypeError):
            span.add_link("not a link")
        with pytest.raises(TypeError):
            span.set_status(500)
    with pytest.raises(RuntimeError), tracer.span("boom"):
        raise RuntimeError("bad")
    with tracer.span("untouched"):
        pass
    spans = shimmed.by_name()
    assert spans["ok"].status.status_code == StatusCode.OK and spans["ok"].links == ()
    assert spans["ok"].attributes["opencensus.status_code"] == 0
    boom = spans["boom"]
    assert boom.status.status_code == StatusCode.ERROR and boom.attributes["opencensus.status_code"] == 2
    assert boom.events[0].name == "exception"
    assert spans["untouched"].status.status_code == StatusCode.UNSET


def test_tracer_api_start_end_current_finish(shimmed):
    tracer = Tracer()
    assert tracer.current_span() is None
    root = tracer.start_span("root")
    assert tracer.current_span() is root and execution_context.get_current_span() is root
    child = tracer.start_span("child")
    tracer.add_attribute_to_current_span("k", "v")
    assert child.parent_span is root
    tracer.end_span()
    assert tracer.current_span() is root
    tracer.start_span("left_open")
    tracer.start_span("left_open_too")
    tracer.finish()  # ends everything still open, innermost first
    assert tracer.current_span() is None and execution_context.get_current_span() is None
    spans = shimmed.by_name()
    assert spans["child"].attributes["k"] == "v"
    assert parent_id(spans["child"]) == spans["root"].context.span_id
    assert parent_id(spans["left_open_too"]) == spans["left_open"].context.span_id
    assert set(spans) == {"root", "child", "left_open", "left_open_too"}
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_child_span_not_current(shimmed):
    tracer = Tracer()
    with tracer.span("parent") as parent:
        with parent.span("detached") as detached:
            assert tracer.current_span() is parent
        assert list(parent) == [detached, parent]
    spans = shimmed.by_name()
    assert parent_id(spans["detached"]) == spans["parent"].context.span_id


def test_otel_oc_otel_sandwich(shimmed):
    tracer = Tracer()
    otel = shimmed.otel_tracer
    with otel.start_as_current_span("otel_root"), tracer.span("oc_middle") as middle:
        assert middle.unwrap() is trace.get_current_span()
        with otel.start_as_current_span("otel_leaf"):
            tracer.add_attribute_to_current_span("set_via_oc", True)  # the current span is the OTel leaf
    spans = shimmed.by_name()
    assert parent_id(spans["oc_middle"]) == spans["otel_root"].context.span_id
    assert parent_id(spans["otel_leaf"]) == spans["oc_middle"].context.span_id
    assert spans["otel_leaf"].attributes["set_via_oc"] is True
    assert len({s.context.trace_id for s in spans.values()}) == 1


@pytest.mark.parametrize("options,sampled", [("1", True), ("0", False)])
def test_remote_parent_from_headers(shimmed, options, sampled):
    headers = {"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-0{options}", "tracestate": "vendor=x"}
    span_context = TraceContextPropagator().from_headers(headers)
    assert span_context.from_header
    # AlwaysOnSampler would switch trace_options on: the shim keeps the header's flag.
    tracer = Tracer(span_context=span_context, sampler=AlwaysOnSampler())
    with tracer.span("server") as span:
        otel_context = span.unwrap().get_span_context()
        assert otel_context.trace_id == int(TRACE_ID, 16)
        assert otel_context.trace_flags.sampled is sampled  # the default ParentBased sampler follows it
        assert otel_context.trace_state.get("vendor") == "x"
        if sampled:
            parent = span.unwrap().parent
            assert parent.span_id == int(SPAN_ID, 16) and parent.is_remote
    assert [s.name for s in shimmed.spans()] == (["server"] if sampled else [])


def test_opencensus_propagators_follow_current_span(shimmed):
    headers = {"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01"}
    tracer = Tracer(span_context=TraceContextPropagator().from_headers(headers))
    with tracer.span("client") as span:
        out = TraceContextPropagator().to_headers(tracer.span_context)
        assert out["traceparent"] == f"00-{TRACE_ID}-{span.span_id}-01"
        b3 = B3FormatPropagator().to_headers(tracer.span_context)
        assert b3["x-b3-traceid"] == TRACE_ID and b3["x-b3-spanid"] == span.span_id and b3["x-b3-sampled"] == "1"
        # the receiving side: OpenCensus extracts, the shim parents on it
        receiver = Tracer(span_context=B3FormatPropagator().from_headers(b3))
        with receiver.span("downstream"):
            pass
    # after the span, span_context is the remote parent again
    assert tracer.span_context.span_id == SPAN_ID
    spans = shimmed.by_name()
    assert parent_id(spans["downstream"]) == spans["client"].context.span_id
    assert spans["downstream"].context.trace_id == int(TRACE_ID, 16)


def test_local_span_context_without_parent_is_root(shimmed):
    tracer = Tracer(span_context=OCSpanContext(trace_options=TraceOptions("1")))
    with tracer.span("root"):
        pass
    (s,) = shimmed.spans()
    assert s.parent is None


def test_threads_and_asyncio(shimmed):
    def request(i):
        tracer = Tracer()
        with tracer.span(f"req{i}"), tracer.span(f"db{i}"):
            pass

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(request, range(4)))

    async def handler(i):
        tracer = Tracer()
        with tracer.span(f"areq{i}"):
            await asyncio.sleep(0)
            with tracer.span(f"adb{i}"):
                await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*(handler(i) for i in range(4)))

    asyncio.run(main())
    spans = shimmed.by_name()
    for prefix in ("", "a"):
        for i in range(4):
            assert parent_id(spans[f"{prefix}db{i}"]) == spans[f"{prefix}req{i}"].context.span_id
            assert spans[f"{prefix}req{i}"].parent is None


def test_uninstall_restores_opencensus_exactly(recorder):
    before = dict(Tracer.__dict__)
    early = Tracer(sampler=AlwaysOnSampler())  # built before the install: shimmed too
    install_shim(recorder.provider)
    assert is_installed()
    during = Tracer(sampler=AlwaysOnSampler())
    with early.span("early"):
        pass
    with during.span("during"):
        pass
    install_shim(recorder.provider)  # idempotent
    uninstall_shim()
    assert not is_installed()
    assert dict(Tracer.__dict__) == before
    assert isinstance(early.tracer, ContextTracer) and isinstance(during.tracer, ContextTracer)
    exported = []
    plain = Tracer(sampler=AlwaysOnSampler(), exporter=type("E", (), {"export": lambda self, d: exported.extend(d)})())
    with plain.span("native"):
        pass
    assert [s.name for s in recorder.spans()] == ["early", "during"]
    assert [d.name for d in exported] == ["native"]
    execution_context.clear()


def test_trace_decorator_and_unsampled_spans(shimmed):
    tracer = Tracer()

    @tracer.trace_decorator()
    def work():
        tracer.current_span().span_kind = oc_span.SpanKind.CLIENT
        return 42

    assert work() == 42
    (s,) = shimmed.spans()
    assert s.name == "work" and s.kind == SpanKind.CLIENT and s.parent is None
    # an unsampled remote parent: the span does not record, and nothing breaks
    headers = {"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-00"}
    with Tracer(span_context=TraceContextPropagator().from_headers(headers)).span("dropped") as span:
        span.span_kind = oc_span.SpanKind.SERVER
        span.add_attribute("k", "v")
        span.set_status(oc_status.Status(2, "x"))
    assert len(shimmed.spans()) == 1


# -- issue 14: the Tracer's own span context, the execution context after end_span, Status(0, "msg")


@pytest.mark.parametrize("from_header", [False, True])
def test_tracer_span_context_with_span_id_is_the_remote_parent(shimmed, from_header):
    # built by the caller (custom propagation, a message queue) or by a propagator: the same parent
    span_context = OCSpanContext(
        trace_id=TRACE_ID, span_id=SPAN_ID, trace_options=TraceOptions("1"), from_header=from_header
    )
    tracer = Tracer(span_context=span_context)
    tracer.start_span("consumer")
    tracer.end_span()
    (s,) = shimmed.spans()
    assert s.context.trace_id == int(TRACE_ID, 16)
    assert s.parent.span_id == int(SPAN_ID, 16) and s.parent.is_remote


def test_tracer_span_context_default_flags_keep_the_trace(shimmed):
    # OpenCensus's SpanContext defaults trace_options to "0" (not sampled): the span is in the given
    # trace, and the default parent-based sampler does not record it (documented in the README)
    tracer = Tracer(span_context=OCSpanContext(trace_id=TRACE_ID, span_id=SPAN_ID))
    span = tracer.start_span("unsampled")
    otel_context = span.unwrap().get_span_context()
    assert otel_context.trace_id == int(TRACE_ID, 16) and not otel_context.trace_flags.sampled
    tracer.end_span()
    assert shimmed.spans() == []


def test_tracer_default_span_context_is_not_a_parent(shimmed):
    tracer = Tracer()  # random trace id, no span id
    assert tracer.span_context.span_id is None
    with tracer.span("root"):
        pass
    (s,) = shimmed.spans()
    assert s.parent is None and s.context.trace_flags.sampled


def test_span_context_assigned_after_construction_is_the_parent(shimmed):
    tracer = Tracer()
    with tracer.span("first"):
        pass
    tracer.span_context = OCSpanContext(trace_id=TRACE_ID, span_id=SPAN_ID, trace_options=TraceOptions("1"))
    with tracer.span("second"):
        pass
    spans = shimmed.by_name()
    assert spans["first"].parent is None
    assert spans["second"].parent.span_id == int(SPAN_ID, 16)
    assert spans["second"].context.trace_id == int(TRACE_ID, 16)


def test_execution_context_after_end_span_is_the_parent_or_none(shimmed):
    tracer = Tracer()
    span = tracer.start_span("foo")
    assert execution_context.get_current_span() is span
    tracer.end_span()
    assert execution_context.get_current_span() is None
    outer = tracer.start_span("outer")
    tracer.start_span("inner")
    tracer.end_span()
    assert execution_context.get_current_span() is outer
    tracer.end_span()
    assert execution_context.get_current_span() is None


def test_execution_context_after_end_span_ignores_a_stale_span(shimmed):
    # something left an already finished span in OpenCensus's execution context (an integration
    # that set it directly, a span finished without end_span): end_span must not bring it back
    tracer = Tracer()
    stale = tracer.start_span("stale")
    tracer.end_span()
    execution_context.set_current_span(stale)
    tracer.start_span("foo")
    tracer.end_span()
    assert execution_context.get_current_span() is None


def test_execution_context_under_an_opentelemetry_parent(shimmed):
    tracer = Tracer()
    with shimmed.otel_tracer.start_as_current_span("otel_parent") as otel_parent:
        tracer.start_span("oc_child")
        tracer.end_span()
        current = execution_context.get_current_span()
        assert current is not None and current.unwrap() is otel_parent
    with tracer.span("after"):
        pass
    assert execution_context.get_current_span() is None


def test_set_status_ok_with_description_warns_once(shimmed, caplog, monkeypatch):
    from otel_lite.shims.opencensus import mapping

    monkeypatch.setattr(mapping._OkDescriptionWarning, "last", None)
    monkeypatch.setattr(mapping._OkDescriptionWarning, "suppressed", 0)
    tracer = Tracer()
    with caplog.at_level("WARNING", logger=mapping.__name__):
        for _ in range(3):
            with tracer.span("span_ok") as span:
                span.set_status(oc_status.Status(0, "message"))
        with tracer.span("plain_ok") as span:
            span.set_status(oc_status.Status.as_ok())  # no description: no warning
    warnings = [r for r in caplog.records if r.name == mapping.__name__]
    assert len(warnings) == 1
    assert "description should only be set when status_code is set to StatusCode.ERROR" in warnings[0].getMessage()
    assert mapping._OkDescriptionWarning.suppressed == 2
    for s in shimmed.spans():
        assert s.status.status_code == StatusCode.OK and s.status.description is None
    # after the interval the next one is warned again, with the count of those left out
    monkeypatch.setattr(mapping._OkDescriptionWarning, "last", mapping._OkDescriptionWarning.last - 61)
    caplog.clear()
    with caplog.at_level("WARNING", logger=mapping.__name__), tracer.span("later") as span:
        span.set_status(oc_status.Status(0, "again"))
    (warning,) = [r for r in caplog.records if r.name == mapping.__name__]
    assert "2 more since the last warning" in warning.getMessage()
