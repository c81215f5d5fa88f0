"""OpenTracing shim behaviour beyond the harness: mapping, baggage, propagation, concurrency."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import opentracing
import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as context_api
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.b3 import B3MultiFormat, B3SingleFormat
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.jaeger import JaegerPropagator
from opentelemetry.trace import SpanKind, StatusCode
from opentracing import Format

from otel_lite.shims.opentracing import SCOPE_NAME, SpanContextShim, create_tracer


@pytest.fixture
def ot(recorder):
    return create_tracer(recorder.provider)


@pytest.fixture
def global_textmap():
    """Restore the global propagator after a test changes it."""
    saved = propagate.get_global_textmap()
    yield
    propagate.set_global_textmap(saved)


def parent_id(span):
    return span.parent.span_id if span.parent else None


def test_scope_name_and_unwrap(ot, recorder):
    with ot.start_active_span("op") as scope:
        assert scope.span.unwrap() is trace.get_current_span()
    (span,) = recorder.spans()
    assert span.instrumentation_scope.name == SCOPE_NAME


def test_references_parent_and_links(ot, recorder):
    a = ot.start_span("a")
    b = ot.start_span("b")
    c = ot.start_span(
        "c",
        references=[opentracing.follows_from(a.context), opentracing.child_of(b.context), opentracing.child_of(None)],
    )
    d = ot.start_span("d", references=[opentracing.follows_from(a.context)])
    for s in (d, c, b, a):
        s.finish()
    spans = recorder.by_name()
    assert parent_id(spans["c"]) == spans["b"].context.span_id  # first CHILD_OF wins
    assert [(link.context.span_id, dict(link.attributes)) for link in spans["c"].links] == [
        (spans["a"].context.span_id, {"opentracing.ref_type": "follows_from"}),
        (spans["b"].context.span_id, {"opentracing.ref_type": "child_of"}),
    ]
    assert parent_id(spans["d"]) == spans["a"].context.span_id  # else the first reference
    assert spans["c"].context.trace_id == spans["b"].context.trace_id


def test_child_of_beats_active_span_and_ignore_active_span(ot, recorder):
    explicit = ot.start_span("explicit")
    with ot.start_active_span("active"):
        ot.start_span("child_of", child_of=explicit).finish()
        ot.start_span("implicit").finish()
        ot.start_span("root", ignore_active_span=True).finish()
        with ot.start_active_span("root2", ignore_active_span=True):
            pass
    explicit.finish()
    spans = recorder.by_name()
    assert parent_id(spans["child_of"]) == spans["explicit"].context.span_id
    assert parent_id(spans["implicit"]) == spans["active"].context.span_id
    assert spans["root"].parent is None and spans["root2"].parent is None


def test_tags_times_and_status(ot, recorder):
    start = 1_700_000_000.25
    span = ot.start_span(
        "t", tags={"s": "x", "i": 3, "f": 1.5, "b": True, "obj": {"k": 1}, "error": True}, start_time=start
    )
    assert span.set_tag("later", 7) is span
    span.finish(finish_time=start + 2)
    ok = ot.start_span("ok").set_tag("error", False)
    ok.finish()
    plain = ot.start_span("plain")
    plain.finish()
    spans = recorder.by_name()
    t = spans["t"]
    assert dict(t.attributes) == {"s": "x", "i": 3, "f": 1.5, "b": True, "obj": "{'k': 1}", "later": 7}
    assert t.status.status_code == StatusCode.ERROR
    assert t.start_time == 1_700_000_000_250_000_000 and t.end_time == 1_700_000_002_250_000_000
    assert spans["ok"].status.status_code == StatusCode.OK
    assert spans["plain"].status.status_code == StatusCode.UNSET


def test_span_kind_mapping_is_opt_in(recorder):
    plain = create_tracer(recorder.provider)
    mapped = create_tracer(recorder.provider, map_span_kind=True)
    plain.start_span("plain", tags={"span.kind": "client"}).finish()
    for kind in ("client", "server", "producer", "consumer"):
        mapped.start_span(kind, tags={"span.kind": kind}).finish()
    spans = recorder.by_name()
    assert spans["plain"].kind == SpanKind.INTERNAL and spans["plain"].attributes["span.kind"] == "client"
    assert spans["client"].kind == SpanKind.CLIENT and "span.kind" not in spans["client"].attributes
    assert spans["server"].kind == SpanKind.SERVER
    assert spans["producer"].kind == SpanKind.PRODUCER
    assert spans["consumer"].kind == SpanKind.CONSUMER


def test_log_kv_events_and_errors(ot, recorder):
    span = ot.start_span("logs")
    assert span.log_kv({"event": "cache.miss", "key": "k"}, 1_700_000_000.5) is span
    span.log_kv({"just": "fields"})
    span.log_kv({"event": "error", "error.kind": "Timeout", "message": "too slow", "stack": "line 1"})
    try:
        raise KeyError("boom")
    except KeyError as exc:
        span.log_kv({"event": "error", "error.object": exc, "error.kind": type(exc), "component": "db"})
    assert span.log_event("old", {"p": 1}) is span
    assert span.log(event="older") is span
    span.finish()
    (s,) = recorder.spans()
    events = [(e.name, dict(e.attributes)) for e in s.events]
    assert events[0] == ("cache.miss", {"event": "cache.miss", "key": "k"})
    assert s.events[0].timestamp == 1_700_000_000_500_000_000
    assert events[1] == ("log", {"just": "fields"})
    assert events[2] == (
        "exception",
        {"exception.type": "Timeout", "exception.message": "too slow", "exception.stacktrace": "line 1"},
    )
    name, attrs = events[3]
    assert name == "exception" and attrs["exception.type"] == "KeyError" and attrs["component"] == "db"
    assert "boom" in attrs["exception.message"] and "raise KeyError" in attrs["exception.stacktrace"]
    assert events[4] == ("old", {"event": "old", "payload": "{'p': 1}"})
    assert events[5][0] == "older"


def test_exception_in_with_block(ot, recorder):
    with pytest.raises(ValueError), ot.start_active_span("fails"):
        raise ValueError("bad")
    (s,) = recorder.spans()
    assert s.status.status_code == StatusCode.ERROR
    (event,) = s.events
    assert event.name == "exception" and event.attributes["exception.type"] == "ValueError"
    assert "raise ValueError" in event.attributes["exception.stacktrace"]


def test_baggage_inherited_and_shared_with_otel(ot, recorder):
    with ot.start_active_span("parent") as scope:
        assert scope.span.set_baggage_item("user", "alice") is scope.span
        assert baggage.get_baggage("user") == "alice"  # visible to OpenTelemetry code while active
        with ot.start_active_span("child") as child:
            assert child.span.get_baggage_item("user") == "alice"
            assert child.span.context.baggage == {"user": "alice"}
        explicit = ot.start_span("explicit", child_of=scope.span, ignore_active_span=True)
        assert explicit.get_baggage_item("user") == "alice"
        explicit.finish()
    assert baggage.get_baggage("user") is None  # gone with the scope
    # OpenTelemetry baggage current at start is inherited by OpenTracing spans
    token = context_api.attach(baggage.set_baggage("tenant", "t1"))
    try:
        span = ot.start_span("from_otel")
        assert span.get_baggage_item("tenant") == "t1"
        with ot.scope_manager.activate(span, True):
            assert ot.active_span.get_baggage_item("tenant") == "t1"
    finally:
        context_api.detach(token)


def test_span_context_is_immutable(ot):
    span = ot.start_span("s")
    before = span.context
    span.set_baggage_item("k", "v")
    assert before.baggage == {} and span.context.baggage == {"k": "v"} and span.context is not before
    with pytest.raises(TypeError):
        span.context.baggage["x"] = "y"
    span.finish()


def test_baggage_thread_safety(ot):
    span = ot.start_span("shared")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: span.set_baggage_item(f"k{i}", str(i)), range(200)))
    assert span.context.baggage == {f"k{i}": str(i) for i in range(200)}
    span.finish()


def test_active_span_wraps_otel_span_and_baggage_only(ot, recorder):
    assert ot.active_span is None
    with recorder.otel_tracer.start_as_current_span("otel") as otel_span:
        wrapped = ot.active_span
        assert wrapped.unwrap() is otel_span
        with ot.start_active_span("ot_child"):
            pass
        wrapped.set_tag("from_ot", True)
    spans = recorder.by_name()
    assert parent_id(spans["ot_child"]) == spans["otel"].context.span_id
    assert spans["otel"].attributes["from_ot"] is True
    token = context_api.attach(baggage.set_baggage("only", "bag"))
    try:
        scope = ot.scope_manager.active
        assert scope is not None and not scope.span.context.unwrap().is_valid
        assert scope.span.get_baggage_item("only") == "bag"
    finally:
        context_api.detach(token)


def test_out_of_order_close(ot, recorder):
    outer = ot.start_active_span("outer")
    inner = ot.start_active_span("inner")
    outer.close()  # not the active scope: ignored
    assert ot.scope_manager.active is inner and recorder.spans() == []
    inner.close()
    assert ot.scope_manager.active is outer
    outer.close()
    outer.close()  # a second close is harmless
    assert ot.active_span is None
    assert sorted(s.name for s in recorder.spans()) == ["inner", "outer"]


def _round_trip(ot, fmt, carrier):
    with ot.start_active_span("sender") as scope:
        scope.span.set_baggage_item("k", "v")
        ot.inject(scope.span.context, fmt, carrier)
        sent = scope.span.context
    extracted = ot.extract(fmt, carrier)
    assert isinstance(extracted, SpanContextShim)
    assert extracted.trace_id == sent.trace_id and extracted.span_id == sent.span_id
    assert extracted.baggage == {"k": "v"} and extracted.unwrap().is_remote
    child = ot.start_span("receiver", child_of=extracted)
    assert child.get_baggage_item("k") == "v"
    child.finish()
    return carrier


@pytest.mark.parametrize("fmt", [Format.TEXT_MAP, Format.HTTP_HEADERS])
def test_text_formats_use_global_w3c(ot, fmt):
    carrier = _round_trip(ot, fmt, {})
    assert set(carrier) == {"traceparent", "baggage"} and carrier["baggage"] == "k=v"


def test_http_headers_case_insensitive(ot):
    with ot.start_active_span("s") as scope:
        carrier = {}
        ot.inject(scope.span.context, Format.HTTP_HEADERS, carrier)
    upper = {k.title(): v for k, v in carrier.items()}
    assert ot.extract(Format.HTTP_HEADERS, upper).span_id == scope.span.context.span_id


def test_binary_format(ot):
    carrier = _round_trip(ot, Format.BINARY, bytearray())
    assert carrier[0] == 1 and int.from_bytes(carrier[1:5], "big") == len(carrier) - 5
    assert ot.extract(Format.BINARY, bytearray()) is None
    for bad in (
        bytearray(b"\x01\x00"),
        bytearray(b"\x02\x00\x00\x00\x02{}"),
        bytearray(b"\x01\x00\x00\x00\x09{}"),
        bytearray(b"\x01\x00\x00\x00\x03[1]"),
        bytearray(b"\x01\xff\xff\xff\xff"),
    ):
        with pytest.raises(opentracing.SpanContextCorruptedException):
            ot.extract(Format.BINARY, bad)
    with pytest.raises(opentracing.InvalidCarrierException):
        ot.extract(Format.BINARY, "not bytes")
    with pytest.raises(opentracing.InvalidCarrierException):
        ot.inject(ot.start_span("x").context, Format.BINARY, b"immutable")


def test_unknown_and_empty(ot):
    span = ot.start_span("s")
    with pytest.raises(opentracing.UnsupportedFormatException):
        ot.inject(span.context, "custom", {})
    with pytest.raises(opentracing.UnsupportedFormatException):
        ot.extract("custom", {})
    assert ot.extract(Format.TEXT_MAP, {}) is None
    assert ot.extract(Format.HTTP_HEADERS, {"unrelated": "x"}) is None
    assert ot.extract(Format.TEXT_MAP, {"traceparent": "garbage"}) is None


def test_baggage_injected_without_valid_span(ot):
    context = SpanContextShim(trace.INVALID_SPAN_CONTEXT, {"only": "bag"})
    carrier = {}
    ot.inject(context, Format.TEXT_MAP, carrier)
    assert carrier == {"baggage": "only=bag"}
    extracted = ot.extract(Format.TEXT_MAP, carrier)
    assert extracted.baggage == {"only": "bag"} and not extracted.unwrap().is_valid


@pytest.mark.parametrize(
    "propagator,header",
    [(B3MultiFormat(), "x-b3-traceid"), (B3SingleFormat(), "b3"), (JaegerPropagator(), "uber-trace-id")],
)
def test_configured_global_propagators(ot, global_textmap, propagator, header):
    propagate.set_global_textmap(CompositePropagator([propagator, W3CBaggagePropagator()]))
    carrier = _round_trip(ot, Format.HTTP_HEADERS, {})
    assert header in carrier and "traceparent" not in carrier


def test_propagators_from_otel_propagators_env(ot, global_textmap, monkeypatch):
    import importlib

    monkeypatch.setenv("OTEL_PROPAGATORS", "jaeger")
    importlib.reload(propagate)  # the API reads OTEL_PROPAGATORS at import
    try:
        carrier = {}
        with ot.start_active_span("s") as scope:
            ot.inject(scope.span.context, Format.TEXT_MAP, carrier)
        assert "uber-trace-id" in carrier
        assert ot.extract(Format.TEXT_MAP, carrier).span_id == scope.span.context.span_id
    finally:
        monkeypatch.delenv("OTEL_PROPAGATORS")
        importlib.reload(propagate)


def test_explicit_per_format_propagators(recorder):
    ot = create_tracer(
        recorder.provider, text_map_propagator=JaegerPropagator(), http_headers_propagator=B3MultiFormat()
    )
    with ot.start_active_span("s") as scope:
        text, http = {}, {}
        ot.inject(scope.span.context, Format.TEXT_MAP, text)
        ot.inject(scope.span.context, Format.HTTP_HEADERS, http)
    assert "uber-trace-id" in text and "x-b3-spanid" in http
    assert ot.extract(Format.TEXT_MAP, text).span_id == ot.extract(Format.HTTP_HEADERS, http).span_id


def test_threads_are_isolated(ot, recorder):
    barrier = threading.Barrier(4)

    def work(i):
        with ot.start_active_span(f"root{i}") as root:
            barrier.wait(timeout=30)
            with ot.start_active_span(f"child{i}") as child:
                assert ot.active_span is child.span
            assert ot.active_span is root.span
        assert ot.active_span is None

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    spans = recorder.by_name()
    for i in range(4):
        assert parent_id(spans[f"child{i}"]) == spans[f"root{i}"].context.span_id


def test_asyncio_tasks(ot, recorder):
    async def handler(i):
        with ot.start_active_span(f"req{i}"):
            await asyncio.sleep(0)
            with ot.start_active_span(f"db{i}"):
                await asyncio.sleep(0)

    async def main():
        with ot.start_active_span("server"):
            await asyncio.gather(*(handler(i) for i in range(5)))

    asyncio.run(main())
    spans = recorder.by_name()
    for i in range(5):
        assert parent_id(spans[f"db{i}"]) == spans[f"req{i}"].context.span_id
        assert parent_id(spans[f"req{i}"]) == spans["server"].context.span_id


def test_late_finish_from_another_thread(ot, recorder):
    span = ot.start_span("late")
    with ot.scope_manager.activate(span, finish_on_close=False):
        pass
    t = threading.Thread(target=span.finish)
    t.start()
    t.join(timeout=30)
    assert [s.name for s in recorder.spans()] == ["late"]


def test_close_does_not_shut_the_provider_down(recorder):
    # a legacy library closing "its" tracer (jaeger-client's Tracer.close) must not end tracing in the process
    ot = create_tracer(recorder.provider)
    other = create_tracer(recorder.provider)
    with ot.start_active_span("parent") as scope:
        ot.close()
        child = ot.start_span("after_close")  # closed: not recorded, but the parent's context goes on
        assert child.context.trace_id == scope.span.context.trace_id
        carrier: dict = {}
        ot.inject(child.context, Format.TEXT_MAP, carrier)
        assert carrier["traceparent"].split("-")[1] == f"{scope.span.context.trace_id:032x}"
        child.finish()
    ot.close()  # twice: harmless
    other.start_span("other_tracer").finish()
    with recorder.otel_tracer.start_as_current_span("opentelemetry"):
        pass
    assert [s.name for s in recorder.spans()] == ["parent", "other_tracer", "opentelemetry"]


def test_close_flushes_the_provider():
    import otel_lite

    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=600_000))
    ot = create_tracer(provider)
    ot.start_span("buffered").finish()
    assert exporter.get_finished_spans() == ()  # still in the batch queue
    ot.close()
    assert [s.name for s in exporter.get_finished_spans()] == ["buffered"]
    provider.get_tracer("t").start_span("still_on").end()
    provider.force_flush()
    assert [s.name for s in exporter.get_finished_spans()] == ["buffered", "still_on"]
    provider.shutdown()


def test_close_provider_when_asked(recorder):
    ot = create_tracer(recorder.provider, close_provider=True)  # the spec's optional Close
    ot.start_span("before").finish()
    ot.close()
    recorder.otel_tracer.start_span("after").end()
    assert [s.name for s in recorder.spans()] == ["before"]


def test_close_never_raises(recorder):
    class Failing:
        def get_tracer(self, *args, **kwargs):
            return recorder.otel_tracer

        def force_flush(self, timeout_millis=None):
            raise RuntimeError("flush failed")

    create_tracer(Failing()).close()  # logged, not raised


def test_span_kind_tag_after_start_flask_opentracing_style(recorder):
    """Flask-OpenTracing's before_request: start_active_span, then set_tag(SPAN_KIND, ...)."""
    from opentracing.ext import tags

    mapped = create_tracer(recorder.provider, map_span_kind=True)
    plain = create_tracer(recorder.provider)
    for tracer, name in ((mapped, "mapped"), (plain, "plain")):
        headers = {}
        span_ctx = tracer.extract(Format.HTTP_HEADERS, headers)
        scope = tracer.start_active_span(name, child_of=span_ctx)
        span = scope.span
        span.set_tag(tags.COMPONENT, "Flask")
        span.set_tag(tags.HTTP_METHOD, "GET")
        span.set_tag(tags.SPAN_KIND, tags.SPAN_KIND_RPC_SERVER)
        with tracer.start_active_span("client_call") as call:
            call.span.set_tag(tags.SPAN_KIND, tags.SPAN_KIND_RPC_CLIENT)
        scope.close()
    late = mapped.start_span("late")
    late.finish()
    late.set_tag(tags.SPAN_KIND, "server")  # after the end: the exported span keeps its kind
    spans = recorder.spans()
    by_name = {(s.name, s.parent.span_id if s.parent else None): s for s in spans}
    mapped_span = next(s for s in spans if s.name == "mapped")
    plain_span = next(s for s in spans if s.name == "plain")
    assert mapped_span.kind == SpanKind.SERVER and "span.kind" not in mapped_span.attributes
    assert mapped_span.attributes["component"] == "Flask"
    assert by_name[("client_call", mapped_span.context.span_id)].kind == SpanKind.CLIENT
    assert plain_span.kind == SpanKind.INTERNAL and plain_span.attributes["span.kind"] == "server"
    assert by_name[("client_call", plain_span.context.span_id)].kind == SpanKind.INTERNAL
    assert next(s for s in spans if s.name == "late").kind == SpanKind.INTERNAL


