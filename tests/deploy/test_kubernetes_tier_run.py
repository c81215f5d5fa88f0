"""The collector configs rendered from deploy/kubernetes/, run for real: an agent and a gateway process on
loopback, each started from its overlay's ConfigMap as rendered, with only what a cluster would provide
swapped in through ``--set`` (listen addresses on free 127.0.0.1 ports instead of the pod IP's fixed
ports, the queue directory, a short shutdown_delay) and a DNS server of the test's answering the
headless Service's name. Spans sent to the agent are routed by its loadbalancing exporter (dns
resolver), tail-sampled by the gateway and exported, from its persistent queue, to a sink; then both
tiers get SIGTERM as a rollout would send it, and every span arrives exactly once.
"""

from __future__ import annotations

import signal
import subprocess

import pytest
import requests

from tests.deploy.test_kubernetes_manifests import config_text, container_env, gateway_headless_service, needs_kubectl
from tests.support.collector_process import CollectorProcess, wait_until
from tests.support.dns_server import DNSServer
from tests.support.otlp_requests import grpc_export, make_request
from tests.support.otlp_sink import OtlpSink

pytestmark = needs_kubectl

REQUESTS, SPANS = 6, 10


def listen_here(c: CollectorProcess) -> list[str]:
    """What the pod IP and its fixed ports were, on this machine: free loopback ports."""
    return [
        "--set",
        f"receivers.otlp.protocols.grpc.endpoint=127.0.0.1:{c.grpc_port}",
        "--set",
        f"receivers.otlp.protocols.http.endpoint=127.0.0.1:{c.http_port}",
        "--set",
        f"extensions.health_check.endpoint=127.0.0.1:{c.health_port}",
        "--set",
        "extensions.health_check.shutdown_delay=1s",
        "--set",
        f"service.telemetry.metrics.address=127.0.0.1:{c.metrics_port}",
    ]


def start(make) -> CollectorProcess:
    """A port picked before the start can meanwhile be another process's source port: pick again."""
    for attempt in range(3):
        c = make(attempt)
        try:
            c.start(timeout=60)
            return c
        except RuntimeError as e:
            if "Address already in use" not in str(e) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def health(c: CollectorProcess) -> int | None:
    try:
        return requests.get(f"http://127.0.0.1:{c.health_port}/", timeout=1).status_code
    except requests.RequestException:
        return None


def error_request(n: int):
    req = make_request(SPANS, name=f"req{n}")
    for span in req.resource_spans[0].scope_spans[0].spans:
        span.trace_id = bytes([n + 1] * 8) + span.trace_id[8:]  # a trace per (request, span index)
        span.status.code = 2  # ERROR: the gateway's "errors" policy samples it
    return req


def terminate(c: CollectorProcess) -> None:
    c.proc.send_signal(signal.SIGTERM)
    assert wait_until(lambda: health(c) == 503 or not c.alive(), 10, 0.01)
    try:
        assert c.proc.wait(60) == 0, c.log()[-3000:]
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not exit within 60 s of SIGTERM:\n{c.log()[-3000:]}")


def test_rendered_agent_and_gateway_configs_carry_traces_through_the_tier(tmp_path):
    svc = gateway_headless_service()
    hostname = f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.cluster.local"

    sink = OtlpSink(http=False)
    dns = DNSServer()
    dns.start()
    gateway = agent = None
    try:
        gateway_env = {
            **container_env("gateway"),
            "MY_POD_IP": "127.0.0.1",
            "OTLP_BACKEND_ENDPOINT": sink.grpc_endpoint,
        }
        gateway = start(
            lambda attempt: CollectorProcess(
                lambda c: config_text("gateway"),
                str(tmp_path / f"gateway-{attempt}"),
                args=lambda c: [
                    *listen_here(c),
                    "--set",
                    f"extensions.file_storage.directory={c.workdir}/queue",
                ],
                env=gateway_env,
                health=True,
            )
        )
        dns.records.set(hostname, ["127.0.0.1"])  # the headless Service's one ready pod
        agent = start(
            lambda attempt: CollectorProcess(
                lambda c: config_text("agent"),
                str(tmp_path / f"agent-{attempt}"),
                args=lambda c: [
                    *listen_here(c),
                    "--set",
                    f"exporters.loadbalancing.resolver.dns.port={gateway.grpc_port}",
                    "--set",
                    f"exporters.loadbalancing.resolver.dns.nameservers=[{dns.nameserver}]",
                    "--set",
                    f"exporters.otlp/gateway.endpoint=127.0.0.1:{gateway.grpc_port}",
                ],
                env={**container_env("agent"), "MY_POD_IP": "127.0.0.1"},
                health=True,
            )
        )
        assert wait_until(lambda: agent.metric("otelcol_loadbalancer_num_backends") == 1, 30, 0.1), agent.log()[-3000:]

        for n in range(REQUESTS):
            grpc_export(agent.grpc_endpoint, error_request(n).SerializeToString())
        total = REQUESTS * SPANS
        # routed: the gateway holds them (tail_sampling waits decision_wait before it decides)
        assert wait_until(lambda: gateway.metric("otelcol_receiver_accepted_spans_total") >= total, 30, 0.1), (
            agent.log()[-3000:]
        )

        terminate(agent)  # a node's agent goes first: it has nothing left to send
        terminate(gateway)  # then the gateway: it decides on what it holds and drains to the backend

        assert sink.wait_for_spans(total, timeout=10), f"{sink.span_count()} of {total} spans exported"
        names = sorted(s.name for s in sink.spans())
        assert names == sorted(f"req{n}-{i}" for n in range(REQUESTS) for i in range(SPANS)), "lost or duplicated"
        assert "health check not ready; receivers keep accepting" in gateway.log()
    finally:
        for c in (agent, gateway):
            if c is not None:
                c.stop()
        dns.stop()
        sink.close()
