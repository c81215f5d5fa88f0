#!/usr/bin/env python3
"""One SDK-instrumented "service" in its own process, for collector_bench.py's
``sdk`` scenario: a TracerProvider with a BatchSpanProcessor on ALL its
defaults (queue 2048, batches of 512, 5 s delay, one export at a time) and an
OTLP exporter, producing spans at a paced rate from one thread, then
``force_flush``.  Prints one JSON line and exits.

Senders:
  official-grpc  opentelemetry-sdk BatchSpanProcessor() + the official
                 OTLP/gRPC exporter (opentelemetry-exporter-otlp-proto-grpc,
                 insecure)
  lite-grpc      otel_lite.BatchSpanProcessor + otel_lite's OTLP/gRPC exporter
  lite-http      otel_lite.BatchSpanProcessor + otel_lite's OTLP/HTTP exporter
                 (protobuf)

    python benchmarks/sdk_senders.py --sender lite-grpc --endpoint 127.0.0.1:4317 --rate 10000 --seconds 4
    python benchmarks/sdk_senders.py --sender lite-http --endpoint http://127.0.0.1:4318 --rate 10000

The line: sender, target rate, ``started`` spans (rate x seconds, each
``start_span`` + one attribute + ``end``), ``achieved_spans_per_s`` (started /
production time; below the target when the producing thread cannot keep up),
``dropped`` (spans the SDK's processor dropped on a full queue, from its own
counters: otel_lite's ``provider.stats()``, exact; the official SDK's
``_metrics.drop_items``, which counts a drop whenever ``emit`` sees a full
queue, so it runs a few high when the worker takes a batch between that check
and the append that would have evicted a span), ``export_failed_spans`` (spans in export calls that
returned FAILURE), ``exports`` and export-call latency p50/p99 in ms (timed
around the exporter's ``export``), ``production_s``, ``flush_s``, ``flushed``
(force_flush's result), ``warmup_spans`` (1: one span exported and
flushed before production, to open the connection; it reaches the output
too) and the process's CPU % of one core over production +
flush (user+system; ~100 % means the sender itself was the limit).

Pacing is the same as tests/collector/test_sdk_senders.py: whatever is due is
produced in a burst, then a 2 ms sleep.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time

SENDERS = ("official-grpc", "lite-grpc", "lite-http")


class TimedExporter:
    """Wraps a span exporter: times every ``export`` call, counts failed spans.
    Arguments pass through as the processor gives them (for otel_lite, see
    ``lite``: the wrapper is a ``SpanExporter`` so that it gets the deadline)."""

    def __init__(self, exporter):
        self._exporter = exporter
        self.latencies: list[float] = []
        self.failed_spans = 0

    def export(self, spans, *args, **kwargs):
        t0 = time.perf_counter()
        result = self._exporter.export(spans, *args, **kwargs)
        self.latencies.append(time.perf_counter() - t0)
        if getattr(result, "name", "SUCCESS") != "SUCCESS":
            self.failed_spans += len(spans)
        return result

    def shutdown(self, *args, **kwargs):
        return self._exporter.shutdown(*args, **kwargs)

    def force_flush(self, *args, **kwargs):
        return self._exporter.force_flush(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._exporter, name)


def official(endpoint: str):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = TimedExporter(OTLPSpanExporter(endpoint=endpoint, insecure=True))
    provider = TracerProvider(shutdown_on_exit=False)
    bsp = BatchSpanProcessor(exporter)
    provider.add_span_processor(bsp)
    # Drops: BatchProcessor.emit calls _metrics.drop_items(1) per span it drops on a full
    # queue (opentelemetry-sdk 1.3x-1.4x, _shared_internal).  The "Queue full" warning is
    # rate-limited (one per 20 s), so it only tells whether the counter is missing.
    dropped = [0]
    metrics = getattr(getattr(bsp, "_batch_processor", None), "_metrics", None)
    counting = metrics is not None and hasattr(metrics, "drop_items")
    if counting:
        drop_items = metrics.drop_items

        def counting_drop_items(count, *args, **kwargs):
            dropped[0] += count
            return drop_items(count, *args, **kwargs)

        metrics.drop_items = counting_drop_items
    warned = [0]

    class Warned(logging.Handler):
        def emit(self, record):
            if "Queue full, dropping" in record.getMessage():
                warned[0] += 1

    logging.getLogger("opentelemetry.sdk._shared_internal").addHandler(Warned(logging.WARNING))

    def drops() -> int | None:
        if counting:
            return dropped[0]
        return None if warned[0] else 0  # unknown count, but some were dropped

    return provider, exporter, drops


def lite(transport: str, endpoint: str):
    import otel_lite
    from otel_lite.export import SpanExporter

    class LiteTimedExporter(TimedExporter, SpanExporter):
        """otel_lite's processor passes ``timeout_millis`` only to ``SpanExporter``s."""

    if transport == "grpc":
        from otel_lite.export.otlp_grpc import OTLPSpanExporter

        raw = OTLPSpanExporter(endpoint=endpoint if "://" in endpoint else f"http://{endpoint}")
    else:
        from otel_lite.export.otlp_http import OTLPSpanExporter

        url = endpoint if endpoint.endswith("/v1/traces") else endpoint.rstrip("/") + "/v1/traces"
        raw = OTLPSpanExporter(endpoint=url)
    exporter = LiteTimedExporter(raw)
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.BatchSpanProcessor(exporter))
    return provider, exporter, lambda: provider.stats()["spans_dropped"]


