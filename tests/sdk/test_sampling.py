"""Sampling decisions must equal opentelemetry-sdk's for the same inputs."""

import random

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import sampling as sdk_sampling
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.span import TraceState

import otel_lite
from otel_lite import sampling

PAIRS = [
    (sampling.ALWAYS_ON, sdk_sampling.ALWAYS_ON),
    (sampling.ALWAYS_OFF, sdk_sampling.ALWAYS_OFF),
    (sampling.DEFAULT_ON, sdk_sampling.DEFAULT_ON),
    (sampling.DEFAULT_OFF, sdk_sampling.DEFAULT_OFF),
    (sampling.TraceIdRatioBased(0.25), sdk_sampling.TraceIdRatioBased(0.25)),
    (sampling.TraceIdRatioBased(0.0001), sdk_sampling.TraceIdRatioBased(0.0001)),
    (sampling.ParentBasedTraceIdRatio(0.5), sdk_sampling.ParentBasedTraceIdRatio(0.5)),
    (
        sampling.ParentBased(
            sampling.ALWAYS_OFF, remote_parent_sampled=sampling.ALWAYS_OFF, local_parent_not_sampled=sampling.ALWAYS_ON
        ),
        sdk_sampling.ParentBased(
            sdk_sampling.ALWAYS_OFF,
            remote_parent_sampled=sdk_sampling.ALWAYS_OFF,
            local_parent_not_sampled=sdk_sampling.ALWAYS_ON,
        ),
    ),
]


def _parents(rng):
    yield None
    for remote in (False, True):
        for flags in (0, 1):
            sc = SpanContext(
                rng.getrandbits(128) or 1,
                rng.getrandbits(64) or 1,
                is_remote=remote,
                trace_flags=TraceFlags(flags),
                trace_state=TraceState([("k", "v")]),
            )
            yield trace.set_span_in_context(NonRecordingSpan(sc))


@pytest.mark.parametrize("ours,theirs", PAIRS, ids=lambda s: s.get_description())
def test_decisions_identical_to_opentelemetry_sdk(ours, theirs):
    rng = random.Random(1234)
    for _ in range(300):
        trace_id = rng.getrandbits(128) or 1
        for parent_ctx in _parents(rng):
            a = ours.should_sample(parent_ctx, trace_id, "n", attributes={"x": 1})
            b = theirs.should_sample(parent_ctx, trace_id, "n", attributes={"x": 1})
            assert a.decision.value == b.decision.value
            assert (a.trace_state or TraceState()) == (b.trace_state or TraceState())


def test_tracer_applies_decisions_like_the_sdk():
    """A whole trace sampled by ratio: children follow the root's decision."""
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(sampler=sampling.ParentBasedTraceIdRatio(0.5), shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    sdk = sdk_sampling.TraceIdRatioBased(0.5)
    for _ in range(200):
        with tracer.start_as_current_span("root") as root:
            child = tracer.start_span("child")
            child.end()
        tid = root.get_span_context().trace_id
        expected = sdk.should_sample(None, tid, "root").decision.is_sampled()
        assert root.get_span_context().trace_flags.sampled == expected
        assert child.get_span_context().trace_flags.sampled == expected
    assert 0 < len(exporter.get_finished_spans()) < 400


def test_custom_sampler_plugs_in():
    class OnlyImportant(otel_lite.Sampler):
        def should_sample(
            self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
        ):
            keep = bool(attributes and attributes.get("important"))
            decision = otel_lite.Decision.RECORD_AND_SAMPLE if keep else otel_lite.Decision.DROP
            return otel_lite.SamplingResult(decision, {"sampled.by": "custom", **(attributes or {})})

    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(sampler=OnlyImportant(), shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    tracer.start_span("a", attributes={"important": True}).end()
    tracer.start_span("b").end()
    (span,) = exporter.get_finished_spans()
    assert span.name == "a" and span.attributes["sampled.by"] == "custom"


def test_sdk_sampler_instance_works():
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(sampler=sdk_sampling.ALWAYS_OFF, shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("x").end()
    assert exporter.get_finished_spans() == ()


def test_record_only_spans_are_recorded_not_exported():
    class RecordOnly(otel_lite.Sampler):
        def should_sample(self, *args, **kwargs):
            return otel_lite.SamplingResult(otel_lite.Decision.RECORD_ONLY)

    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(sampler=RecordOnly(), shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    span = provider.get_tracer("t").start_span("x")
    assert span.is_recording() and not span.get_span_context().trace_flags.sampled
    span.end()
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize(
    "name,arg,expected",
    [
        ("always_on", None, "AlwaysOnSampler"),
        ("always_off", None, "AlwaysOffSampler"),
        ("traceidratio", "0.5", "TraceIdRatioBased{0.5}"),
        ("parentbased_traceidratio", "0.1", "ParentBased{root:TraceIdRatioBased{0.1}"),
        ("parentbased_always_off", None, "ParentBased{root:AlwaysOffSampler"),
        ("traceidratio", "garbage", "TraceIdRatioBased{1.0}"),
        ("traceidratio", "7", "TraceIdRatioBased{1.0}"),
        ("nonsense", None, "ParentBased{root:AlwaysOnSampler"),
        ("", None, "ParentBased{root:AlwaysOnSampler"),
    ],
)
def test_sampler_from_env(monkeypatch, name, arg, expected):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", name)
    if arg is None:
        monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG", raising=False)
    else:
        monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", arg)
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    assert provider.sampler.get_description().startswith(expected)
