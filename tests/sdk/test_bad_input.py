"""Bad input on the SDK side (issue 5): whatever the application passes, and whatever its plug-ins do,
nothing reaches application code, nothing blocks it past its timeouts, and the spans it made are
exported whole (a bad value must not make the exporter drop the span, or its batch).

Complements test_never_raises.py (attribute values of ordinary types, a raising sampler/exporter):
here, objects whose __str__/__repr__/__eq__/__hash__/__bool__/__len__ raise, numpy-like scalars, huge
ints, NaN, bytes, and every write method of the span API; custom samplers, id generators, processors
and exporters raising, returning garbage, or hanging.
"""

from __future__ import annotations

import collections.abc
import enum
import os
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace as trace_api
from opentelemetry.propagate import inject
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import SpanKind, StatusCode

import otel_lite
from otel_lite.export.otlp_encode import encode_spans

# OTEL_LITE_HYPOTHESIS_PROFILE=fuzz for a long random run (as for tests/collector/test_receiver_bad_input.py)
_FUZZ = os.environ.get("OTEL_LITE_HYPOTHESIS_PROFILE") == "fuzz"
SETTINGS = settings(
    max_examples=3000 if _FUZZ else 75,
    deadline=None,
    derandomize=not _FUZZ,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ---------------------------------------------------------------------------
# Exotic values


class Boom:
    """Every dunder the SDK might call raises."""

    def __str__(self):
        raise RuntimeError("__str__")

    __format__ = __str__

    def __repr__(self):  # hypothesis prints the examples it reports (see AlsoBadRepr for a raising repr)
        return "Boom()"

    def __eq__(self, other):
        raise RuntimeError("__eq__")

    def __ne__(self, other):
        raise RuntimeError("__ne__")

    def __hash__(self):
        raise RuntimeError("__hash__")

    def __bool__(self):
        raise RuntimeError("__bool__")

    def __len__(self):
        raise RuntimeError("__len__")

    def __iter__(self):
        raise RuntimeError("__iter__")

    def __int__(self):
        raise RuntimeError("__int__")

    __float__ = __index__ = __int__


class AlsoBadRepr(Boom):
    def __repr__(self):
        raise RuntimeError("__repr__")


class BoomStr(str):
    """A str subclass whose methods raise (so ``type(x) is str`` fails and ``isinstance`` passes)."""

    def __hash__(self):
        raise RuntimeError("__hash__")

    def __eq__(self, other):
        raise RuntimeError("__eq__")

    def __bool__(self):
        raise RuntimeError("__bool__")

    def __len__(self):
        raise RuntimeError("__len__")

    def __str__(self):
        raise RuntimeError("__str__")


class BoomList(list):
    def __iter__(self):
        raise RuntimeError("__iter__")

    def __len__(self):
        raise RuntimeError("__len__")


class BoomMapping(dict):
    def items(self):
        raise RuntimeError("items")

    def __len__(self):
        raise RuntimeError("__len__")

    def __bool__(self):
        return True


class FakeInt64:
    """Like numpy.int64: not an int subclass, but has __index__/__int__."""

    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v

    __int__ = __index__

    def __float__(self):
        return float(self.v)

    def __str__(self):
        return str(self.v)


class FakeFloat64(float):
    """Like numpy.float64: a float subclass."""


class Color(enum.IntEnum):
    RED = 1


def _numpy_values():
    try:
        import numpy as np
    except ImportError:  # numpy is not a dependency: the fakes above stand in for it
        return []
    return [
        np.int64(7),
        np.float64(float("nan")),
        np.bool_(True),
        np.str_("np"),
        np.uint64(2**64 - 1),
        np.array([1, 2]),
        np.float32(1.5),
    ]


_EXOTIC = [
    Boom(),
    BoomStr("s"),
    BoomList([1]),
    BoomMapping(a=1),
    FakeInt64(3),
    FakeFloat64(2.5),
    Color.RED,
    b"bytes",
    bytearray(b"ba"),
    memoryview(b"mv"),
    2**64,
    -(2**63) - 1,
    2**200,
    float("nan"),
    float("inf"),
    -float("inf"),
    1 + 2j,
    object(),
    None,
    (),
    [],
    {},
    [2**70, 1],
    [1, "a", None],
    [[1, 2]],
    [float("nan")],
    (Boom(),),
    {"k": Boom()},
    [None],
    "",
    "\ud800",
    "x" * 5000,
    *_numpy_values(),
]


def _pick(values):
    """sampled_from by index: hypothesis hashes the values it samples, and some of these cannot be hashed."""
    return st.integers(0, len(values) - 1).map(values.__getitem__)


class PairsMapping(collections.abc.Mapping):
    """A mapping whose keys may be anything (even objects that cannot be hashed or compared)."""

    def __init__(self, pairs):
        self._pairs = list(pairs)

    def items(self):
        return list(self._pairs)

    def __getitem__(self, key):
        for k, v in self._pairs:
            if k is key:
                return v
        raise KeyError(key)

    def __iter__(self):
        return iter([k for k, _ in self._pairs])

    def __len__(self):
        return len(self._pairs)


exotic = (
    _pick(_EXOTIC)
    | st.integers()
    | st.floats()
    | st.text(max_size=50)
    | st.binary(max_size=20)
    | st.lists(st.integers() | st.floats() | st.text(max_size=5) | st.booleans(), max_size=4)
)
keys = _pick([Boom(), BoomStr("k"), "", None, 1, b"k", ("t",)]) | st.text(max_size=10)
mappings = (
    st.dictionaries(st.text(max_size=8), exotic, max_size=4)
    | st.lists(st.tuples(keys, exotic), max_size=3).map(PairsMapping)
    | _pick([BoomMapping(a=1), Boom()])
    | exotic
)


def _provider(**kw):
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(shutdown_on_exit=False, **kw)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    return provider, exporter


def _exported_whole(spans) -> None:
    """Every span encodes (none skipped by the OTLP encoder) and renders as JSON (console exporter)."""
    request = ExportTraceServiceRequest.FromString(encode_spans(spans))
    encoded = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    assert encoded == len(spans)
    for span in spans:
        span.to_json()


_OPS = [
    "set_attribute",
    "set_attributes",
    "add_event",
    "add_link",
    "update_name",
    "set_status",
    "set_status_description",
    "record_exception",
    "end_time",
    "start_attributes",
    "start_kind",
    "start_name",
    "start_time",
    "start_links",
    "event_timestamp",
    "inject",
]


@SETTINGS
@given(
    ops=st.lists(st.tuples(st.sampled_from(_OPS), keys, exotic, mappings), min_size=1, max_size=8),
    limit=st.sampled_from([None, 8]),
)
def test_span_api_never_raises_and_spans_export_whole(ops, limit):
    provider, exporter = _provider(
        span_limits=otel_lite.SpanLimits(max_attribute_length=limit, max_span_attribute_length=limit)
    )
    tracer = provider.get_tracer("bad-input")
    for op, key, value, mapping in ops:
        kw = {}
        if op == "start_attributes":
            kw["attributes"] = mapping
        elif op == "start_kind":
            kw["kind"] = value
        elif op == "start_time":
            kw["start_time"] = value
        elif op == "start_links":
            kw["links"] = value
        name = value if op == "start_name" else "op"
        with tracer.start_as_current_span(name, **kw) as span:
            if op == "set_attribute":
                span.set_attribute(key, value)
            elif op == "set_attributes":
                span.set_attributes(mapping)
            elif op == "add_event":
                span.add_event(value, mapping)
            elif op == "event_timestamp":
                span.add_event("e", timestamp=value)
            elif op == "add_link":
                span.add_link(span.get_span_context(), mapping)
                span.add_link(value)
            elif op == "update_name":
                span.update_name(value)
            elif op == "set_status":
                span.set_status(value)
            elif op == "set_status_description":
                span.set_status(StatusCode.ERROR, value)
            elif op == "record_exception":
                span.record_exception(value, mapping)
            elif op == "inject":
                carrier = {}
                inject(carrier)
            if op == "end_time":
                span.end(end_time=value)
    provider.force_flush()
    _exported_whole(exporter.get_finished_spans())


@SETTINGS
@given(name=exotic | keys, version=exotic, schema_url=exotic, attributes=mappings)
def test_get_tracer_never_raises(name, version, schema_url, attributes):
    provider, exporter = _provider()
    tracer = provider.get_tracer(name, version, schema_url, attributes)
    with tracer.start_as_current_span("s"):
        pass
    _exported_whole(exporter.get_finished_spans())


def test_enormous_strings_without_limits_export_whole():
    provider, exporter = _provider(span_limits=otel_lite.SpanLimits(max_attribute_length=None))
    tracer = provider.get_tracer("big")
    with tracer.start_as_current_span("x" * 1_000_000) as span:
        span.set_attribute("blob", "y" * 5_000_000)
        span.add_event("z" * 100_000, {"list": ["w" * 100_000] * 10})
    (done,) = exporter.get_finished_spans()
    assert len(done.attributes["blob"]) == 5_000_000
    _exported_whole([done])


# ---------------------------------------------------------------------------
# Plug-ins that raise or return garbage


class PluginError(Exception):
    pass


_GARBAGE = [None, 0, -1, 2**200, "abc", 1.5, Boom(), object(), [], True]


def _misbehaving(base, methods: dict):
    """A subclass of ``base`` whose listed methods raise or return garbage."""

    def make(behaviour):
        if type(behaviour) is str and behaviour == "raise":

            def method(self, *args, **kwargs):
                raise PluginError("plug-in bug")
        else:

            def method(self, *args, **kwargs):
                return behaviour

        return method

    return type("Misbehaving" + base.__name__, (base,), {name: make(b) for name, b in methods.items()})


behaviours = st.just("raise") | _pick(_GARBAGE)


class SampleAll(otel_lite.Sampler):
    def should_sample(self, *args, **kwargs):
        return otel_lite.SamplingResult(otel_lite.Decision.RECORD_AND_SAMPLE)


class CountingIds(otel_lite.IdGenerator):
    def __init__(self):
        self.n = 0

    def generate_span_id(self):
        self.n += 1
        return self.n

    def generate_trace_id(self):
        self.n += 1
        return self.n << 64


@SETTINGS
@given(
    sampler=st.dictionaries(st.sampled_from(["should_sample", "get_description"]), behaviours, max_size=2),
    ids=st.dictionaries(
        st.sampled_from(["generate_span_id", "generate_trace_id", "is_trace_id_random"]), behaviours, max_size=3
    ),
    processor=st.dictionaries(
        st.sampled_from(["on_start", "on_end", "force_flush", "shutdown"]), behaviours, max_size=4
    ),
    exporter=st.dictionaries(st.sampled_from(["export", "shutdown", "force_flush"]), behaviours, max_size=3),
    batch=st.booleans(),
)
def test_misbehaving_plugins_never_reach_the_application(sampler, ids, processor, exporter, batch):
    provider = otel_lite.TracerProvider(
        shutdown_on_exit=False,
        sampler=_misbehaving(SampleAll, sampler)() if sampler else None,
        id_generator=_misbehaving(CountingIds, ids)() if ids else None,
    )
    bad_exporter = _misbehaving(otel_lite.InMemorySpanExporter, exporter)()
    if batch:
        provider.add_span_processor(otel_lite.BatchSpanProcessor(bad_exporter, schedule_delay_millis=5))
    else:
        provider.add_span_processor(otel_lite.SimpleSpanProcessor(bad_exporter))
    provider.add_span_processor(_misbehaving(otel_lite.SpanProcessor, processor)())
    good = otel_lite.InMemorySpanExporter()
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(good))

    # the application: nested spans, propagation, errors recorded, flush and shutdown
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("parent", attributes={"a": 1}) as parent:
        carrier = {}
        inject(carrier)
        with tracer.start_as_current_span("child") as child:
            child.set_attribute("b", 2)
            child.get_span_context().trace_id  # noqa: B018 (read by application code)
        parent.add_event("e")
    # the application's own exception propagates, untouched
    with pytest.raises(ValueError), tracer.start_as_current_span("failing"):
        raise ValueError("app error")
    started = time.monotonic()
    provider.force_flush(2000)
    provider.shutdown(2000)
    assert time.monotonic() - started < 10
    # spans the sampler and id generator let through still reach the well-behaved exporter whole
    _exported_whole(good.get_finished_spans())


