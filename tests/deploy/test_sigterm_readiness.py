"""SIGTERM on the real ``otel-lite-collector`` process: readiness drops first, then the collector drains.

What a Kubernetes rolling update or scale-down relies on (deploy/kubernetes/): on SIGTERM the
``health_check`` answers 503 at once, so the readiness probe takes the pod out of its Service (and
out of the gateways' headless DNS that the agents' ``dns`` resolver reads) while the receivers keep
accepting for ``shutdown_delay``; then the receivers stop, the processors flush and the exporters
drain, and the process exits 0 with every span it accepted delivered.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import requests

from tests.support.collector_process import CollectorProcess, wait_until
from tests.support.otlp_requests import grpc_export, make_request
from tests.support.otlp_sink import OtlpSink

SHUTDOWN_DELAY = 6.0  # long enough that a loaded 2-core machine still sees the window


def gateway_config(sink_endpoint: str, shutdown_delay: float):
    def config(c: CollectorProcess) -> str:
        return f"""
extensions:
  health_check:
    endpoint: 127.0.0.1:{c.health_port}
    shutdown_delay: {shutdown_delay}s
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{c.grpc_port}}}
      http: {{endpoint: 127.0.0.1:{c.http_port}}}
processors:
  batch:                       # holds what it gets until shutdown flushes it
    timeout: 60s
    send_batch_size: 100000
exporters:
  otlp:
    endpoint: {sink_endpoint}
    tls: {{insecure: true}}
service:
  extensions: [health_check]
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [otlp]}}
  telemetry:
    metrics: {{address: 127.0.0.1:{c.metrics_port}}}
"""

    return config


def health_status(c: CollectorProcess) -> int | None:
    try:
        return requests.get(f"http://127.0.0.1:{c.health_port}/", timeout=1).status_code
    except requests.RequestException:
        return None  # not listening (any more)


@pytest.fixture
def sink():
    with OtlpSink(http=False) as s:
        yield s


def test_sigterm_fails_readiness_first_while_receivers_accept_then_drains(sink, tmp_path):
    c = CollectorProcess(gateway_config(sink.grpc_endpoint, SHUTDOWN_DELAY), str(tmp_path), health=True)
    try:
        c.start()
        assert health_status(c) == 200
        for i in range(5):
            grpc_export(c.grpc_endpoint, make_request(10, name=f"before-{i}").SerializeToString())
        # the batch processor holds them: what reaches the sink is the shutdown's flush
        assert sink.span_count() == 0

        sigterm_at = time.monotonic()
        c.proc.send_signal(signal.SIGTERM)
        assert wait_until(lambda: health_status(c) == 503, SHUTDOWN_DELAY / 2, 0.01), (
            f"health check did not answer 503 soon after SIGTERM:\n{c.log()[-3000:]}"
        )
        not_ready_after = time.monotonic() - sigterm_at
        assert c.alive(), "the process exited before readiness was seen failing"

        # not ready, yet still taking data: senders that have not noticed yet lose nothing
        for i in range(3):
            grpc_export(c.grpc_endpoint, make_request(10, name=f"during-{i}").SerializeToString(), timeout=5)
        assert c.alive() and health_status(c) == 503

        try:
            code = c.proc.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"collector did not exit within 60 s of SIGTERM:\n{c.log()[-3000:]}")
        exited_after = time.monotonic() - sigterm_at
        assert code == 0, c.log()[-3000:]
        assert exited_after >= SHUTDOWN_DELAY * 0.9, f"exited {exited_after:.2f}s after SIGTERM, before the delay"
        assert not_ready_after < exited_after

        assert sink.wait_for_spans(80, timeout=10), f"{sink.span_count()} of 80 spans delivered"
        names = sorted(s.name for s in sink.spans())
        assert len(names) == 80, "duplicates"
        sent = [f"{phase}-{i}-{j}" for phase, n in (("before", 5), ("during", 3)) for i in range(n) for j in range(10)]
        assert names == sorted(sent)

        log = c.log()
        assert "health check not ready; receivers keep accepting until the shutdown delay ends" in log
        assert log.index("shutdown delay ends") < log.index("collector shutting down")
        assert "collector stopped" in log
    finally:
        c.stop()


def test_without_shutdown_delay_readiness_and_receivers_stop_at_once(sink, tmp_path):
    """The default (0s): 503 and the shutdown start together; what was accepted is still delivered."""
    c = CollectorProcess(gateway_config(sink.grpc_endpoint, 0), str(tmp_path), health=True)
    try:
        c.start()
        grpc_export(c.grpc_endpoint, make_request(10, name="only").SerializeToString())
        code = c.term(60)
        assert code == 0, c.log()[-3000:]
        assert health_status(c) is None
        assert sink.wait_for_spans(10, timeout=10)
        assert "shutdown delay ends" not in c.log()
    finally:
        c.stop()
