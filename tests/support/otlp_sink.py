"""An OTLP receiver for tests, built from opentelemetry-proto: traces, metrics and logs.

Listens on free loopback ports over gRPC (``TraceService``, ``MetricsService``,
``LogsService``) and HTTP (protobuf and JSON: ``/v1/metrics`` and ``/v1/logs`` are
metrics and logs, every other path is traces), keeps every request it accepted, by
signal, and can be told to fail or stall, so exporters can be tested against a real
peer.  ``requests`` / ``request_headers`` are the trace requests; ``metrics_requests``
/ ``logs_requests`` (and their ``_headers``) the others.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

ExportTraceServiceRequest = trace_service_pb2.ExportTraceServiceRequest
ExportTraceServiceResponse = trace_service_pb2.ExportTraceServiceResponse
ExportMetricsServiceRequest = metrics_service_pb2.ExportMetricsServiceRequest
ExportMetricsServiceResponse = metrics_service_pb2.ExportMetricsServiceResponse
ExportLogsServiceRequest = logs_service_pb2.ExportLogsServiceRequest
ExportLogsServiceResponse = logs_service_pb2.ExportLogsServiceResponse

SIGNALS = ("traces", "metrics", "logs")
_REQUEST_CLASS = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
# HTTP paths of the other signals; every other path is traces (as this sink always answered)
_HTTP_PATH_SIGNAL = {"/v1/metrics": "metrics", "/v1/logs": "logs"}
# a metric's data fields, each with repeated data_points
_METRIC_DATA_FIELDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")

_HEX_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def otlp_json_to_message(body: bytes, message_class=ExportTraceServiceRequest):
    """Parse OTLP JSON (hex ids: spans, links, log records, exemplars) into a ``message_class``
    (an ``Export*ServiceRequest``; traces by default)."""
    import base64

    data = json.loads(body)

    def fix(obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in _HEX_ID_FIELDS and isinstance(v, str):
                    obj[k] = base64.b64encode(bytes.fromhex(v)).decode()
                else:
                    fix(v)
        elif isinstance(obj, list):
            for v in obj:
                fix(v)

    fix(data)
    return json_format.ParseDict(data, message_class(), ignore_unknown_fields=True)


def any_value(value):
    """An OTLP ``AnyValue`` as Python: str, bool, int, float, bytes, list or dict (None when unset)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind)


def attributes(key_values) -> dict:
    """Repeated ``KeyValue`` (attributes of a resource, span, point, record ...) as a dict."""
    return {kv.key: any_value(kv.value) for kv in key_values}


def metric_data_points(metric) -> list:
    """The data points of one ``Metric``, whichever its type (gauge, sum, histogram, ...)."""
    kind = metric.WhichOneof("data")
    return list(getattr(metric, kind).data_points) if kind in _METRIC_DATA_FIELDS else []


class _Failure:
    __slots__ = ("grpc_code", "http_status", "retry_after")

    def __init__(self, grpc_code, http_status, retry_after):
        self.grpc_code = grpc_code
        self.http_status = http_status
        self.retry_after = retry_after


