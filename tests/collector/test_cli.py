"""The command line, run as a real subprocess: validate, components, print-config,
and the daemon with its embedded default config shutting down on SIGTERM."""

from __future__ import annotations

import json
import re

import requests

from tests.collector.conftest import free_port
from tests.support.collector_process import REPO, CollectorProcess, run_collector
from tests.support.otlp_requests import make_request

BAD = """
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "localhost", max_recv_msg_size_mib: "lots"}
  nosuch:
processors:
  batch: {send_batch_size: 10, nonsense: true}
  probabilistic_sampler: {sampling_percentage: 10}
service:
  pipelines:
    traces:
      receivers: [otlp, otlp/missing]
      processors: [batch]
      exporters: [nowhere]
    logs:
      receivers: [otlp]
      processors: [probabilistic_sampler]
      exporters: [nowhere]
    profiles:
      receivers: [otlp]
      exporters: [nowhere]
"""


def test_validate_prints_every_error_with_its_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = run_collector("validate", "--config", str(path))
    assert result.returncode == 1
    err = result.stderr
    for yaml_path in (
        "receivers.otlp.protocols.grpc.max_recv_msg_size_mib",
        "receivers.nosuch",
        "processors.batch.nonsense",
        "service.pipelines.traces.receivers[1]",
        "service.pipelines.traces.exporters[0]",
        "service.pipelines.logs.exporters[0]",
        "service.pipelines.logs.processors[0]",
        "service.pipelines.profiles",
    ):
        assert re.search(rf"^error: {re.escape(str(path))}:\d+: {re.escape(yaml_path)}: ", err, re.M), (yaml_path, err)
    assert "handles traces only: it cannot be in a logs pipeline" in err
    assert "profiles pipelines are not supported" in err
    assert "Traceback" not in err


def test_validate_ok_and_options_after_the_subcommand(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(
        "receivers: {otlp: {protocols: {grpc: {endpoint: '${env:EP}'}}}}\n"
        "exporters: {debug: {}}\n"
        "service: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}\n"
    )
    result = run_collector("validate", "--config", f"file:{path}", env={"EP": "127.0.0.1:5555"})
    assert result.returncode == 0, result.stderr
    result = run_collector("--config", str(path), "validate", "--set", "receivers.otlp.protocols.grpc.endpoint=bad")
    assert result.returncode == 1 and "receivers.otlp.protocols.grpc.endpoint" in result.stderr


def test_missing_config_file_is_a_clear_error(tmp_path):
    result = run_collector("validate", "--config", str(tmp_path / "none.yaml"))
    assert result.returncode == 1 and "cannot read config file" in result.stderr
    result = run_collector("--config", str(tmp_path / "none.yaml"))
    assert result.returncode == 1 and "cannot read config file" in result.stderr


def test_components_lists_types_with_aliases():
    result = run_collector("components")
    assert result.returncode == 0
    out = result.stdout
    for line in (
        "receivers:",
        "processors:",
        "exporters:",
        "extensions:",
        "  otlp ",
        "  batch ",
        "otlp_grpc (alias: otlp)",
        "otlp_http (alias: otlphttp)",
        "health_check",
    ):
        assert line in out, (line, out)


def test_print_config_resolves_env_and_set(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("receivers: {otlp: {protocols: {http: {endpoint: '${env:HOST}:${env:PORT:-4318}'}}}}\n")
    result = run_collector(
        "print-config", "--config", str(path), "--set", "processors.batch.timeout=1s", env={"HOST": "127.0.0.9"}
    )
    assert result.returncode == 0, result.stderr
    assert "endpoint: 127.0.0.9:4318" in result.stdout
    assert "timeout: 1s" in result.stdout
    # without --config: the embedded default
    result = run_collector("print-config")
    assert "127.0.0.1:4317" in result.stdout and "otel-lite-traces.jsonl" in result.stdout


def test_default_config_daemon_serves_and_stops_on_sigterm(tmp_path):
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

    c = CollectorProcess(workdir=str(tmp_path), args=ports, cwd=str(tmp_path), env={"PYTHONPATH": REPO}, health=True)
    try:
        c.start()  # ready once the health check answers 200
        req = make_request(4, name="cli-span")
        resp = requests.post(
            c.http_url, data=req.SerializeToString(), headers={"Content-Type": "application/x-protobuf"}, timeout=10
        )
        assert resp.status_code == 200
        metrics = requests.get(f"http://127.0.0.1:{c.metrics_port}/metrics", timeout=10).text
        assert 'otelcol_receiver_accepted_spans_total{receiver="otlp",transport="http"} 4.0' in metrics
        returncode = c.term(timeout=30)
    finally:
        c.stop()
    log = c.log()  # its stdout and stderr
    assert returncode == 0, log
    assert "level=info" in log and "collector stopped" in log
    # shutdown flushed the batch processor into the file exporter
    content = (tmp_path / "otel-lite-traces.jsonl").read_text()
    lines = [json.loads(line) for line in content.splitlines() if line.strip()]
    names = {
        s["name"] for line in lines for rs in line["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]
    }
    assert names == {f"cli-span-{i}" for i in range(4)}


def test_busy_port_fails_startup_with_exit_code_1(tmp_path):
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        result = run_collector(
            "--set",
            f"receivers.otlp.protocols.grpc.endpoint=127.0.0.1:{free_port()}",
            "--set",
            f"receivers.otlp.protocols.http.endpoint=127.0.0.1:{busy}",
            "--set",
            "service.telemetry.metrics.level=none",
            "--set",
            f"extensions.health_check.endpoint=127.0.0.1:{free_port()}",
            cwd=str(tmp_path),
        )
    assert result.returncode == 1
    assert "cannot listen on HTTP endpoint" in result.stderr and "Traceback" not in result.stderr