def produce(tracer, rate: float, total: int, span_ids: list[int] | None = None) -> float:
    """``total`` spans from this thread at ``rate``; returns the seconds it took.
    With ``span_ids``, each span's id is appended to it."""
    clock = time.perf_counter
    made = 0
    t0 = clock()
    while made < total:
        due = min(total, int((clock() - t0) * rate) + 1)
        while made < due:
            span = tracer.start_span("request")
            span.set_attribute("http.route", "/cart")
            span.end()
            if span_ids is not None:
                span_ids.append(span.get_span_context().span_id)
            made += 1
        time.sleep(0.002)
    return clock() - t0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sender", choices=SENDERS, required=True)
    p.add_argument("--endpoint", required=True, help="host:port for gRPC, http://host:port[/v1/traces] for HTTP")
    p.add_argument("--rate", type=float, required=True, help="spans/s to produce")
    p.add_argument("--seconds", type=float, default=4.0, help="production time at the target rate (default 4)")
    p.add_argument("--flush-timeout", type=float, default=60.0, help="force_flush timeout, seconds")
    p.add_argument(
        "--span-ids",
        metavar="FILE",
        help="write the produced spans' ids there, one hex id per line (the tests check arrival)",
    )
    args = p.parse_args(argv)

    if args.sender == "official-grpc":
        provider, exporter, drops = official(args.endpoint)
    else:
        provider, exporter, drops = lite(args.sender.split("-")[1], args.endpoint)
    tracer = provider.get_tracer("sdk-senders")
    total = int(args.rate * args.seconds)
    # Warm the code paths (imports, channel) outside the count: one span, exported and flushed.
    with tracer.start_as_current_span("warm-up"):
        pass
    provider.force_flush(int(args.flush_timeout * 1000))
    warm_exports = len(exporter.latencies)
    warm_dropped = drops() or 0
    exporter.failed_spans = 0

    cpu0 = cpu_seconds()
    span_ids: list[int] | None = [] if args.span_ids else None
    production = produce(tracer, args.rate, total, span_ids)
    t1 = time.perf_counter()
    flushed = provider.force_flush(int(args.flush_timeout * 1000))
    flush = time.perf_counter() - t1
    cpu = cpu_seconds() - cpu0
    dropped = drops()
    latencies = exporter.latencies[warm_exports:]
    out = {
        "sender": args.sender,
        "pid": os.getpid(),
        "rate": args.rate,
        "started": total,
        "warmup_spans": 1,  # exported before the count started: it reaches the output too
        "achieved_spans_per_s": round(total / production, 1),
        "dropped": None if dropped is None else dropped - warm_dropped,
        "export_failed_spans": exporter.failed_spans,
        "exports": len(latencies),
        "export_ms_p50": None if not latencies else round(1000 * percentile(latencies, 0.50), 2),
        "export_ms_p99": None if not latencies else round(1000 * percentile(latencies, 0.99), 2),
        "production_s": round(production, 3),
        "flush_s": round(flush, 3),
        "flushed": bool(flushed),
        "cpu_pct": round(100 * cpu / (production + flush), 1),
    }
    try:
        provider.shutdown()
    except Exception as exc:  # the figures are taken; say so but keep them
        out["shutdown_error"] = repr(exc)
    if args.span_ids and span_ids is not None:
        with open(args.span_ids, "w") as f:
            f.writelines(f"{x:016x}\n" for x in span_ids)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
