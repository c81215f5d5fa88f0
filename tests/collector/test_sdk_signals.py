"""opentelemetry-sdk's own OTLP metric and log exporters through a real collector: every point and record arrives.

The official Python exporters (``OTLPMetricExporter`` / ``OTLPLogExporter``, over gRPC and
HTTP/protobuf, plain and gzip) send to a real ``otel-lite-collector`` process whose metrics and
logs pipelines are an operator's (``otlp`` receiver → ``batch`` → ``otlp`` and ``otlphttp``
exporters, ``tests/support/passthrough_collector.py``); each of its two exporters ends in its own
receiver built from opentelemetry-proto (``tests/support/otlp_sink.py``).  Both must receive
exactly what the SDK produced: every data point with its value, attributes, temporality and
resource; every log record with its body, severity, attributes, trace context and resource.

One collector serves the module; each test marks its resource with its own ``test.run`` id
and reads only what carries it.  Waits poll for arrival (30 s bounds on a noisy 2-core machine).
"""

from __future__ import annotations

import uuid

import grpc
import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tests.support.otlp_sink import any_value, attributes
from tests.support.passthrough_collector import passthrough_collector

pytestmark = pytest.mark.timeout(180)

ARRIVAL_TIMEOUT = 30.0
PROTOCOLS = ["grpc", "grpc+gzip", "http/protobuf", "http/protobuf+gzip"]


@pytest.fixture(scope="module")
def passthrough(tmp_path_factory):
    with passthrough_collector(str(tmp_path_factory.mktemp("collector"))) as p:
        yield p


def _resource(run: str, kind: str) -> Resource:
    return Resource.create({"service.name": f"sdk-{kind}", "test.run": run, "deployment.environment": "test"})


def _mine(resource_items, run: str) -> list:
    """The resource_metrics / resource_logs of this test's run."""
    return [r for r in resource_items if attributes(r.resource.attributes).get("test.run") == run]


def _assert_resource(resource, run: str, kind: str) -> None:
    got = attributes(resource.attributes)
    assert got["service.name"] == f"sdk-{kind}"
    assert got["test.run"] == run
    assert got["deployment.environment"] == "test"
    assert got["telemetry.sdk.language"] == "python"
    assert got["telemetry.sdk.name"] == "opentelemetry"


def _exporter(signal: str, protocol: str, passthrough):
    """The SDK's own exporter of ``signal`` ("metrics" / "logs") for ``protocol``, aimed at the collector."""
    gzip = protocol.endswith("+gzip")
    if protocol.startswith("grpc"):
        cls = GrpcMetricExporter if signal == "metrics" else GrpcLogExporter
        compression = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
        return cls(endpoint=passthrough.grpc_endpoint, insecure=True, timeout=30, compression=compression)
    cls = HttpMetricExporter if signal == "metrics" else HttpLogExporter
    compression = HttpCompression.Gzip if gzip else HttpCompression.NoCompression
    return cls(endpoint=f"{passthrough.http_endpoint}/v1/{signal}", timeout=30, compression=compression)


# ---------------------------------------------------------------------------
# metrics

# rounds of recordings, each ended by force_flush: one export of every instrument (cumulative: the SDK's default)
ROUNDS = 3
# shutdown() collects and exports once more, the values of the last round: that export must arrive too
COLLECTIONS = [*range(1, ROUNDS + 1), ROUNDS]
ROUTE_A, ROUTE_B = 60, 40  # counter increments per round, by route
BYTES_ADDS = 50  # float counter: +0.5 each
QUEUE_UP, QUEUE_DOWN = 10, 5  # up-down counter: +3 each, then -1 each
LATENCIES = [i * 1.5 for i in range(40)]  # histogram recordings per round
GAUGE_ROOMS = ("x", "y")
SIZES = [0, 0, 1, 2, 4, 1024, 3.5]  # exponential histogram recordings per round (two zeros)
POINTS_PER_ROUND = 2 + 1 + 1 + 1 + 1 + len(GAUGE_ROOMS)