def test_unknown_span_kind_tag_stays_an_attribute(recorder):
    ot = create_tracer(recorder.provider, map_span_kind=True)
    span = ot.start_span("s")
    span.set_tag("span.kind", "gateway")
    span.finish()
    (s,) = recorder.spans()
    assert s.kind == SpanKind.INTERNAL and s.attributes["span.kind"] == "gateway"


@pytest.mark.parametrize("names", ["tracecontext,baggage,jaeger", ["tracecontext", "baggage", "jaeger"]])
def test_create_tracer_propagators_by_name(recorder, global_textmap, names):
    from otel_lite.propagation import TraceContextPropagator

    propagate.set_global_textmap(CompositePropagator([]))  # the global one is not used
    ot = create_tracer(recorder.provider, propagators=names)
    assert isinstance(ot._propagator(Format.HTTP_HEADERS)._propagators[0], TraceContextPropagator)
    with ot.start_active_span("client") as scope:
        scope.span.set_baggage_item("tenant", "acme")
        carrier: dict = {}
        ot.inject(scope.span.context, Format.HTTP_HEADERS, carrier)
    assert {"traceparent", "uber-trace-id", "baggage", "uberctx-tenant"} <= set(carrier)
    # a caller still on jaeger-client sends only uber-trace-id (and uberctx-*): continued
    trace_id, span_id = scope.span.context.trace_id, scope.span.context.span_id
    jaeger_only = {"Uber-Trace-Id": f"{trace_id:032x}:{span_id:016x}:0:1", "uberctx-tenant": "acme"}
    extracted = ot.extract(Format.HTTP_HEADERS, jaeger_only)
    assert (extracted.trace_id, extracted.span_id) == (trace_id, span_id) and extracted.baggage == {"tenant": "acme"}
    with ot.start_active_span("server", child_of=extracted):
        pass
    server = recorder.by_name()["server"]
    assert server.parent.span_id == span_id and server.context.trace_id == trace_id


