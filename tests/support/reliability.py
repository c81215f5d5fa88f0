"""A harness for the collector's overload, outage and crash scenarios, shared by
``tests/collector/test_reliability.py`` and ``benchmarks/reliability_report.py``.

- ``Backend``: an OTLP/gRPC backend in this process that counts every span id
  it receives (so duplicates are visible); it can be slowed, blocked (requests
  hang until released) or taken down and brought back on the same port.
- ``pipeline_config``: the collector's config for these scenarios, for a
  ``CollectorProcess`` (``tests/support/collector_process.py``, re-exported here).
- ``Ledger`` + ``send_request`` + ``LoadGenerator``: raw OTLP requests over a
  real gRPC or HTTP client, every span with a unique id (a sequence number in
  ``span_id``), and per request what the client was told: acknowledged,
  refused (the collector answered with a retryable status) or failed (no
  answer: connection refused, reset, timeout).

Every piece takes a ``signal`` (traces by default; metrics and logs run the same scenarios):
the unique id is a span's ``span_id``, a log record's ``span_id`` or a sum data point's
``as_int``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent import futures

import grpc
import requests
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.collector_process import REPO, CollectorProcess, free_port, wait_until

__all__ = [
    "REPO",
    "Backend",
    "CollectorProcess",
    "GrpcClient",
    "HttpClient",
    "Ledger",
    "LoadGenerator",
    "free_port",
    "pipeline_config",
    "send_request",
    "wait_until",
]

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
SERVICES = {
    "traces": SERVICE,
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}


def _ids_of(signal: str, raw: bytes) -> list[int]:
    """The unique ids in one export request of ``signal`` (see ``build_request``)."""
    if signal == "traces":
        msg = ExportTraceServiceRequest.FromString(raw)
        spans = (s for rs in msg.resource_spans for ss in rs.scope_spans for s in ss.spans)
        return [int.from_bytes(s.span_id, "big") for s in spans]
    if signal == "logs":
        logs = ExportLogsServiceRequest.FromString(raw)
        records = (r for rl in logs.resource_logs for sl in rl.scope_logs for r in sl.log_records)
        return [int.from_bytes(r.span_id, "big") for r in records]
    metrics = ExportMetricsServiceRequest.FromString(raw)
    return [
        p.as_int
        for rm in metrics.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.sum.data_points
    ]


# ---------------------------------------------------------------------------
# The backend


class Backend:
    """OTLP/gRPC trace backend counting span ids.  ``delay`` slows every
    request; ``block()`` makes requests wait until ``release()``; ``down()`` /
    ``up()`` close and reopen the listening port (connection refused meanwhile)."""

    def __init__(
        self,
        delay: float = 0.0,
        workers: int = 4,
        host: str = "127.0.0.1",
        port: int | None = None,
        signal: str = "traces",
    ):
        self.signal = signal
        self.delay = delay
        self.workers = workers
        self.port = port or free_port()
        self.endpoint = f"{host}:{self.port}"
        self.counts: Counter = Counter()  # span id (int) -> times received
        self.requests = 0
        self.waiting = 0  # requests held by block()
        self.discard = False  # True: answer UNAVAILABLE without recording anything
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._server = None
        self.up()

    def _export(self, raw: bytes, context) -> bytes:
        if not self._open.is_set():
            with self._lock:
                self.waiting += 1
            self._open.wait()
            with self._lock:
                self.waiting -= 1
        if self.delay:
            time.sleep(self.delay)
        if self.discard:
            context.abort(grpc.StatusCode.UNAVAILABLE, "backend discards everything")
        ids = _ids_of(self.signal, raw)
        with self._lock:
            self.counts.update(ids)
            self.requests += 1
        return b""

    def up(self) -> None:
        if self._server is not None:
            return
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.workers),
            options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.so_reuseport", 1)],
        )
        handler = grpc.method_handlers_generic_handler(
            SERVICES[self.signal], {"Export": grpc.unary_unary_rpc_method_handler(self._export)}
        )
        server.add_generic_rpc_handlers((handler,))
        deadline = time.monotonic() + 10
        while not server.add_insecure_port(self.endpoint):  # the old socket may linger briefly
            if time.monotonic() > deadline:
                raise OSError(f"backend cannot listen on {self.endpoint}")
            time.sleep(0.05)
        server.start()
        self._server = server

    def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            self._open.set()  # blocked handlers finish (their callers see the connection go)
            server.stop(grace=None).wait(10)

    def block(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def close(self) -> None:
        self.down()

    # -- reading ---------------------------------------------------------------
    def snapshot(self) -> Counter:
        with self._lock:
            return Counter(self.counts)

    def unique(self) -> int:
        with self._lock:
            return len(self.counts)

    def has_all(self, ids) -> bool:
        with self._lock:
            counts = self.counts
            return all(i in counts for i in ids)

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------
# The collector subprocess

PIPELINE_CONFIG = """\
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{http_port}"}}
processors:
  memory_limiter: {{check_interval: 50ms, limit_mib: {limit_mib}, spike_limit_mib: {spike_mib}}}
  batch: {{timeout: {batch_timeout}, send_batch_size: {batch_size}, send_batch_max_size: {batch_size}}}
