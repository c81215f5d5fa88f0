"""Per-span cost of the compatibility shims, against the peers, in one run.

    python benchmarks/shim_bench.py                 # defaults: 20000 spans x 7 rounds per case
    python benchmarks/shim_bench.py -n 5000 -r 5    # quicker

Cases (every SDK with a SimpleSpanProcessor into a null exporter, so what is
measured is span recording, not export):

* OpenTracing ``with tracer.start_active_span(): pass`` (start, activate, close,
  finish) and ``tracer.start_span().finish()``:
  ``otel_lite.shims.opentracing`` over otel_lite vs ``opentelemetry-opentracing-shim``
  over ``opentelemetry-sdk``.
* OpenCensus ``with tracer.span(): pass``: ``otel_lite.shims.opencensus`` over otel_lite
  vs plain OpenCensus with its own ``ContextTracer`` (AlwaysOnSampler, null
  exporter; the official OpenCensus shim is not on PyPI).
* Native OpenTelemetry ``start_as_current_span`` on both SDKs, for scale.

Our shims are also timed over ``opentelemetry-sdk``, which separates the cost
of the shim from the cost of the SDK under it.  Rounds alternate between contenders; medians (and the
min–max spread) are printed with the ratio peer / ours (above 1 means ours is faster).
Needs ``pip install opentelemetry-opentracing-shim`` for the peer OT shim.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import (
    alternate_rounds,
    calibration_line,
    fmt_ratio,
    fmt_time,
    markdown_table,
    median,
    perf_counter_ns,
    spread,
)


class NullExporter:
    """Accepts everything, keeps nothing: works for both SDKs."""

    def __init__(self, success):
        self._success = success

    def export(self, spans):
        return self._success

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis=30000):
        return True


def otel_lite_provider():
    import otel_lite
    from otel_lite import SpanExportResult

    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(NullExporter(SpanExportResult.SUCCESS)))
    return provider


def sdk_provider():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(NullExporter(SpanExportResult.SUCCESS)))
    return provider


def ot_active_round(tracer):
    def run(n):
        start_active_span = tracer.start_active_span
        t0 = perf_counter_ns()
        for _ in range(n):
            with start_active_span("op"):
                pass
        return perf_counter_ns() - t0

    return run


def ot_span_round(tracer):
    def run(n):
        start_span = tracer.start_span
        t0 = perf_counter_ns()
        for _ in range(n):
            start_span("op").finish()
        return perf_counter_ns() - t0

    return run


def oc_round(make_tracer, before=None, after=None):
    """``with tracer.span()`` on one OpenCensus Tracer; ``before``/``after``
    switch the shim on and off around the timed loop."""

    def run(n):
        if before:
            before()
        try:
            tracer = make_tracer()
            t0 = perf_counter_ns()
            for _ in range(n):
                with tracer.span("op"):
                    pass
            return perf_counter_ns() - t0
        finally:
            if after:
                after()

    return run


def otel_round(tracer):
    def run(n):
        start = tracer.start_as_current_span
        t0 = perf_counter_ns()
        for _ in range(n):
            with start("op"):
                pass
        return perf_counter_ns() - t0

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description="Per-span cost of the OpenTracing/OpenCensus shims.")
    parser.add_argument("-n", type=int, default=20_000, help="spans per timed round")
    parser.add_argument("-r", "--repeats", type=int, default=7, help="timed rounds per contender")
    args = parser.parse_args()

    from opencensus.trace import execution_context
    from opencensus.trace.samplers import AlwaysOnSampler
    from opencensus.trace.tracer import Tracer as OCTracer

    from otel_lite.shims.opencensus import install_shim, uninstall_shim
    from otel_lite.shims.opentracing import create_tracer

    ours_provider, sdk = otel_lite_provider(), sdk_provider()
    try:
        from opentelemetry.shim.opentracing_shim import create_tracer as peer_create_tracer
    except ImportError:
        peer_create_tracer = None
        print("opentelemetry-opentracing-shim is not installed: peer OpenTracing rows skipped\n")

    def oc_plain():
        return OCTracer(sampler=AlwaysOnSampler(), exporter=NullExporter(None))

    cases = {
        "OpenTracing start_active_span + close": {
            "ours": ot_active_round(create_tracer(ours_provider)),
            "ours-sdk": ot_active_round(create_tracer(sdk)),
        },
        "OpenTracing start_span + finish": {
            "ours": ot_span_round(create_tracer(ours_provider)),
            "ours-sdk": ot_span_round(create_tracer(sdk)),
        },
        "OpenCensus with tracer.span()": {
            "ours": oc_round(oc_plain, lambda: install_shim(ours_provider), uninstall_shim),
            "ours-sdk": oc_round(oc_plain, lambda: install_shim(sdk), uninstall_shim),
            "peer": oc_round(oc_plain),
        },
        "OpenTelemetry start_as_current_span (reference)": {
            "ours": otel_round(ours_provider.get_tracer("bench")),
            "peer": otel_round(sdk.get_tracer("bench")),
        },
    }
    if peer_create_tracer is not None:
        cases["OpenTracing start_active_span + close"]["peer"] = ot_active_round(peer_create_tracer(sdk))
        cases["OpenTracing start_span + finish"]["peer"] = ot_span_round(peer_create_tracer(sdk))
    peers = {
        "OpenTracing start_active_span + close": "opentelemetry-opentracing-shim + opentelemetry-sdk",
        "OpenTracing start_span + finish": "opentelemetry-opentracing-shim + opentelemetry-sdk",
        "OpenCensus with tracer.span()": "plain opencensus ContextTracer",
        "OpenTelemetry start_as_current_span (reference)": "opentelemetry-sdk",
    }

    print(calibration_line())
    print(f"{args.n} spans per round, {args.repeats} rounds per contender, medians per span\n")
    rows = []
    for case, rounds in cases.items():
        costs = alternate_rounds(
            rounds,
            args.n,
            args.repeats,
            warmup_n=max(args.n // 10, 100),
            between=lambda _name: execution_context.clear(),
        )
        ours = median(costs["ours"])
        peer = median(costs["peer"]) if "peer" in costs else None
        ours_sdk = f"{fmt_time(median(costs['ours-sdk']))}" if "ours-sdk" in costs else "—"
        rows.append(
            [
                case,
                f"{fmt_time(ours)} ({spread(costs['ours'])})",
                ours_sdk,
                f"{fmt_time(peer)} ({spread(costs['peer'])})" if peer is not None else "—",
                peers[case],
                fmt_ratio(peer / ours if peer is not None else None),
            ]
        )
    print(
        markdown_table(
            ["case", "our shim on otel_lite", "our shim on opentelemetry-sdk", "peer", "peer is", "peer / ours"], rows
        )
    )
    ours_provider.shutdown()
    sdk.shutdown()


if __name__ == "__main__":
    main()