def test_explicit_propagator_wins_over_names(recorder):
    ot = create_tracer(recorder.provider, propagators="jaeger", text_map_propagator=B3SingleFormat())
    with ot.start_active_span("s") as scope:
        text_map: dict = {}
        headers: dict = {}
        ot.inject(scope.span.context, Format.TEXT_MAP, text_map)
        ot.inject(scope.span.context, Format.HTTP_HEADERS, headers)
    assert "b3" in text_map and "uber-trace-id" not in text_map
    assert "uber-trace-id" in headers


def test_global_provider_by_default(recorder, monkeypatch):
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: recorder.provider)
    create_tracer().start_span("g").finish()
    assert [s.name for s in recorder.spans()] == ["g"]


def test_extract_from_http_server_headers(ot):
    """``http.server`` hands over an ``email.message.Message``, not a dict."""
    from email.message import Message

    with ot.start_active_span("client") as scope:
        carrier = {}
        ot.inject(scope.span.context, Format.HTTP_HEADERS, carrier)
    message = Message()
    for name, value in carrier.items():
        message[name.title()] = value
    assert ot.extract(Format.HTTP_HEADERS, message).span_id == scope.span.context.span_id
    with pytest.raises(opentracing.InvalidCarrierException):
        ot.extract(Format.TEXT_MAP, "traceparent=...")