exporters:
  otlp_grpc:
    endpoint: "{backend}"
    tls: {{insecure: true}}
    compression: none
    timeout: 2s
    retry_on_failure: {{initial_interval: 50ms, max_interval: 500ms, max_elapsed_time: {max_elapsed}}}
    sending_queue: {{num_consumers: {consumers}, queue_size: {queue_size}{storage}}}
extensions:
  file_storage: {{directory: "{storage_dir}", fsync: {fsync}}}
service:
  extensions: [file_storage]
  pipelines:
    {signal}: {{receivers: [otlp], processors: [{processors}], exporters: [otlp_grpc]}}
  telemetry:
    metrics: {{address: "127.0.0.1:{metrics_port}"}}
    logs: {{level: info}}
"""


def pipeline_config(
    backend: str,
    storage_dir: str,
    *,
    persistent: bool = True,
    batch: bool = True,
    memory_limiter: bool = True,
    limit_mib: int = 1024,
    spike_mib: int = 128,
    batch_timeout: str = "200ms",
    batch_size: int = 500,
    queue_size: int = 1000,
    consumers: int = 2,
    max_elapsed: str = "0",
    fsync: bool = False,
    signal: str = "traces",
):
    """``PIPELINE_CONFIG`` with these parameters: the ``config`` of a ``CollectorProcess``, which fills in its ports."""
    processors = (["memory_limiter"] if memory_limiter else []) + (["batch"] if batch else [])
    params = dict(
        backend=backend,
        storage_dir=storage_dir,
        storage=", storage: file_storage" if persistent else "",
        processors=", ".join(processors),
        limit_mib=limit_mib,
        spike_mib=spike_mib,
        batch_timeout=batch_timeout,
        batch_size=batch_size,
        queue_size=queue_size,
        consumers=consumers,
        max_elapsed=max_elapsed,
        fsync="true" if fsync else "false",
        signal=signal,
    )

    def config(c: CollectorProcess) -> str:
        return PIPELINE_CONFIG.format(
            grpc_port=c.grpc_port, http_port=c.http_port, metrics_port=c.metrics_port, **params
        )

    return config


# ---------------------------------------------------------------------------
# Clients


class Ledger:
    """What the clients sent and what they were told, span by span."""

    def __init__(self, first_id: int = 1):
        self._lock = threading.Lock()
        self._next = first_id
        self.acked: set[int] = set()
        self.sent = self.refused = self.failed = self.errors = 0  # spans
        self.requests = 0
        self.statuses: Counter = Counter()  # "grpc UNAVAILABLE", "http 503", ...
        self.retry_after: list[str] = []

    @property
    def next_id(self) -> int:
        """One more than the highest id handed out."""
        return self._next

    def allocate(self, n: int) -> range:
        with self._lock:
            first = self._next
            self._next += n
        return range(first, first + n)

    def record(self, ids: range, outcome: str, status: str, retry_after: str | None = None) -> None:
        with self._lock:
            self.requests += 1
            self.sent += len(ids)
            self.statuses[status] += 1
            if outcome == "ok":
                self.acked.update(ids)
            elif outcome == "refused":
                self.refused += len(ids)
            elif outcome == "failed":
                self.failed += len(ids)
            else:
                self.errors += len(ids)
            if retry_after is not None:
                self.retry_after.append(retry_after)


_PAD = b"x" * 64


def build_request(ids: range, payload: int = 0, signal: str = "traces") -> bytes:
    """One ExportTraceServiceRequest: a span per id (``span_id`` = the id), 10 spans per trace,
    ``payload`` bytes of attribute value per span; for metrics and logs, ``build_signal_request``."""
    if signal != "traces":
        return build_signal_request(ids, signal)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "reliability"
    ss = rs.scope_spans.add()
    ss.scope.name = "reliability"
    value = (_PAD * (payload // 64 + 1))[:payload] if payload else ""
    now = time.time_ns()
    for i in ids:
        span = ss.spans.add()
        span.trace_id = (i // 10 + 1).to_bytes(16, "big")
        span.span_id = i.to_bytes(8, "big")
        span.name = f"op-{i % 7}"
        span.kind = 2
        span.start_time_unix_nano = now
        span.end_time_unix_nano = now + 1000
        if value:
            a = span.attributes.add()
            a.key, a.value.string_value = "payload", value
    return req.SerializeToString()


def build_signal_request(ids: range, signal: str) -> bytes:
    """A logs request (a record per id, ``span_id`` = the id) or a metrics request (one sum
    metric with a data point per id, ``as_int`` = the id)."""
    now = time.time_ns()
    if signal == "logs":
        logs = ExportLogsServiceRequest()
        rl = logs.resource_logs.add()
        kv = rl.resource.attributes.add()
        kv.key, kv.value.string_value = "service.name", "reliability"
        sl = rl.scope_logs.add()
        for i in ids:
            record = sl.log_records.add(time_unix_nano=now, severity_number=9)
            record.span_id = i.to_bytes(8, "big")
            record.trace_id = (i // 10 + 1).to_bytes(16, "big")
            record.body.string_value = f"record {i}"
        return logs.SerializeToString()
    metrics = ExportMetricsServiceRequest()
    rm = metrics.resource_metrics.add()
    kv = rm.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "reliability"
    metric = rm.scope_metrics.add().metrics.add(name="reliability.ids")
    metric.sum.aggregation_temporality = 1  # delta: every point stands alone
    for i in ids:
        metric.sum.data_points.add(as_int=i, time_unix_nano=now)
    return metrics.SerializeToString()


class GrpcClient:
    def __init__(self, endpoint: str, timeout: float = 5.0, signal: str = "traces"):
        self.channel = grpc.insecure_channel(
            endpoint, options=[("grpc.max_reconnect_backoff_ms", 200), ("grpc.initial_reconnect_backoff_ms", 50)]
        )
        self.signal = signal
        method = f"/{SERVICES[signal]}/Export"
        self.call = self.channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        self.timeout = timeout

    def send(self, body: bytes) -> tuple[str, str, str | None]:
        """(outcome, status, retry hint): outcome ok / refused / failed / error."""
        try:
            self.call(body, timeout=self.timeout)
            return "ok", "grpc OK", None
        except grpc.RpcError as e:
            code = e.code()
            trailers = dict(e.trailing_metadata() or ())
            answered = "grpc-status-details-bin" in trailers  # the collector's receiver always sends details
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED) and answered:
                return "refused", f"grpc {code.name}", None
            if code in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.CANCELLED,
                grpc.StatusCode.UNKNOWN,
                grpc.StatusCode.INTERNAL,
            ):
                return "failed", f"grpc {code.name} (no answer)", None
            return "error", f"grpc {code.name}", None

    def close(self) -> None:
        self.channel.close()


class HttpClient:
    def __init__(self, url: str, timeout: float = 5.0, signal: str = "traces"):
        self.signal = signal
        self.url = url.replace("/v1/traces", f"/v1/{signal}")
        self.session = requests.Session()
        self.timeout = timeout

    def send(self, body: bytes) -> tuple[str, str, str | None]:
        try:
            r = self.session.post(
                self.url, data=body, timeout=self.timeout, headers={"Content-Type": "application/x-protobuf"}
            )
        except requests.RequestException as e:
            return "failed", f"http {type(e).__name__}", None
        if r.status_code == 200:
            return "ok", "http 200", None
        if r.status_code in (429, 503):
            return "refused", f"http {r.status_code}", r.headers.get("Retry-After")
        return "error", f"http {r.status_code}", None

    def close(self) -> None:
        self.session.close()


def send_request(client, ledger: Ledger, spans: int, payload: int = 0) -> str:
    ids = ledger.allocate(spans)
    outcome, status, hint = client.send(build_request(ids, payload, getattr(client, "signal", "traces")))
    ledger.record(ids, outcome, status, hint)
    return outcome


class LoadGenerator:
    """``threads`` client threads (alternating gRPC and HTTP) sending requests of
    ``spans`` spans, paced to ``rate`` spans/s in total (None = as fast as
    answers come), until ``stop()``.  A refused or failed request is not resent
    (its spans count as refused / failed); the thread waits ``backoff`` first."""

    def __init__(
        self,
        collector: CollectorProcess,
        ledger: Ledger,
        *,
        threads: int = 4,
        spans: int = 50,
        rate: float | None = None,
        payload: int = 0,
        backoff: float = 0.02,
        transports=("grpc", "http"),
        signal: str = "traces",
    ):
        self.signal = signal
        self.collector, self.ledger = collector, ledger
        self.spans, self.payload, self.backoff = spans, payload, backoff
        self.interval = None if not rate else spans * threads / rate
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(transports[i % len(transports)],), name=f"load-{i}", daemon=True)
            for i in range(threads)
        ]

    def start(self) -> LoadGenerator:
        for t in self._threads:
            t.start()
        return self

    def _run(self, transport: str) -> None:
        c = self.collector
        if transport == "grpc":
            client: GrpcClient | HttpClient = GrpcClient(c.grpc_endpoint, signal=self.signal)
        else:
            client = HttpClient(c.http_url, signal=self.signal)
        try:
            next_at = time.monotonic()
            while not self._stop.is_set():
                outcome = send_request(client, self.ledger, self.spans, self.payload)
                if outcome != "ok" and self.backoff:
                    self._stop.wait(self.backoff)
                if self.interval:
                    next_at = max(next_at + self.interval, time.monotonic() - self.interval)
                    self._stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            client.close()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)
