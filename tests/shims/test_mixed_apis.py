"""OpenTelemetry, OpenTracing (shim) and OpenCensus (shim) in one process, in
the manner of opentelemetry-go's bridge/opentracing mix tests: every nesting
order, threads and asyncio, baggage across APIs, inject with one API and
extract with another."""

import asyncio
import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
from opencensus.trace import execution_context
from opencensus.trace.propagation.trace_context_http_header_format import TraceContextPropagator
from opencensus.trace.tracer import Tracer as OCTracer
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as context_api
from opentracing import Format

from otel_lite.shims.opencensus import install_shim, uninstall_shim
from otel_lite.shims.opentracing import create_tracer

APIS = ("otel", "ot", "oc")
ORDERS = list(itertools.permutations(APIS))


@pytest.fixture
def apis(recorder):
    install_shim(recorder.provider)
    execution_context.clear()
    ot = create_tracer(recorder.provider)
    yield recorder, ot
    uninstall_shim()
    execution_context.clear()


def _span_cm(api, name, recorder, ot):
    if api == "otel":
        return recorder.otel_tracer.start_as_current_span(name)
    if api == "ot":
        return ot.start_active_span(name)
    return OCTracer().span(name)  # a Tracer per request, as OpenCensus middleware makes


def _check_chain(spans, names):
    chain = [spans[n] for n in names]
    assert len({s.context.trace_id for s in chain}) == 1, "one trace"
    assert chain[0].parent is None
    for parent, child in itertools.pairwise(chain):
        assert child.parent.span_id == parent.context.span_id, (parent.name, child.name)


def _run_nested(order, tag, recorder, ot):
    names = [f"{tag}:{i}:{api}" for i, api in enumerate(order)]

    def level(i):
        if i == len(order):
            return
        with _span_cm(order[i], names[i], recorder, ot):
            level(i + 1)

    level(0)
    assert trace.get_current_span() is trace.INVALID_SPAN
    return names


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_nesting_order(apis, order):
    recorder, ot = apis
    names = _run_nested(order, "seq", recorder, ot)
    _check_chain(recorder.by_name(), names)


def test_all_orders_in_a_thread_pool(apis):
    recorder, ot = apis
    jobs = [(order, f"t{n}-{'-'.join(order)}") for n in range(4) for order in ORDERS]
    with ThreadPoolExecutor(6) as pool:
        all_names = list(pool.map(lambda job: _run_nested(job[0], job[1], recorder, ot), jobs))
    spans = recorder.by_name()
    assert len(spans) == 3 * len(jobs)
    for names in all_names:
        _check_chain(spans, names)


def test_all_orders_in_asyncio(apis):
    recorder, ot = apis

    async def run(order, tag):
        names = [f"{tag}:{i}:{api}" for i, api in enumerate(order)]

        async def level(i):
            if i == len(order):
                return
            with _span_cm(order[i], names[i], recorder, ot):
                await asyncio.sleep(0)
                await level(i + 1)
                await asyncio.sleep(0)

        await level(0)
        return names

    async def main():
        return await asyncio.gather(*(run(order, f"a{n}-{'-'.join(order)}") for n in range(3) for order in ORDERS))

    all_names = asyncio.run(main())
    spans = recorder.by_name()
    for names in all_names:
        _check_chain(spans, names)


def test_baggage_from_opentracing_seen_by_otel_and_back(apis):
    recorder, ot = apis
    with ot.start_active_span("ot") as scope:
        scope.span.set_baggage_item("from", "ot")
        with recorder.otel_tracer.start_as_current_span("otel"):
            assert baggage.get_baggage("from") == "ot"
            token = context_api.attach(baggage.set_baggage("added", "otel"))
            try:
                with OCTracer().span("oc"), ot.start_active_span("ot_leaf") as leaf:
                    assert leaf.span.context.baggage == {"from": "ot", "added": "otel"}
                    assert ot.active_span.get_baggage_item("added") == "otel"
            finally:
                context_api.detach(token)
    _check_chain(recorder.by_name(), ["ot", "otel", "oc", "ot_leaf"])


def test_inject_extract_across_apis(apis):
    recorder, ot = apis
    otel = recorder.otel_tracer
    oc_w3c = TraceContextPropagator()

    # OpenTracing inject -> OpenTelemetry extract
    with ot.start_active_span("ot_client") as scope:
        scope.span.set_baggage_item("user", "u1")
        carrier = {}
        ot.inject(scope.span.context, Format.HTTP_HEADERS, carrier)
    ctx = propagate.extract(carrier)
    assert baggage.get_baggage("user", ctx) == "u1"
    with otel.start_as_current_span("otel_server", context=ctx):
        # OpenTelemetry inject -> OpenCensus extract
        headers = {}
        propagate.inject(headers)
    with OCTracer(span_context=oc_w3c.from_headers(headers)).span("oc_server") as oc_span:
        # OpenCensus inject -> OpenTracing extract
        oc_headers = oc_w3c.to_headers(execution_context.get_opencensus_tracer().span_context)
        assert oc_headers["traceparent"].split("-")[2] == oc_span.span_id
    extracted = ot.extract(Format.HTTP_HEADERS, oc_headers)
    with ot.start_active_span("ot_server", child_of=extracted):
        # OpenTracing inject -> OpenCensus extract
        carrier2 = {}
        ot.inject(ot.active_span.context, Format.TEXT_MAP, carrier2)
    with OCTracer(span_context=oc_w3c.from_headers(carrier2)).span("oc_last"):
        pass
    _check_chain(recorder.by_name(), ["ot_client", "otel_server", "oc_server", "ot_server", "oc_last"])
    for name in ("otel_server", "oc_server", "ot_server", "oc_last"):
        assert recorder.by_name()[name].parent.is_remote
