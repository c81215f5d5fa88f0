"""A tier, for real: an agent collector whose ``loadbalancing`` exporter finds its gateways
through a real DNS server, gateway collectors on 127.0.0.2-5 (one port, as pods behind a
headless Service) running ``tail_sampling``, each exporting to its own counting sink.

Under steady load the DNS records go 3 -> 4 -> 2 gateways; removed gateways are stopped
with SIGTERM after the agent has seen the change, as a rolling update does.  Nothing the
agent acknowledged may be lost; duplicates are counted; a trace may reach two gateways only
if the ring change moved it (its owner before and after differ).
"""

from __future__ import annotations

import socket
import time
from collections import defaultdict

import pytest

from otel_lite.collector.exporters.loadbalancing.ring import build_ring
from tests.support.collector_process import CollectorProcess, free_port, wait_until
from tests.support.dns_server import DNSServer
from tests.support.reliability import Backend, Ledger, LoadGenerator

pytestmark = pytest.mark.timeout(180)

NAME = "gateways.tier.test"

AGENT = """\
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{c.grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{c.http_port}"}}
exporters:
  loadbalancing:
    protocol:
      otlp: {{tls: {{insecure: true}}, compression: none, timeout: 2s}}
    resolver:
      dns: {{hostname: {name}, port: {port}, interval: 200ms, timeout: 500ms, nameservers: ["{dns}"]}}
    retry_on_failure: {{initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 0}}
    sending_queue: {{num_consumers: 8, queue_size: 5000}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [loadbalancing]}}
  telemetry:
    metrics: {{address: "127.0.0.1:{c.metrics_port}"}}
    logs: {{level: info}}
"""

GATEWAY = """\
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "{host}:{port}"}}
      http: {{endpoint: "127.0.0.1:{c.http_port}"}}
processors:
  tail_sampling:
    decision_wait: 500ms
    policies: [{{name: everything, type: always_sample}}]
exporters:
  otlp_grpc:
    endpoint: "{sink}"
    tls: {{insecure: true}}
    compression: none
    retry_on_failure: {{initial_interval: 50ms, max_interval: 200ms}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [tail_sampling], exporters: [otlp_grpc]}}
  telemetry:
    metrics: {{address: "127.0.0.1:{c.metrics_port}"}}
    logs: {{level: info}}
"""


def _trace_of(span_id: int) -> int:
    return span_id // 10 + 1  # tests.support.reliability.build_request: 10 spans per trace


def _port_free_on(hosts: list[str]) -> int:
    """A port free on every one of ``hosts`` (the gateways' one gRPC port, as pods behind a Service)."""
    for _ in range(50):
        port = free_port()
        socks = []
        try:
            for h in hosts:
                sock = socket.socket()
                socks.append(sock)
                sock.bind((h, port))
            return port
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no port free on every gateway address")


def test_scale_events_3_4_2_lose_nothing_and_split_only_moved_traces(tmp_path):
    hosts = [f"127.0.0.{i}" for i in range(2, 6)]
    port = _port_free_on(hosts)
    sinks = {h: Backend() for h in hosts}
    gateways: dict[str, CollectorProcess] = {}

    def start_gateway(h: str) -> None:
        # its HTTP and metrics ports are picked now, not when the test began: a port picked earlier can
        # meanwhile be the source port of one of the agent's connections (then bind fails); so retry
        for attempt in range(3):
            g = gateways[h] = CollectorProcess(
                lambda c: GATEWAY.format(c=c, host=h, port=port, sink=sinks[h].endpoint),
                str(tmp_path / f"{h}-{attempt}"),
                host=h,
                grpc_port=port,
            )
            try:
                g.start()
                return
            except RuntimeError as e:
                if "Address already in use" not in str(e) or attempt == 2:
                    raise

    dns = DNSServer()
    dns.start()
    agent = None
    load = None
    try:
        dns.records.set(NAME, hosts[:3])
        for h in hosts[:3]:
            start_gateway(h)
        agent = CollectorProcess(
            lambda c: AGENT.format(c=c, name=NAME, port=port, dns=dns.nameserver), str(tmp_path / "agent")
        )
        agent.start()
        ledger = Ledger()
        # 25-span requests of 10-span traces: many traces straddle two requests, so a ring change can split them
        load = LoadGenerator(agent, ledger, threads=2, spans=25, rate=2000, transports=("grpc",)).start()
        time.sleep(1.5)

        start_gateway(hosts[3])  # scale out: the new pod is ready before DNS lists it
        dns.records.set(NAME, hosts)
        time.sleep(1.5)

        dns.records.set(NAME, [hosts[0], hosts[3]])  # scale in: two pods leave DNS, then terminate
        time.sleep(1.0)  # > the resolver's interval: the agent stopped routing to them
        for h in hosts[1:3]:
            assert gateways[h].term(timeout=30) == 0, gateways[h].log()[-2000:]
        time.sleep(1.0)
        load.stop()

        acked = set(ledger.acked)
        assert len(acked) > 5000, ledger.statuses

        def arrived() -> int:
            return len(acked & set().union(*(set(s.snapshot()) for s in sinks.values())))

        assert wait_until(lambda: arrived() == len(acked), 30), (
            f"{len(acked) - arrived()} of {len(acked)} acknowledged spans lost\n" + agent.log()[-3000:]
        )

        duplicates = sum(n - 1 for s in sinks.values() for n in s.snapshot().values() if n > 1)
        gateways_of: dict[int, set[str]] = defaultdict(set)
        for h, s in sinks.items():
            for span_id in s.snapshot():
                gateways_of[_trace_of(span_id)].add(h)
        split = {t for t, gs in gateways_of.items() if len(gs) > 1}
        rings = [build_ring([f"{h}:{port}" for h in hs]) for hs in (hosts[:3], hosts, [hosts[0], hosts[3]])]

        def owners(trace: int) -> set[str]:
            key = trace.to_bytes(16, "big")
            return {r.endpoint_for(key).rsplit(":", 1)[0] for r in rings}

        not_moved = {t for t in split if len(owners(t)) == 1}
        assert not not_moved, f"{len(not_moved)} traces split across gateways though no ring change moved them"
        print(
            f"\ntier: {len(acked)} spans acknowledged, all delivered; {duplicates} duplicates; "
            f"{len(split)} of {len(gateways_of)} traces split by the two scale events"
        )
        assert agent.metric("otelcol_loadbalancer_num_backend_updates_total") >= 3
    finally:
        if load is not None:
            load.stop()
        if agent is not None:
            agent.stop()
        for g in gateways.values():
            g.stop()
        dns.stop()
        for s in sinks.values():
            s.close()
