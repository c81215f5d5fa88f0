"""The shim examples run end to end: printed by the console exporter, and over
real OTLP/HTTP into the test receiver."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _spans(output: str) -> list[dict]:
    """The span objects the console exporter printed (JSON documents, one after another)."""
    decoder, spans, i = json.JSONDecoder(), [], 0
    while True:
        i = output.find("{", i)
        if i < 0:
            return spans
        try:
            doc, i = decoder.raw_decode(output, i)
        except ValueError:
            i += 1
            continue
        if isinstance(doc, dict) and "name" in doc and "context" in doc:
            spans.append(doc)


@pytest.mark.parametrize(
    "example,per_request", [("opentracing_service", 3), ("opencensus_service", 3), ("mixed_service", 4)]
)
def test_example_runs_and_makes_one_trace_per_request(example, per_request):
    env = dict(os.environ, OTEL_TRACES_EXPORTER="console", PYTHONPATH=str(ROOT))
    env.pop("OTEL_PROPAGATORS", None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / f"{example}.py"), "--requests", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"sent {2 * per_request} spans" in proc.stdout
    spans = _spans(proc.stdout)
    assert len(spans) == 2 * per_request
    traces = {}
    for span in spans:
        traces.setdefault(span["context"]["trace_id"], []).append(span)
    assert len(traces) == 2
    for trace_spans in traces.values():
        ids = {s["context"]["span_id"] for s in trace_spans}
        roots = [s for s in trace_spans if s["parent_id"] is None]
        assert len(roots) == 1
        assert all(s["parent_id"] in ids for s in trace_spans if s["parent_id"] is not None)


def test_mixed_example_over_otlp_http(otlp_sink):
    pytest.importorskip("otel_lite.export.otlp_http", reason="otel_lite's OTLP/HTTP exporter is not there yet")
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_sink.http_endpoint,
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "mixed_service.py"), "--requests", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert otlp_sink.wait_for_spans(12, timeout=30)
    scopes = {}
    for request in otlp_sink.requests:
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
            assert service == "mixed-service"
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    scopes[span.name] = scope_spans.scope.name
    assert scopes == {
        "handle request": "mixed.handler",
        "legacy.fetch": "opentracing-shim",
        "cache lookup": "opencensus-shim",
        "storage read": "mixed.storage",
    }
    assert len({span.trace_id for span in otlp_sink.spans()}) == 3