def _series(resource_metrics) -> dict:
    """(metric name, attributes) -> [(metric, point)] in time order."""
    out: dict = {}
    for rm in resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                for p in getattr(m, kind).data_points:
                    out.setdefault((m.name, tuple(sorted(attributes(p.attributes).items()))), []).append((m, p))
    for points in out.values():
        points.sort(key=lambda mp: mp[1].time_unix_nano)
    return out


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_metric_exporter_every_point_arrives(passthrough, protocol):
    run = uuid.uuid4().hex
    before = passthrough.counts()
    reader = PeriodicExportingMetricReader(
        _exporter("metrics", protocol, passthrough), export_interval_millis=3_600_000, export_timeout_millis=30_000
    )
    provider = MeterProvider(
        metric_readers=[reader],
        resource=_resource(run, "metrics"),
        views=[View(instrument_name="payload.size", aggregation=ExponentialBucketHistogramAggregation(max_size=40))],
    )
    meter = provider.get_meter("otel-lite.tests.metrics", "1.2.3")
    requests = meter.create_counter("requests", unit="1", description="requests served")
    sent_bytes = meter.create_counter("sent.bytes", unit="By")
    queue = meter.create_up_down_counter("queue.depth")
    latency = meter.create_histogram("latency", unit="ms", description="request latency")
    sizes = meter.create_histogram("payload.size", unit="By")  # exponential buckets (the view)
    current_round = [0]

    def temperature(options: CallbackOptions):
        return [Observation(20.5 + current_round[0], {"room": "x"}), Observation(-3, {"room": "y"})]

    meter.create_observable_gauge("temperature", callbacks=[temperature], unit="Cel")
    try:
        for r in range(1, ROUNDS + 1):
            current_round[0] = r
            for _ in range(ROUTE_A):
                requests.add(1, {"route": "/a", "ok": True})
            for _ in range(ROUTE_B):
                requests.add(1, {"route": "/b", "ok": False})
            for _ in range(BYTES_ADDS):
                sent_bytes.add(0.5)
            for _ in range(QUEUE_UP):
                queue.add(3, {"queue": "q1"})
            for _ in range(QUEUE_DOWN):
                queue.add(-1, {"queue": "q1"})
            for v in LATENCIES:
                latency.record(v, {"route": "/a"})
            for v in SIZES:
                sizes.record(v, {"route": "/b"})
            assert provider.force_flush(timeout_millis=30_000)  # one export, acknowledged by the collector
    finally:
        provider.shutdown(timeout_millis=30_000)

    expected_points = len(COLLECTIONS) * POINTS_PER_ROUND
    for sink in passthrough.sinks:
        assert sink.wait_for(
            lambda sink=sink: (
                sum(len(ps) for ps in _series(_mine(sink.resource_metrics(), run)).values()) >= expected_points
            ),
            ARRIVAL_TIMEOUT,
        ), f"{protocol}: {sink.point_count()} points at the sink"

    for sink in passthrough.sinks:
        mine = _mine(sink.resource_metrics(), run)
        for rm in mine:
            _assert_resource(rm.resource, run, "metrics")
            for sm in rm.scope_metrics:
                assert (sm.scope.name, sm.scope.version) == ("otel-lite.tests.metrics", "1.2.3")
        series = _series(mine)
        assert sum(len(ps) for ps in series.values()) == expected_points  # nothing more, nothing twice
        cumulative = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        rounds = COLLECTIONS

        for route, attrs, per_round in (("/a", True, ROUTE_A), ("/b", False, ROUTE_B)):
            points = series[("requests", (("ok", attrs), ("route", route)))]
            assert [p.as_int for _, p in points] == [per_round * r for r in rounds]
            m = points[0][0]
            assert (m.unit, m.description, m.sum.is_monotonic) == ("1", "requests served", True)
            assert m.sum.aggregation_temporality == cumulative
            assert len({p.start_time_unix_nano for _, p in points}) == 1  # one cumulative series

        points = series[("sent.bytes", ())]
        assert [p.as_double for _, p in points] == [0.5 * BYTES_ADDS * r for r in rounds]
        assert points[0][0].unit == "By" and points[0][0].sum.is_monotonic

        points = series[("queue.depth", (("queue", "q1"),))]
        assert [p.as_int for _, p in points] == [(3 * QUEUE_UP - QUEUE_DOWN) * r for r in rounds]
        assert not points[0][0].sum.is_monotonic

        points = series[("latency", (("route", "/a"),))]
        assert [p.count for _, p in points] == [len(LATENCIES) * r for r in rounds]
        assert [p.sum for _, p in points] == pytest.approx([sum(LATENCIES) * r for r in rounds])
        for _, p in points:
            assert (p.min, p.max) == (min(LATENCIES), max(LATENCIES))
            assert sum(p.bucket_counts) == p.count and len(p.bucket_counts) == len(p.explicit_bounds) + 1
        assert points[0][0].histogram.aggregation_temporality == cumulative
        assert (points[0][0].unit, points[0][0].description) == ("ms", "request latency")

        points = series[("payload.size", (("route", "/b"),))]
        assert points[0][0].WhichOneof("data") == "exponential_histogram"
        assert points[0][0].exponential_histogram.aggregation_temporality == cumulative
        assert [p.count for _, p in points] == [len(SIZES) * r for r in rounds]
        assert [p.sum for _, p in points] == pytest.approx([sum(SIZES) * r for r in rounds])
        assert [p.zero_count for _, p in points] == [SIZES.count(0) * r for r in rounds]
        for _, p in points:
            assert (p.min, p.max) == (min(SIZES), max(SIZES))
            assert sum(p.positive.bucket_counts) == p.count - p.zero_count and sum(p.negative.bucket_counts) == 0
            # the highest non-empty bucket (index i: (base^i, base^(i+1)], base 2^(2^-scale)) holds the largest value
            top = p.positive.offset + max(i for i, n in enumerate(p.positive.bucket_counts) if n)
            assert 2 ** (top * 2.0**-p.scale) < max(SIZES) <= 2 ** ((top + 1) * 2.0**-p.scale) * (1 + 1e-9)

        assert [p.as_double for _, p in series[("temperature", (("room", "x"),))]] == [20.5 + r for r in rounds]
        assert [p.as_int for _, p in series[("temperature", (("room", "y"),))]] == [-3] * len(COLLECTIONS)
        assert series[("temperature", (("room", "x"),))][0][0].unit == "Cel"

    passthrough.assert_counted(before, {"metric_points": expected_points})