# ---------------------------------------------------------------------------
# Plug-ins that hang: bounded by the caller's timeout (plus a second of grace), never longer


class Hanging:
    def __init__(self):
        self.release = threading.Event()

    def wait(self):
        self.release.wait(60)


@pytest.fixture
def hang():
    h = Hanging()
    yield h
    h.release.set()  # let the abandoned threads finish


def test_hanging_exporter_blocks_neither_spans_nor_flush_nor_shutdown(hang):
    class Exporter(otel_lite.SpanExporter):  # ignores its deadline
        def export(self, spans, timeout_millis=None):
            hang.wait()
            return otel_lite.SpanExportResult.SUCCESS

        def shutdown(self, timeout_millis=None):
            hang.wait()

        def force_flush(self, timeout_millis=30000):
            hang.wait()
            return True

    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    processor = otel_lite.BatchSpanProcessor(
        Exporter(), max_queue_size=100, max_export_batch_size=10, schedule_delay_millis=5
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("app")
    started = time.monotonic()
    for _ in range(1000):  # the worker is stuck in export: the queue fills, spans are dropped and counted
        with tracer.start_as_current_span("s"):
            pass
    assert time.monotonic() - started < 10
    assert provider.stats()["spans_dropped"] >= 1000 - 100 - 10
    started = time.monotonic()
    assert provider.force_flush(300) is False
    assert provider.shutdown(300) is False
    assert time.monotonic() - started < 6  # 2 x (300 ms + 1 s grace), with room for a busy machine


@pytest.mark.parametrize("method", ["force_flush", "shutdown"])
def test_hanging_custom_processor_is_abandoned_after_the_timeout(hang, method):
    class Processor(otel_lite.SpanProcessor):
        def force_flush(self, timeout_millis=30000):
            hang.wait()
            return True

        def shutdown(self, timeout_millis=30000):
            hang.wait()

    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(Processor())
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    with provider.get_tracer("app").start_as_current_span("s"):
        pass
    started = time.monotonic()
    assert getattr(provider, method)(200) is False
    assert time.monotonic() - started < 5
    assert len(exporter.get_finished_spans()) == 1


def test_hanging_exporter_shutdown_behind_a_simple_processor(hang):
    class Exporter(otel_lite.InMemorySpanExporter):
        def shutdown(self, timeout_millis=None):
            hang.wait()

    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(Exporter()))
    started = time.monotonic()
    assert provider.shutdown(200) is False
    assert time.monotonic() - started < 5


def test_invalid_ids_from_a_custom_generator_do_not_reach_propagation():
    class Ids(otel_lite.IdGenerator):
        def generate_trace_id(self):
            return "not-an-int"

        def generate_span_id(self):
            return -5

    provider, exporter = _provider(id_generator=Ids())
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("s") as span:
        carrier = {}
        inject(carrier)  # would format the ids: must not raise
    assert span is trace_api.INVALID_SPAN or not span.get_span_context().is_valid
    assert "traceparent" not in carrier
    assert exporter.get_finished_spans() == ()


def test_span_kind_given_as_an_int_or_garbage():
    provider, exporter = _provider()
    tracer = provider.get_tracer("app")
    tracer.start_span("int-kind", kind=1).end()  # the API's numbering: SpanKind(1) is SERVER
    tracer.start_span("bad-kind", kind=Boom()).end()
    kinds = {s.name: s.kind for s in exporter.get_finished_spans()}
    assert kinds == {"int-kind": SpanKind.SERVER, "bad-kind": SpanKind.INTERNAL}