def test_testbed_nested_callbacks_asyncio(ot, recorder):
    """opentracing testbed 'nested callbacks': a span carried through callbacks, finished by the last."""

    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        span = ot.start_span("one")

        def step(i):
            with ot.scope_manager.activate(span, finish_on_close=False):
                span.set_tag(f"key{i}", str(i))
                ot.start_span(f"child{i}").finish()
                if i < 3:
                    loop.call_soon(step, i + 1)
                else:
                    span.finish()
                    done.set_result(None)

        loop.call_soon(step, 1)
        await asyncio.wait_for(done, 30)
        assert ot.active_span is None

    asyncio.run(main())
    spans = recorder.by_name()
    assert dict(spans["one"].attributes) == {"key1": "1", "key2": "2", "key3": "3"}
    for i in (1, 2, 3):
        assert parent_id(spans[f"child{i}"]) == spans["one"].context.span_id


def test_testbed_active_span_replacement_asyncio(ot, recorder):
    """opentracing testbed 'active span replacement': a task switches to another trace and back."""

    async def task(initial):
        with ot.scope_manager.activate(initial, finish_on_close=True):
            ot.start_span("initial-child").finish()
        with ot.start_active_span("second", ignore_active_span=True):
            await asyncio.sleep(0)
            ot.start_span("second-child").finish()

    async def main():
        initial = ot.start_span("initial")
        await asyncio.gather(task(initial))

    asyncio.run(main())
    spans = recorder.by_name()
    assert parent_id(spans["initial-child"]) == spans["initial"].context.span_id
    assert parent_id(spans["second-child"]) == spans["second"].context.span_id
    assert spans["second"].parent is None
    assert spans["second"].context.trace_id != spans["initial"].context.trace_id


def test_references_to_nothing_are_ignored(ot, recorder):
    """``child_of(tracer.extract(...))`` with nothing extracted: as if no reference was given."""
    with ot.start_active_span("active") as scope:
        scope.span.set_baggage_item("k", "v")
        span = ot.start_span("child", references=[opentracing.child_of(ot.extract(Format.TEXT_MAP, {}))])
        assert span.get_baggage_item("k") == "v"
        span.finish()
    spans = recorder.by_name()
    assert parent_id(spans["child"]) == spans["active"].context.span_id and spans["child"].links == ()