class OtlpSink:
    def __init__(
        self,
        grpc: bool = True,
        http: bool = True,
        grpc_credentials=None,
        ssl_context=None,
        grpc_port: int = 0,
        http_port: int = 0,
    ):
        """``grpc_credentials`` (``grpc.ServerCredentials``) / ``ssl_context`` (a server
        ``ssl.SSLContext``) serve gRPC / HTTP over TLS (the HTTP endpoint is then ``https://``).
        ``grpc_port`` / ``http_port`` bind that loopback port instead of a free one (0)."""
        self.requests: list[ExportTraceServiceRequest] = []
        self.metrics_requests: list[ExportMetricsServiceRequest] = []
        self.logs_requests: list[ExportLogsServiceRequest] = []
        self.metrics_headers: list[dict] = []
        self.logs_headers: list[dict] = []
        self._grpc_port = grpc_port
        self._http_port = http_port
        self._grpc_credentials = grpc_credentials
        self._ssl_context = ssl_context
        self.request_headers: list[dict] = []
        self.attempts = 0  # every request of every signal, failed ones included
        self.delay = 0.0
        # (rejected items, error_message) to answer successful requests with a partial success
        # (rejected_spans / rejected_data_points / rejected_log_records by signal)
        self.partial_success: tuple[int, str] | None = None
        self._failures: list[_Failure] = []
        self._lock = threading.Condition()
        self._grpc_server = None
        self._http_server = None
        self.grpc_endpoint = None
        self.http_endpoint = None
        if grpc:
            self._start_grpc()
        if http:
            self._start_http()

    # -- behaviour ---------------------------------------------------------
    def fail_next(
        self,
        n: int = 1,
        grpc_code: grpc.StatusCode | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``n`` requests with an error (gRPC ``grpc_code``,
        default UNAVAILABLE; HTTP ``http_status``, default 503).  ``retry_after``
        adds RetryInfo (gRPC) / Retry-After (HTTP)."""
        with self._lock:
            self._failures.extend(
                _Failure(grpc_code or grpc.StatusCode.UNAVAILABLE, http_status or 503, retry_after) for _ in range(n)
            )

    def _next_failure(self) -> _Failure | None:
        with self._lock:
            self.attempts += 1
            return self._failures.pop(0) if self._failures else None

    def _lists(self, signal: str) -> tuple[list, list]:
        if signal == "metrics":
            return self.metrics_requests, self.metrics_headers
        if signal == "logs":
            return self.logs_requests, self.logs_headers
        return self.requests, self.request_headers

    def _record(self, msg, headers: dict, signal: str = "traces") -> None:
        requests, request_headers = self._lists(signal)
        with self._lock:
            requests.append(msg)
            request_headers.append(headers)
            self._lock.notify_all()

    def _response(self, signal: str = "traces"):
        if signal == "metrics":
            response, field = ExportMetricsServiceResponse(), "rejected_data_points"
        elif signal == "logs":
            response, field = ExportLogsServiceResponse(), "rejected_log_records"
        else:
            response, field = ExportTraceServiceResponse(), "rejected_spans"
        if self.partial_success is not None:
            setattr(response.partial_success, field, self.partial_success[0])
            response.partial_success.error_message = self.partial_success[1]
        return response

    # -- reading -----------------------------------------------------------
    def resource_spans(self) -> list:
        with self._lock:
            reqs = list(self.requests)
        return [rs for r in reqs for rs in r.resource_spans]

    def spans(self) -> list:
        with self._lock:
            reqs = list(self.requests)
        return [span for r in reqs for rs in r.resource_spans for ss in rs.scope_spans for span in ss.spans]

    def span_count(self) -> int:
        return len(self.spans())

    def wait_for_spans(self, n: int, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda: self.span_count() >= n, timeout)

    def resource_metrics(self) -> list:
        with self._lock:
            reqs = list(self.metrics_requests)
        return [rm for r in reqs for rm in r.resource_metrics]

    def metrics(self) -> list:
        """Every ``Metric`` received, in arrival order."""
        return [m for rm in self.resource_metrics() for sm in rm.scope_metrics for m in sm.metrics]

    def metric_points(self) -> list:
        """``(resource, scope, metric, point)`` for every data point received, in arrival order."""
        return [
            (rm.resource, sm.scope, m, p)
            for rm in self.resource_metrics()
            for sm in rm.scope_metrics
            for m in sm.metrics
            for p in metric_data_points(m)
        ]

    def point_count(self) -> int:
        return sum(len(metric_data_points(m)) for m in self.metrics())

    def wait_for_points(self, n: int, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda: self.point_count() >= n, timeout)

    def resource_logs(self) -> list:
        with self._lock:
            reqs = list(self.logs_requests)
        return [rl for r in reqs for rl in r.resource_logs]

    def log_records(self) -> list:
        """Every ``LogRecord`` received, in arrival order."""
        return [lr for rl in self.resource_logs() for sl in rl.scope_logs for lr in sl.log_records]

    def log_record_count(self) -> int:
        return len(self.log_records())

    def wait_for_log_records(self, n: int, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda: self.log_record_count() >= n, timeout)

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        """Wait until ``predicate()`` is true (re-checked on every arrival, and every 50 ms)."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._lock:
                self._lock.wait(min(remaining, 0.05))

    def clear(self) -> None:
        with self._lock:
            for signal in SIGNALS:
                for received in self._lists(signal):
                    received.clear()

    # -- gRPC ---------------------------------------------------------------
    def _grpc_export(self, signal: str, request, context):
        if self.delay:
            time.sleep(self.delay)
        failure = self._next_failure()
        if failure is not None:
            status = status_pb2.Status(code=failure.grpc_code.value[0], message="sink told to fail")
            if failure.retry_after is not None:
                info = error_details_pb2.RetryInfo()
                info.retry_delay.FromNanoseconds(int(failure.retry_after * 1e9))
                status.details.add().Pack(info)
            context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
            context.abort(failure.grpc_code, "sink told to fail")
        self._record(request, dict(context.invocation_metadata()), signal)
        return self._response(signal)

    def _start_grpc(self) -> None:
        sink = self

        class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):
                return sink._grpc_export("traces", request, context)

        class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request, context):
                return sink._grpc_export("metrics", request, context)

        class LogsService(logs_service_pb2_grpc.LogsServiceServicer):
            def Export(self, request, context):
                return sink._grpc_export("logs", request, context)

        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8), options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsService(), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsService(), server)
        if self._grpc_credentials is not None:
            port = server.add_secure_port(f"127.0.0.1:{self._grpc_port}", self._grpc_credentials)
        else:
            port = server.add_insecure_port(f"127.0.0.1:{self._grpc_port}")
        server.start()
        self._grpc_server = server
        self.grpc_endpoint = f"127.0.0.1:{port}"

    # -- HTTP ---------------------------------------------------------------
    def _start_http(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _reply(self, code: int, body: bytes, ctype: str, extra: dict | None = None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _read_body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():  # Node.js sends these
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()  # the CRLF after each chunk
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self):
                body = self._read_body()
                if sink.delay:
                    time.sleep(sink.delay)
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                signal = _HTTP_PATH_SIGNAL.get(self.path.split("?")[0].rstrip("/"), "traces")
                request_class = _REQUEST_CLASS[signal]
                failure = sink._next_failure()
                if failure is not None:
                    extra = {}
                    if failure.retry_after is not None:
                        extra["Retry-After"] = str(int(failure.retry_after))
                    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message="sink told to fail")
                    self._reply(failure.http_status, status.SerializeToString(), "application/x-protobuf", extra)
                    return
                try:
                    if self.headers.get("Content-Encoding") == "gzip":
                        body = gzip.decompress(body)
                    elif self.headers.get("Content-Encoding") == "deflate":
                        body = zlib.decompress(body)
                    if ctype == "application/json":
                        msg = otlp_json_to_message(body, request_class)
                    else:
                        msg = request_class.FromString(body)
                except Exception as exc:  # bad body: 400 with a Status
                    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=str(exc))
                    self._reply(400, status.SerializeToString(), "application/x-protobuf")
                    return
                sink._record(msg, {k.lower(): v for k, v in self.headers.items()}, signal)
                response = sink._response(signal)
                if ctype == "application/json":
                    self._reply(200, json_format.MessageToJson(response).encode(), "application/json")
                else:
                    self._reply(200, response.SerializeToString(), "application/x-protobuf")

        server = ThreadingHTTPServer(("127.0.0.1", self._http_port), Handler)
        server.daemon_threads = True
        scheme = "http"
        if self._ssl_context is not None:  # handshake in the handler thread, not in accept()
            server.socket = self._ssl_context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
            scheme = "https"
        # a short poll interval makes close() (server.shutdown) quick
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="otlp-sink-http", daemon=True
        ).start()
        self._http_server = server
        self.http_endpoint = f"{scheme}://127.0.0.1:{server.server_address[1]}"

    # -- lifecycle -----------------------------------------------------------
    def close(self) -> None:
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=None)
            self._grpc_server = None
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
            self._http_server = None

    def __enter__(self) -> OtlpSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
