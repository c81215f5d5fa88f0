"""The official OpenTelemetry JS SDK's OTLP exporters (Node.js) through a real collector: everything arrives.

``tests/node/send.mjs`` (the SDK packages pinned by ``tests/node/package-lock.json``, installed by
``npm ci --prefix tests/node`` in ``.ci/run``) sends N spans, N + 2 metric points and N log records over
one protocol: gRPC, HTTP/protobuf or HTTP/JSON (the three every Node exporter package offers), gzip
too.  A real ``otel-lite-collector`` process passes them through an operator's pipelines (``otlp``
receiver → ``batch`` → ``otlp`` and ``otlphttp`` exporters, ``tests/support/passthrough_collector.py``)
to two receivers built from opentelemetry-proto; each must hold exactly what the SDK produced, with its
values, attributes, trace structure and resource.

Skips, saying why, only when ``node`` or ``tests/node/node_modules`` is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

from tests.support.collector_process import REPO
from tests.support.otlp_sink import any_value, attributes
from tests.support.passthrough_collector import passthrough_collector

NODE_DIR = os.path.join(REPO, "tests", "node")
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(NODE is None, reason="node is not installed (the Node.js exporters need Node.js >= 20.6)"),
    pytest.mark.skipif(
        not os.path.isdir(os.path.join(NODE_DIR, "node_modules")),
        reason="tests/node/node_modules is missing: run `npm ci --prefix tests/node` (as .ci/run does)",
    ),
]

N = 200
ARRIVAL_TIMEOUT = 30.0
SCOPE = ("otel-lite.tests.node", "7.8.9")
LOG_BASE_TIME = 1_700_000_000 * 10**9


@pytest.fixture(scope="module")
def passthrough(tmp_path_factory):
    with passthrough_collector(str(tmp_path_factory.mktemp("collector"))) as p:
        yield p


def _send(passthrough, protocol: str, compression: str | None, run: str) -> None:
    endpoint = "http://" + passthrough.grpc_endpoint if protocol == "grpc" else passthrough.http_endpoint
    command = [NODE, os.path.join(NODE_DIR, "send.mjs"), "--protocol", protocol, "--endpoint", endpoint]
    command += ["--count", str(N), "--run", run]
    if compression:
        command += ["--compression", compression]
    result = subprocess.run(command, capture_output=True, text=True, timeout=150, cwd=REPO)
    assert result.returncode == 0, f"send.mjs exited {result.returncode}:\n{result.stdout}\n{result.stderr[-4000:]}"
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"protocol": protocol, "count": N, "signals": ["traces", "metrics", "logs"], "errors": 0}


def _mine(resource_items, run: str) -> list:
    return [r for r in resource_items if attributes(r.resource.attributes).get("test.run") == run]


def _items(resource_items, scope_field: str, item_field: str) -> list:
    """(resource, scope, item) for every span / metric / log record."""
    return [
        (r.resource, s.scope, item)
        for r in resource_items
        for s in getattr(r, scope_field)
        for item in getattr(s, item_field)
    ]


def _assert_resource_and_scope(resource, scope, run: str, protocol: str) -> None:
    got = attributes(resource.attributes)
    assert got["service.name"] == "node-sender"
    assert (got["test.run"], got["test.protocol"]) == (run, protocol)
    assert (got["telemetry.sdk.language"], got["telemetry.sdk.name"]) == ("nodejs", "opentelemetry")
    assert (scope.name, scope.version) == SCOPE


def _number(point):
    return getattr(point, point.WhichOneof("value"))


@pytest.mark.parametrize(
    ("protocol", "compression"),
    [
        ("grpc", None),
        ("grpc", "gzip"),
        ("http/protobuf", None),
        ("http/protobuf", "gzip"),
        ("http/json", None),
        ("http/json", "gzip"),
    ],
    ids=["grpc", "grpc-gzip", "http-protobuf", "http-protobuf-gzip", "http-json", "http-json-gzip"],
)
def test_node_exporters_every_span_point_and_record_arrives(passthrough, protocol, compression):
    run = uuid.uuid4().hex
    before = passthrough.counts()
    _send(passthrough, protocol, compression, run)

    def spans(sink):
        return _items(_mine(sink.resource_spans(), run), "scope_spans", "spans")

    def points(sink):
        return [
            (resource, scope, m, p)
            for resource, scope, m in _items(_mine(sink.resource_metrics(), run), "scope_metrics", "metrics")
            for p in getattr(m, m.WhichOneof("data")).data_points
        ]

    def records(sink):
        return _items(_mine(sink.resource_logs(), run), "scope_logs", "log_records")

    for sink in passthrough.sinks:
        assert sink.wait_for(
            lambda sink=sink: len(spans(sink)) >= N and len(points(sink)) >= N + 2 and len(records(sink)) >= N,
            ARRIVAL_TIMEOUT,
        ), f"{protocol}: {len(spans(sink))} spans, {len(points(sink))} points, {len(records(sink))} records"

    for sink in passthrough.sinks:
        # traces: N spans, span 0 the parent of all the others, in one trace
        got = spans(sink)
        assert len(got) == N  # nothing more, nothing twice
        by_name = {}
        for resource, scope, span in got:
            _assert_resource_and_scope(resource, scope, run, protocol)
            by_name[span.name] = span
        assert sorted(by_name) == sorted(f"span {i}" for i in range(N))
        root = by_name["span 0"]
        assert root.parent_span_id == b"" and len(root.trace_id) == 16 and len(root.span_id) == 8
        assert attributes(root.attributes) == {"i": 0}
        for i in range(1, N):
            span = by_name[f"span {i}"]
            assert (span.trace_id, span.parent_span_id) == (root.trace_id, root.span_id)
            assert attributes(span.attributes) == {"i": i, "parity": "odd" if i % 2 else "even"}
            assert span.start_time_unix_nano <= span.end_time_unix_nano
            if i % 10 == 0:
                assert [(e.name, attributes(e.attributes)) for e in span.events] == [("tenth", {"n": i})]
            else:
                assert not span.events
        assert len({s.span_id for s in by_name.values()}) == N

        # metrics: one collection, N points of node.points, the sum of N increments, a histogram of N values
        got = points(sink)
        assert len(got) == N + 2
        for resource, scope, _, _ in got:
            _assert_resource_and_scope(resource, scope, run, protocol)
        by_metric: dict = {}
        for _, _, m, p in got:
            by_metric.setdefault(m.name, []).append((m, p))
        assert sorted(by_metric) == ["node.latency", "node.points", "node.requests"]
        assert {attributes(p.attributes)["i"]: _number(p) for _, p in by_metric["node.points"]} == {
            i: i + 1 for i in range(N)
        }
        m = by_metric["node.points"][0][0]
        assert m.description == "one point per i" and m.sum.is_monotonic
        ((m, p),) = by_metric["node.requests"]
        assert (_number(p), attributes(p.attributes), m.unit) == (N, {"route": "/a"}, "1")
        ((m, p),) = by_metric["node.latency"]
        assert (p.count, p.sum, p.min, p.max) == (N, N * (N - 1) / 2, 0, N - 1)
        assert sum(p.bucket_counts) == N and len(p.bucket_counts) == len(p.explicit_bounds) + 1
        assert (m.unit, attributes(p.attributes)) == ("ms", {"route": "/a"})

        # logs: N records with their bodies (every 10th a map), severities, attributes and timestamps
        got = records(sink)
        assert len(got) == N
        by_index = {}
        for resource, scope, record in got:
            _assert_resource_and_scope(resource, scope, run, protocol)
            by_index[attributes(record.attributes)["i"]] = record
        assert sorted(by_index) == list(range(N))
        for i, record in by_index.items():
            body = {"message": f"record {i}", "n": i} if i % 10 == 0 else f"record {i}"
            assert any_value(record.body) == body
            assert attributes(record.attributes) == {"i": i, "parity": "odd" if i % 2 else "even"}
            assert (record.severity_number, record.severity_text) == ((13, "WARN") if i % 2 else (9, "INFO"))
            assert record.time_unix_nano == LOG_BASE_TIME + i

    passthrough.assert_counted(before, {"spans": N, "metric_points": N + 2, "log_records": N})
