"""Span cost: opentelemetry-sdk against otel_lite, same workloads, one process.

    python benchmarks/sdk_bench.py             # full run (1-2 minutes)
    python benchmarks/sdk_bench.py --quick     # small counts, under a minute
    python benchmarks/sdk_bench.py --only a,c --profile a
    python benchmarks/sdk_bench.py --only "" --breakdown   # shape (b) step by step

Workloads (both SDKs, same settings; ratio = opentelemetry-sdk / otel_lite,
so above 1 means otel_lite is cheaper or faster):
  a  ``start_span`` + ``end``, BatchSpanProcessor into a discarding exporter
  b  ``start_as_current_span`` under a parent, 5 attributes (str/int/bool,
     4 at start + 1 ``set_attribute``), 1 event with 1 attribute, same BSP
  c  unsampled ``start_span`` + ``end`` (``TraceIdRatioBased(0.0)``)
  d  OTLP encoding of spans of shape (b): official ``encode_spans(...)
     .SerializeToString()`` on SDK spans, ``otel_lite.export.otlp_encode
     .encode_spans`` on otel_lite spans; µs and bytes per span
  e  end to end: spans of shape (b) through BatchSpanProcessor + OTLP/gRPC
     exporter into a counting receiver in another process
     (``benchmarks/sink.py --mode grpc-count``), until all have arrived
  f  memory per buffered span: ended spans of shape (b) held in a list,
     tracemalloc (and RSS) delta per span

Method: ``time.perf_counter_ns``; a warm-up round, then several rounds that
alternate between the SDKs; the median of per-round per-span costs is
reported.  GC stays enabled; ``gc.collect()`` runs between rounds, untimed,
after the processor's queue is flushed.  Each BSP worker thread competes for
the GIL during the rounds, as it does in an application.  Nothing is
installed globally: tracers come from ``provider.get_tracer``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import subprocess
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _common import (
    alternate_rounds,
    calibration_line,
    fmt_bytes,
    fmt_rate,
    fmt_ratio,
    fmt_time,
    markdown_table,
    median,
    perf_counter_ns,
    spread,
)
from opentelemetry.trace import SpanKind

OFFICIAL = "opentelemetry-sdk"
OURS = "otel_lite"

# Same batch settings for both SDKs; the queue is far larger than a round, so
# nothing is dropped (exported spans are counted and compared anyway).
BSP_SETTINGS = dict(
    max_queue_size=1 << 20, schedule_delay_millis=5000, max_export_batch_size=512, export_timeout_millis=30000
)


@dataclass
class Config:
    n: int = 20_000  # spans per timed round (a, b, c)
    rounds: int = 9
    warmup: int = 2_000
    encode_spans: int = 4_096  # (d)
    encode_rounds: int = 7
    e2e_spans: int = 200_000  # (e)
    e2e_timeout: float = 300.0
    memory_spans: int = 20_000  # (f)


QUICK = Config(
    n=3_000,
    rounds=5,
    warmup=500,
    encode_spans=1_024,
    encode_rounds=3,
    e2e_spans=20_000,
    e2e_timeout=60.0,
    memory_spans=5_000,
)


# -- the two SDKs behind one interface ------------------------------------------


@dataclass
class Sdk:
    name: str
    version: str
    TracerProvider: type
    BatchSpanProcessor: type
    SpanProcessor: type
    SUCCESS: object  # the SpanExportResult meaning success
    TraceIdRatioBased: type
    encode: Callable[[list], bytes] | None  # spans -> ExportTraceServiceRequest bytes
    grpc_exporter: Callable[[str], object] | None  # endpoint URL -> OTLP/gRPC span exporter
    missing: dict[str, str] = field(default_factory=dict)  # why encode / grpc_exporter is None

    def provider(self, *processors, sampler=None):
        provider = self.TracerProvider(sampler=sampler, shutdown_on_exit=False)
        for processor in processors:
            provider.add_span_processor(processor)
        return provider

    def batch_processor(self, exporter, **overrides):
        return self.BatchSpanProcessor(exporter, **{**BSP_SETTINGS, **overrides})

    def collecting_processor(self):
        """A processor that keeps every ended span in ``.spans``."""

        class Collecting(self.SpanProcessor):
            def __init__(self):
                self.spans = []

            def on_end(self, span):
                self.spans.append(span)

        return Collecting()


def load_official() -> Sdk:
    from importlib.metadata import version

    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

    def grpc_exporter(endpoint: str):
        from grpc import Compression
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, insecure=True, compression=Compression.NoCompression)

    return Sdk(
        OFFICIAL,
        version("opentelemetry-sdk"),
        TracerProvider,
        BatchSpanProcessor,
        SpanProcessor,
        SpanExportResult.SUCCESS,
        TraceIdRatioBased,
        encode=lambda spans: encode_spans(spans).SerializeToString(),
        grpc_exporter=grpc_exporter,
    )


def load_ours() -> Sdk:
    import otel_lite

    missing = {}
    try:
        from otel_lite.export.otlp_encode import encode_spans
    except ImportError as exc:
        encode_spans, missing["encode"] = None, f"otel_lite.export.otlp_encode unavailable ({exc})"
    try:
        from otel_lite.export.otlp_grpc import OTLPSpanExporter

        def grpc_exporter(endpoint: str):
            return OTLPSpanExporter(endpoint=endpoint, insecure=True, compression="none")
    except ImportError as exc:
        grpc_exporter, missing["grpc"] = None, f"otel_lite.export.otlp_grpc unavailable ({exc})"
    return Sdk(
        OURS,
        otel_lite.__version__,
        otel_lite.TracerProvider,
        otel_lite.BatchSpanProcessor,
        otel_lite.SpanProcessor,
        otel_lite.SpanExportResult.SUCCESS,
        otel_lite.TraceIdRatioBased,
        encode=encode_spans,
        grpc_exporter=grpc_exporter,
        missing=missing,
    )


class DiscardingExporter:
    """Drops every batch, reports success, counts spans (to detect drops)."""

    def __init__(self, success):
        self._success = success
        self.exported = 0

    def export(self, spans):
        self.exported += len(spans)
        return self._success

    def shutdown(self):
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# -- span shapes -------------------------------------------------------------------

URL = "https://shop.example.com/api/orders/1234"


def bare_spans(tracer, n: int) -> int:
    """Shape (a) and (c): ``n`` root spans, started and ended."""
    start_span = tracer.start_span
    for _ in range(n):
        start_span("GET /api/orders").end()
    return n


def http_spans(tracer, n: int) -> int:
    """Shape (b): one parent, ``n`` current child spans with an HTTP-client
    look; returns the number of spans recorded (``n`` + the parent)."""
    start = tracer.start_as_current_span
    with start("checkout"):
        for _ in range(n):
            with start(
                "GET",
                kind=SpanKind.CLIENT,
                attributes={
                    "http.request.method": "GET",
                    "url.full": URL,
                    "server.address": "shop.example.com",
                    "tls.established": True,
                },
            ) as span:
                span.add_event("cache.miss", {"cache.key": "order:1234"})
                span.set_attribute("http.response.status_code", 200)
    return n + 1


# shape (b) built up step by step, for --breakdown
def current_spans(tracer, n: int) -> int:
    start = tracer.start_as_current_span
    with start("checkout"):
        for _ in range(n):
            with start("GET", kind=SpanKind.CLIENT):
                pass
    return n + 1


def current_spans_attributes(tracer, n: int) -> int:
    start = tracer.start_as_current_span
    with start("checkout"):
        for _ in range(n):
            with start(
                "GET",
                kind=SpanKind.CLIENT,
                attributes={
                    "http.request.method": "GET",
                    "url.full": URL,
                    "server.address": "shop.example.com",
                    "tls.established": True,
                },
            ):
                pass
    return n + 1


def current_spans_attributes_event(tracer, n: int) -> int:
    start = tracer.start_as_current_span
    with start("checkout"):
        for _ in range(n):
            with start(
                "GET",
                kind=SpanKind.CLIENT,
                attributes={
                    "http.request.method": "GET",
                    "url.full": URL,
                    "server.address": "shop.example.com",
                    "tls.established": True,
                },
            ) as span:
                span.add_event("cache.miss", {"cache.key": "order:1234"})
    return n + 1


BREAKDOWN = [
    ("start_span + end", bare_spans),
    ("start_as_current_span under a parent", current_spans),
    ("+ 4 attributes at start", current_spans_attributes),
    ("+ add_event with 1 attribute", current_spans_attributes_event),
    ("+ set_attribute = shape (b)", http_spans),
]


# -- results -------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    official: str
    ours: str
    ratio: float | None
    target: str = "—"
    met: bool | None = None

    def cells(self) -> list[str]:
        target = self.target if self.met is None else f"{self.target} {'✓' if self.met else '✗'}"
        return [self.workload, self.official, self.ours, fmt_ratio(self.ratio), target]


def skipped(workload: str, reason: str, official: str = "—") -> Row:
    print(f"  skipped for {OURS}: {reason}")
    return Row(workload, official, "skipped", None)


# -- (a), (b), (c): per-span cost with a batch processor -----------------------------


def per_span_costs(sdks: list[Sdk], cfg: Config, body: Callable, sampler: Callable | None = None) -> dict:
    """Time ``body(tracer, n)`` per span on every SDK, alternating rounds;
    returns {sdk name: [ns per span of each round]}."""
    costs = timed_bodies(sdks, cfg, {"": body}, sampler)
    return {name: rounds for (_, name), rounds in costs.items()}


def timed_bodies(sdks: list[Sdk], cfg: Config, bodies: dict[str, Callable], sampler: Callable | None = None) -> dict:
    """Time every ``body(tracer, n)`` on every SDK (one provider with a BSP and a
    discarding exporter per pair), all rounds interleaved so a change of load
    hits them alike; returns {(label, sdk name): [ns per span of each round]}
    and warns if a sampled span was not exported."""
    runs, flushes, checks = {}, {}, []
    providers = []
    for label, body in bodies.items():
        for sdk in sdks:
            exporter = DiscardingExporter(sdk.SUCCESS)
            provider = sdk.provider(sdk.batch_processor(exporter), sampler=sampler(sdk) if sampler else None)
            tracer = provider.get_tracer("sdk_bench", "1.0")
            produced = [0]

            def run(n, tracer=tracer, body=body, produced=produced):
                start = perf_counter_ns()
                recorded = body(tracer, n)
                elapsed = perf_counter_ns() - start
                produced[0] += recorded
                return elapsed

            key = (label, sdk.name)
            runs[key], flushes[key] = run, provider.force_flush
            checks.append((key, exporter, produced))
            providers.append(provider)
    costs = alternate_rounds(runs, cfg.n, cfg.rounds, cfg.warmup, between=lambda key: flushes[key]())
    for provider in providers:
        provider.shutdown()
    for (label, name), exporter, produced in checks:
        if sampler is None and exporter.exported != produced[0]:
            print(f"  WARNING {name} {label}: {produced[0] - exporter.exported} of {produced[0]} spans not exported")
    return costs


def cost_row(workload: str, costs: dict, target: str, met: Callable[[float, float], bool]) -> Row:
    official, ours = median(costs[OFFICIAL]), median(costs[OURS])
    for name in (OFFICIAL, OURS):
        print(f"  {name:18} median {fmt_time(median(costs[name])):>9}/span  (rounds {spread(costs[name])})")
    return Row(workload, fmt_time(official), fmt_time(ours), official / ours, target, met(official, ours))


def bench_start_end(sdks: list[Sdk], cfg: Config) -> list[Row]:
    costs = per_span_costs(sdks, cfg, bare_spans)
    return [cost_row("(a) start_span + end, BSP", costs, "≤ 4 µs", lambda off, ours: ours <= 4_000)]


def bench_current_span(sdks: list[Sdk], cfg: Config) -> list[Row]:
    costs = per_span_costs(sdks, cfg, http_spans)
    return [
        cost_row(
            "(b) start_as_current_span, 5 attrs + 1 event, BSP", costs, "≥ 5× faster", lambda off, ours: off / ours >= 5
        )
    ]


def bench_unsampled(sdks: list[Sdk], cfg: Config) -> list[Row]:
    costs = per_span_costs(sdks, cfg, bare_spans, sampler=lambda sdk: sdk.TraceIdRatioBased(0.0))
    return [cost_row("(c) unsampled start_span + end (ratio 0.0)", costs, "≤ 1 µs", lambda off, ours: ours <= 1_000)]


# -- (d) OTLP encoding ------------------------------------------------------------------


def ended_spans(sdk: Sdk, n: int) -> list:
    """``n`` ended spans of shape (b) (the children, without their parent)."""
    collector = sdk.collecting_processor()
    provider = sdk.provider(collector)
    http_spans(provider.get_tracer("sdk_bench", "1.0"), n)
    provider.shutdown()
    return collector.spans[:n]


def count_otlp_spans(data: bytes) -> int:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest.FromString(data)
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def bench_encode(sdks: list[Sdk], cfg: Config) -> list[Row]:
    label = f"(d) OTLP encode, {cfg.encode_spans} spans of shape (b)"
    ours = next(sdk for sdk in sdks if sdk.name == OURS)
    if ours.encode is None:
        return [skipped(label + ": time/span", ours.missing["encode"])]
    spans = {sdk.name: ended_spans(sdk, cfg.encode_spans) for sdk in sdks}
    sizes = {}
    for sdk in sdks:
        data = sdk.encode(spans[sdk.name])
        decoded = count_otlp_spans(data)
        if decoded != cfg.encode_spans:
            print(f"  WARNING {sdk.name}: encoded {cfg.encode_spans} spans, the message holds {decoded}")
        sizes[sdk.name] = len(data) / cfg.encode_spans

    def encoder(sdk: Sdk):
        return lambda n: _timed(sdk.encode, spans[sdk.name][:n])

    costs = alternate_rounds(
        {sdk.name: encoder(sdk) for sdk in sdks},
        cfg.encode_spans,
        cfg.encode_rounds,
        warmup_n=min(512, cfg.encode_spans),
    )
    rows = [cost_row(label + ": time/span", costs, "< 5 µs", lambda off, ours: ours < 5_000)]
    for name in (OFFICIAL, OURS):
        print(f"  {name:18} {sizes[name]:.1f} bytes/span")
    # otel_lite's encoder also takes opentelemetry-sdk spans (generic path): for the record
    generic = alternate_rounds(
        {"generic": lambda n: _timed(ours.encode, spans[OFFICIAL][:n])},
        cfg.encode_spans,
        cfg.encode_rounds,
        warmup_n=256,
    )["generic"]
    print(f"  ({OURS}'s encoder on {OFFICIAL} spans, generic path: {fmt_time(median(generic))}/span)")
    rows.append(
        Row(
            label + ": bytes/span",
            f"{sizes[OFFICIAL]:.1f} B",
            f"{sizes[OURS]:.1f} B",
            sizes[OFFICIAL] / sizes[OURS],
            "same message",
            abs(sizes[OFFICIAL] / sizes[OURS] - 1) < 0.02,
        )
    )
    return rows


def _timed(function, argument) -> int:
    """ns taken by ``function(argument)`` (the argument is built before the clock starts)."""
    start = perf_counter_ns()
    function(argument)
    return perf_counter_ns() - start


# -- (e) end to end over OTLP/gRPC ------------------------------------------------------

SPANS_PER_TRACE = 10  # a parent and 9 children of shape (b)


def end_to_end_run(sdk: Sdk, sink, spans: int, timeout: float) -> dict:
    """Produce ``spans`` spans (whole traces) through BSP + OTLP/gRPC into
    ``sink``; wait until all have arrived (or ``timeout``).  The queue holds
    every span, so the processor drops none; a shortfall at the receiver is
    reported."""
    exporter = sdk.grpc_exporter(f"http://127.0.0.1:{sink.port}")
    provider = sdk.provider(sdk.batch_processor(exporter, max_queue_size=spans + 1024))
    tracer = provider.get_tracer("sdk_bench", "1.0")
    traces = spans // SPANS_PER_TRACE
    # warm up: connect the channel and load the code paths
    before = sink.spans()
    warm = http_spans(tracer, SPANS_PER_TRACE - 1) + http_spans(tracer, 500)
    provider.force_flush(30_000)
    wait_for_count(sink, before + warm, 30.0)
    gc.collect()

    before = sink.spans()
    start = perf_counter_ns()
    for _ in range(traces):
        http_spans(tracer, SPANS_PER_TRACE - 1)
    produced = perf_counter_ns()
    provider.force_flush(int(timeout * 1000))
    received = wait_for_count(sink, before + spans, timeout - (perf_counter_ns() - start) / 1e9) - before
    end = perf_counter_ns()
    provider.shutdown()
    return {"spans": spans, "received": received, "wall_ns": end - start, "produce_ns": produced - start}


def wait_for_count(sink, target: int, timeout: float) -> int:
    """Poll the sink until it has counted ``target`` spans; returns its count."""
    deadline = time.monotonic() + max(timeout, 1.0)
    count = sink.spans()
    while count < target and time.monotonic() < deadline:
        time.sleep(0.005)
        count = sink.spans()
    return count


def bench_end_to_end(sdks: list[Sdk], cfg: Config) -> list[Row]:
    spans = max(1, cfg.e2e_spans // SPANS_PER_TRACE) * SPANS_PER_TRACE  # whole traces
    label = f"(e) end to end, {spans} spans (b) → OTLP/gRPC → receiver: spans/s"
    ours = next(sdk for sdk in sdks if sdk.name == OURS)
    try:
        from collector_targets import SinkProcess, Unavailable
    except ImportError as exc:
        print(f"  skipped: benchmarks/collector_targets.py unavailable ({exc})")
        return [Row(label, "skipped", "skipped", None)]
    try:
        sink = SinkProcess("grpc-count")
    except Unavailable as exc:
        print(f"  skipped: {exc}")
        return [Row(label, "skipped", "skipped", None)]
    results = {}
    try:
        for sdk in sdks:
            if sdk.grpc_exporter is None:
                continue
            result = results[sdk.name] = end_to_end_run(sdk, sink, spans, cfg.e2e_timeout)
            lost = result["spans"] - result["received"]
            print(
                f"  {sdk.name:18} {result['received']}/{result['spans']} spans received in "
                f"{fmt_time(result['wall_ns'])} = {fmt_rate(rate(result))}; application thread "
                f"{fmt_time(result['produce_ns'] / result['spans'])}/span"
                + (f"; {lost} LOST (timeout or drops)" if lost else "")
            )
            gc.collect()
    finally:
        sink.stop()

    def cell(name):
        result = results[name]
        return f"{fmt_rate(rate(result))} ({fmt_time(result['wall_ns'])})"

    if OURS not in results:
        return [skipped(label, ours.missing["grpc"], official=cell(OFFICIAL))]
    app = {name: result["produce_ns"] / result["spans"] for name, result in results.items()}
    return [
        Row(label, cell(OFFICIAL), cell(OURS), rate(results[OURS]) / rate(results[OFFICIAL])),
        Row(
            "(e) same run: application thread time/span (exporting in the background)",
            fmt_time(app[OFFICIAL]),
            fmt_time(app[OURS]),
            app[OFFICIAL] / app[OURS],
        ),
    ]


def rate(result: dict) -> float:
    """Spans received per second of wall time."""
    return result["received"] / (result["wall_ns"] / 1e9)


# -- (f) memory per buffered span -------------------------------------------------------


def buffered_span_bytes(sdk: Sdk, n: int) -> tuple[float, float]:
    """(tracemalloc bytes per span, RSS bytes per span) of ``n`` ended spans
    of shape (b) kept in a list; RSS first, as tracemalloc's own tables grow it.
    Run it in a fresh process (``--memory-child``) for a meaningful RSS delta."""
    import psutil

    process = psutil.Process()
    collector = sdk.collecting_processor()
    provider = sdk.provider(collector)
    tracer = provider.get_tracer("sdk_bench", "1.0")
    http_spans(tracer, 100)  # warm caches and lazily created structures
    collector.spans.clear()
    gc.collect()

    rss_before = process.memory_info().rss
    recorded = http_spans(tracer, n)
    gc.collect()
    rss = (process.memory_info().rss - rss_before) / recorded
    collector.spans.clear()
    gc.collect()

    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    recorded = http_spans(tracer, n)
    gc.collect()
    traced = (tracemalloc.get_traced_memory()[0] - traced_before) / recorded
    tracemalloc.stop()
    collector.spans.clear()
    provider.shutdown()
    gc.collect()
    return traced, rss


def bench_memory(sdks: list[Sdk], cfg: Config) -> list[Row]:
    """Each SDK is measured in a fresh process, so memory freed by the other
    workloads cannot hide RSS growth."""
    sizes = {}
    for sdk in sdks:
        child = subprocess.run(
            [sys.executable, __file__, "--memory-child", sdk.name, str(cfg.memory_spans)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if child.returncode != 0:
            print(f"  {sdk.name}: measurement failed: {child.stderr.strip()[-2000:]}")
            return [Row("(f) memory per buffered span", "failed", "failed", None)]
        traced, rss = sizes[sdk.name] = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"  {sdk.name:18} tracemalloc {fmt_bytes(traced)}/span, RSS delta {fmt_bytes(rss)}/span")
    official, ours = sizes[OFFICIAL][0], sizes[OURS][0]
    return [
        Row(
            f"(f) memory per buffered span (b), {cfg.memory_spans} spans, tracemalloc",
            fmt_bytes(official),
            fmt_bytes(ours),
            official / ours,
            "≤ ½ official",
            ours * 2 <= official,
        )
    ]


def memory_child(name: str, n: int) -> None:
    sdk = load_official() if name == OFFICIAL else load_ours()
    print(json.dumps(buffered_span_bytes(sdk, n)))


# -- profiling (where otel_lite's time goes) --------------------------------------------


def profile_ours(sdks: list[Sdk], cfg: Config, workload: str, top: int = 20) -> None:
    """cProfile one of otel_lite's workloads (a, b, c or d) and print the top functions."""
    ours = next(sdk for sdk in sdks if sdk.name == OURS)
    if workload == "d":
        if ours.encode is None:
            print(f"cannot profile (d): {ours.missing['encode']}")
            return
        spans = ended_spans(ours, cfg.encode_spans)
        target, args, provider = ours.encode, (spans,), None
    else:
        sampler = ours.TraceIdRatioBased(0.0) if workload == "c" else None
        provider = ours.provider(ours.batch_processor(DiscardingExporter(ours.SUCCESS)), sampler=sampler)
        tracer = provider.get_tracer("sdk_bench", "1.0")
        target = http_spans if workload == "b" else bare_spans
        args = (tracer, cfg.n)
        target(tracer, cfg.warmup)
    profiler = cProfile.Profile()
    profiler.runcall(target, *args)
    if provider is not None:
        provider.shutdown()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(f"\n### cProfile of {OURS}, workload ({workload}), top {top} by own time\n")
    print(out.getvalue())


