"""A real ``otel-lite-collector`` process passing all three signals through to two OTLP sinks.

The config is an operator's, in the Go Collector's names: the ``otlp`` receiver (gRPC and HTTP) →
``batch`` → both the ``otlp`` (gRPC) and the ``otlphttp`` exporter, for the ``traces``, ``metrics``
and ``logs`` pipelines.  Each exporter has its own sink (``tests/support/otlp_sink.py``), so
everything a client sends must arrive twice: once over each exporter.  Free loopback ports;
the process and the sinks are stopped when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from tests.support.collector_process import CollectorProcess, wait_until
from tests.support.otlp_sink import OtlpSink

ITEMS = ("spans", "metric_points", "log_records")
_COUNTERS = (("receiver", "accepted"), ("receiver", "refused"), ("exporter", "sent"), ("exporter", "send_failed"))

PASSTHROUGH_CONFIG = """\
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{http_port}"}}
processors:
  batch: {{timeout: 200ms}}
exporters:
  otlp:
    endpoint: "{grpc_sink}"
    tls: {{insecure: true}}
  otlphttp:
    endpoint: "{http_sink}"
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [otlp, otlphttp]}}
    metrics: {{receivers: [otlp], processors: [batch], exporters: [otlp, otlphttp]}}
    logs: {{receivers: [otlp], processors: [batch], exporters: [otlp, otlphttp]}}
  telemetry:
    metrics: {{address: "127.0.0.1:{metrics_port}"}}
"""


@dataclass
class Passthrough:
    collector: CollectorProcess
    grpc_sink: OtlpSink  # behind the collector's otlp (gRPC) exporter
    http_sink: OtlpSink  # behind its otlphttp exporter

    @property
    def sinks(self) -> tuple[OtlpSink, OtlpSink]:
        return (self.grpc_sink, self.http_sink)

    @property
    def grpc_endpoint(self) -> str:
        """The collector's OTLP/gRPC receiver, ``127.0.0.1:port``."""
        return f"127.0.0.1:{self.collector.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """The collector's OTLP/HTTP receiver, ``http://127.0.0.1:port`` (no signal path)."""
        return f"http://127.0.0.1:{self.collector.http_port}"

    def counts(self) -> dict[str, float]:
        """The collector's own counters by item (``spans``, ``metric_points``, ``log_records``):
        ``accepted_<items>``, ``refused_<items>`` (receiver), ``sent_<items>``, ``send_failed_<items>``
        (both exporters summed)."""
        m = self.collector.metrics()
        return {
            f"{what}_{items}": m.get(f"otelcol_{side}_{what}_{items}_total", 0.0)
            for items in ITEMS
            for side, what in _COUNTERS
        }

    def assert_counted(self, before: Mapping[str, float], sent: Mapping[str, int], timeout: float = 30.0) -> None:
        """Since ``before`` (a ``counts()``), the collector accepted exactly ``sent[items]`` of each
        item, refused none, and each of its two exporters sent them all, failing none."""
        expected = dict(before)
        for items, n in sent.items():
            expected[f"accepted_{items}"] += n
            expected[f"sent_{items}"] += 2 * n
        last: dict[str, float] = {}

        def counted() -> bool:
            last.update(self.counts())
            return last == expected

        assert wait_until(counted, timeout, 0.2), {k: (last[k], v) for k, v in expected.items() if last[k] != v}


@contextlib.contextmanager
def passthrough_collector(workdir: str, start_timeout: float = 60.0) -> Iterator[Passthrough]:
    with OtlpSink(http=False) as grpc_sink, OtlpSink(grpc=False) as http_sink:
        collector = CollectorProcess(
            lambda c: PASSTHROUGH_CONFIG.format(
                grpc_port=c.grpc_port,
                http_port=c.http_port,
                metrics_port=c.metrics_port,
                grpc_sink=grpc_sink.grpc_endpoint,
                http_sink=http_sink.http_endpoint,
            ),
            workdir,
        )
        try:
            collector.start(timeout=start_timeout)
            yield Passthrough(collector, grpc_sink, http_sink)
        finally:
            collector.stop()
