"""OTLP trace requests and the raw clients that send them: a small deterministic
``ExportTraceServiceRequest``, a bytes-in / bytes-out gRPC ``Export`` call and an HTTP POST."""

from __future__ import annotations

import grpc
import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def make_request(n_spans: int = 3, name="op") -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    attr = rs.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", "svc-test"
    ss = rs.scope_spans.add()
    ss.scope.name = "test-scope"
    for i in range(n_spans):
        span = ss.spans.add()
        span.trace_id = bytes([1] * 15 + [i + 1])
        span.span_id = bytes([2] * 7 + [i + 1])
        span.name = f"{name}-{i}"
        span.kind = 2
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        span.end_time_unix_nano = 1_700_000_000_000_100_000 + i
        a = span.attributes.add()
        a.key, a.value.int_value = "index", i
    return req


def grpc_export(target: str, payload: bytes, timeout=10):
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(EXPORT_METHOD)  # raw bytes in and out
        return call(payload, timeout=timeout)


def grpc_error(target: str, payload: bytes) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        grpc_export(target, payload)
    return info.value


def post(url, body: bytes, ctype="application/x-protobuf", **headers):
    return requests.post(url, data=body, headers={"Content-Type": ctype, **headers}, timeout=10)