def breakdown(sdks: list[Sdk], cfg: Config) -> None:
    """Shape (b) built up one feature at a time.  A step's cost is the median
    of per-round differences with the previous step (rounds are interleaved,
    so the difference cancels most of the machine's drift)."""
    costs = timed_bodies(sdks, cfg, dict(BREAKDOWN))
    rows, previous = [], None
    for title, _ in BREAKDOWN:
        official, ours = median(costs[title, OFFICIAL]), median(costs[title, OURS])
        step = "—"
        if previous is not None:
            pairs = zip(costs[title, OURS], costs[previous, OURS], strict=True)
            delta = median([now - before for now, before in pairs])
            step = f"{'+' if delta >= 0 else '−'}{fmt_time(abs(delta))}"
        rows.append([title, fmt_time(official), fmt_time(ours), fmt_ratio(official / ours), step])
        previous = title
    print(f"\n### Shape (b) step by step (BSP + discarding exporter, median of {cfg.rounds} rounds)\n")
    print(markdown_table(["step", OFFICIAL, OURS, "ratio", f"{OURS} step cost"], rows))


# -- main ---------------------------------------------------------------------------------

WORKLOADS = {
    "a": ("start_span + end with a batch processor", bench_start_end),
    "b": ("start_as_current_span, 5 attributes + 1 event", bench_current_span),
    "c": ("unsampled span", bench_unsampled),
    "d": ("OTLP encoding", bench_encode),
    "e": ("end to end over OTLP/gRPC", bench_end_to_end),
    "f": ("memory per buffered span", bench_memory),
}


