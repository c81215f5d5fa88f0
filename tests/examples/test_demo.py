"""The README's first command: examples/demo.py starts the collector with its
embedded default config and every demo span it sends over gRPC and HTTP lands
in the file exporter's output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.collector.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def _spans_in(path: Path) -> list[dict]:
    spans = []
    for line in path.read_text().splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            service = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}["service.name"]["stringValue"]
            for ss in rs["scopeSpans"]:
                spans += [dict(span, service=service) for span in ss["spans"]]
    return spans


def test_demo_delivers_every_span_over_both_protocols_and_appends_across_runs(tmp_path):
    ports = [str(free_port()) for _ in range(4)]
    command = [sys.executable, str(ROOT / "examples" / "demo.py"), "--exit", "--spans", "10", "--ports", *ports]
    for run in (1, 2):
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=90)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "sent 40 spans, the collector wrote 40" in result.stdout
        spans = _spans_in(tmp_path / "otel-lite-traces.jsonl")
        assert len(spans) == 40 * run  # the default file exporter appends: a restart keeps earlier output
    services = {s["service"] for s in spans}
    assert services == {"demo-grpc", "demo-http-protobuf"}
    assert {s["name"] for s in spans} == {"GET /cart", "SELECT cart_items"}
    by_id = {s["spanId"]: s for s in spans}
    children = [s for s in spans if s["name"] == "SELECT cart_items"]
    assert all(by_id[c["parentSpanId"]]["name"] == "GET /cart" for c in children)
