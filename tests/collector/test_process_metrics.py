"""The collector's process metrics (``otelcol_process_*``), named as the Go Collector's are scraped."""

from __future__ import annotations

import os
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from otel_lite.collector.process_metrics import register_process_metrics
from tests.support.collector_process import REPO, CollectorProcess, wait_until

# scraped name -> Prometheus type: Go's (no unit suffix, "_total" on its monotonic sums)
EXPECTED = {
    "otelcol_process_uptime_total": "counter",
    "otelcol_process_cpu_seconds_total": "counter",
    "otelcol_process_memory_rss": "gauge",
}
# Go's runtime.MemStats metrics: no honest CPython equivalent (collector/process_metrics.py says why)
LEFT_OUT = (
    "otelcol_process_runtime_heap_alloc_bytes",
    "otelcol_process_runtime_total_alloc_bytes",
    "otelcol_process_runtime_total_sys_memory_bytes",
)


def _scrape_text(text: str) -> dict[str, tuple[str, float]]:
    """name as exposed -> (type, value) of the single sample of each family."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] = (family.type, sample.value)
    return out


def _vm_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_registry_exposes_go_names_with_sane_values():
    registry = CollectorRegistry()
    register_process_metrics(registry)
    register_process_metrics(registry)  # once per registry: a second call is not a duplicate
    first = _scrape_text(generate_latest(registry).decode())
    assert {name: kind for name, (kind, _) in first.items()} == EXPECTED
    assert not set(LEFT_OUT) & set(first)

    assert first["otelcol_process_uptime_total"][1] >= 0
    cpu = first["otelcol_process_cpu_seconds_total"][1]
    times = os.times()
    assert 0 < cpu <= times.user + times.system + 0.5  # this process's CPU time, not the machine's
    if os.path.exists("/proc/self/status"):
        rss = first["otelcol_process_memory_rss"][1]
        assert 0.5 * _vm_rss() < rss < 2 * _vm_rss()

    assert wait_until(
        lambda: (
            _scrape_text(generate_latest(registry).decode())["otelcol_process_uptime_total"][1]
            > first["otelcol_process_uptime_total"][1]
        ),
        10,
    )


@pytest.fixture
def collector(tmp_path):
    def ports(c):
        return [
            "--set",
            f"receivers.otlp.protocols.grpc.endpoint=127.0.0.1:{c.grpc_port}",
            "--set",
            f"receivers.otlp.protocols.http.endpoint=127.0.0.1:{c.http_port}",
            "--set",
            f"service.telemetry.metrics.address=127.0.0.1:{c.metrics_port}",
            "--set",
            f"extensions.health_check.endpoint=127.0.0.1:{c.health_port}",
        ]

    c = CollectorProcess(workdir=str(tmp_path), args=ports, cwd=str(tmp_path), env={"PYTHONPATH": REPO})
    c.start()
    try:
        yield c
    finally:
        c.stop()


def test_running_collector_serves_process_metrics(collector):
    started = time.monotonic()
    metrics = collector.metrics()
    for name in EXPECTED:
        assert name in metrics, name
    for name in LEFT_OUT:
        assert name not in metrics
    uptime = metrics["otelcol_process_uptime_total"]
    assert uptime > 0
    # the collector process's own numbers: its CPU time (it imported a lot: surely more than nothing)
    assert metrics["otelcol_process_cpu_seconds_total"] > 0
    rss, status_rss = metrics["otelcol_process_memory_rss"], collector.rss()
    assert status_rss > 0 and 0.5 * status_rss < rss < 2 * status_rss
    # uptime counts on between scrapes, by about the time that passed
    assert wait_until(lambda: collector.metric("otelcol_process_uptime_total") >= uptime + 0.5, 30, 0.1)
    assert collector.metric("otelcol_process_uptime_total") - uptime <= time.monotonic() - started + 1


def test_no_process_metrics_without_metrics(tmp_path):
    """``level: none``: no metrics server, and (as Go) no process metrics registered either."""
    from otel_lite.collector.config import build_config, parse_yaml
    from otel_lite.collector.service import Collector

    text = """
receivers: {otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}}}}
exporters: {debug: {}}
service:
  telemetry: {metrics: {level: none}}
  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}
"""
    quiet = Collector(build_config(parse_yaml(text)))
    assert "otelcol_process_uptime_total" not in generate_latest(quiet.telemetry.registry).decode()
    loud = Collector(build_config(parse_yaml(text.replace("level: none", "level: normal"))))
    assert "otelcol_process_uptime_total" in generate_latest(loud.telemetry.registry).decode()