# ---------------------------------------------------------------------------
# logs

RECORDS = 300
BASE_TIME = 1_700_000_000_000_000_000
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331


def _expected_body(i: int):
    if i % 10 == 0:  # a structured body: kvlist with an array inside
        return {"message": f"record {i}", "n": i, "tags": ["a", "b"]}
    return f"record {i}"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_log_exporter_every_record_arrives(passthrough, protocol):
    run = uuid.uuid4().hex
    before = passthrough.counts()
    provider = LoggerProvider(resource=_resource(run, "logs"))
    # small batches, so that the collector sees many requests; a short delay keeps the test quick
    provider.add_log_record_processor(
        BatchLogRecordProcessor(
            _exporter("logs", protocol, passthrough),
            schedule_delay_millis=100,
            max_export_batch_size=64,
            export_timeout_millis=30_000,
        )
    )
    logger = provider.get_logger("otel-lite.tests.logs", "4.5.6")
    span_context = SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    in_span = trace.set_span_in_context(NonRecordingSpan(span_context))
    try:
        for i in range(RECORDS):
            logger.emit(
                timestamp=BASE_TIME + i,
                context=in_span if i % 3 == 0 else None,
                severity_number=SeverityNumber.INFO if i % 2 == 0 else SeverityNumber.WARN,
                severity_text="INFO" if i % 2 == 0 else "WARN",
                body=_expected_body(i),
                attributes={"i": i, "parity": "even" if i % 2 == 0 else "odd", "ratio": i / 4, "ok": i % 5 != 0},
                event_name="test.event" if i % 50 == 0 else None,
            )
        assert provider.force_flush(timeout_millis=30_000)
    finally:
        provider.shutdown()

    def my_records(sink):
        return [
            (rl, sl, lr) for rl in _mine(sink.resource_logs(), run) for sl in rl.scope_logs for lr in sl.log_records
        ]

    for sink in passthrough.sinks:
        assert sink.wait_for(lambda sink=sink: len(my_records(sink)) >= RECORDS, ARRIVAL_TIMEOUT), (
            f"{protocol}: {len(my_records(sink))} of {RECORDS} records at the sink"
        )

    for sink in passthrough.sinks:
        records = my_records(sink)
        assert len(records) == RECORDS  # nothing more, nothing twice
        by_index = {}
        for rl, sl, lr in records:
            _assert_resource(rl.resource, run, "logs")
            assert (sl.scope.name, sl.scope.version) == ("otel-lite.tests.logs", "4.5.6")
            by_index[attributes(lr.attributes)["i"]] = lr
        assert sorted(by_index) == list(range(RECORDS))
        for i, lr in by_index.items():
            assert any_value(lr.body) == _expected_body(i)
            assert lr.time_unix_nano == BASE_TIME + i and lr.observed_time_unix_nano > 0
            assert (lr.severity_number, lr.severity_text) == (
                (SeverityNumber.INFO.value, "INFO") if i % 2 == 0 else (SeverityNumber.WARN.value, "WARN")
            )
            assert attributes(lr.attributes) == {
                "i": i,
                "parity": "even" if i % 2 == 0 else "odd",
                "ratio": i / 4,
                "ok": i % 5 != 0,
            }
            assert lr.event_name == ("test.event" if i % 50 == 0 else "")
            if i % 3 == 0:
                assert lr.trace_id == TRACE_ID.to_bytes(16, "big") and lr.span_id == SPAN_ID.to_bytes(8, "big")
                assert lr.flags & 0xFF == 1
            else:
                assert lr.trace_id == b"" and lr.span_id == b""

    passthrough.assert_counted(before, {"log_records": RECORDS})