def parse_args(argv=None) -> tuple[Config, list[str], argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts: finishes in under a minute")
    parser.add_argument("--spans", type=int, help="spans sent end to end in (e) (default 200000; quick 20000)")
    parser.add_argument("--rounds", type=int, help="timed rounds per workload (a-c)")
    parser.add_argument("--n", type=int, help="spans per timed round (a-c)")
    parser.add_argument("--only", default="abcdef", help="workloads to run, e.g. 'a,c' (default all)")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time shape (b) built up one feature at a time, on both SDKs"
    )
    parser.add_argument(
        "--profile",
        choices=("a", "b", "c", "d"),
        help="also cProfile otel_lite on this workload and print the top functions",
    )
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    if args.spans is not None:
        cfg.e2e_spans = args.spans
    if args.rounds is not None:
        cfg.rounds = args.rounds
    if args.n is not None:
        cfg.n = args.n
    selected = [key for key in WORKLOADS if key in args.only.replace(",", "")]
    unknown = set(args.only.replace(",", "")) - set(WORKLOADS)
    if unknown or min(cfg.e2e_spans, cfg.rounds, cfg.n) < 1:
        parser.error(f"bad arguments (unknown workloads: {''.join(sorted(unknown)) or 'none'})")
    return cfg, selected, args


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--memory-child"]:  # internal: one SDK's (f) in a fresh process
        memory_child(argv[1], int(argv[2]))
        return
    cfg, selected, args = parse_args(argv)
    calibration = calibration_line()
    sdks = [load_official(), load_ours()]
    versions = ", ".join(f"{sdk.name} {sdk.version}" for sdk in sdks)
    print(calibration)
    print(f"Versions: {versions}\n")
    rows: list[Row] = []
    started = time.monotonic()
    for key in selected:
        title, bench = WORKLOADS[key]
        print(f"({key}) {title}")
        try:
            rows += bench(sdks, cfg)
        except Exception as exc:  # one broken workload must not hide the others' results
            traceback.print_exc()
            rows.append(Row(f"({key}) {title}", "error", f"error: {type(exc).__name__}", None))
        gc.collect()
    if rows:
        print(f"\n({time.monotonic() - started:.0f} s)\n")
        print(calibration + f"; {versions}")
        print("ratio = opentelemetry-sdk / otel_lite (above 1: otel_lite is cheaper or faster)\n")
        print(markdown_table(["workload", OFFICIAL, OURS, "ratio", "target"], [row.cells() for row in rows]))
    if args.breakdown:
        breakdown(sdks, cfg)
    if args.profile:
        profile_ours(sdks, cfg, args.profile)


if __name__ == "__main__":
    main()
