"""The plumbing every receiver shares: pipeline error → gRPC / HTTP answer (collector.receivers.errors)
and HTTP body handling (collector.receivers.http_body)."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading

import grpc
import pytest
from google.rpc import status_pb2

from otel_lite.collector.consumer import PermanentError, RetryableError, ThrottledError
from otel_lite.collector.receivers.errors import (
    grpc_failure,
    grpc_status_for,
    http_failure,
    http_status_for,
    status_body,
)
from otel_lite.collector.receivers.http_body import (
    BadRequest,
    BodyTimeout,
    BodyTooLarge,
    TooLarge,
    decode_body,
    read_body,
)
from otel_lite.otlp.responses import RETRY_INFO_TRAILER, STATUS_DETAILS_TRAILER, grpc_retry_delay

C = grpc.StatusCode


@pytest.mark.parametrize(
    "error,code,status",
    [
        (ThrottledError("slow", 1.5), C.RESOURCE_EXHAUSTED, 429),
        (RetryableError("full"), C.UNAVAILABLE, 503),
        (RuntimeError("bug"), C.UNAVAILABLE, 503),  # a plain error is retryable, as in Go
        (PermanentError("no"), C.INTERNAL, 500),
        (PermanentError("bad", grpc_code=C.INVALID_ARGUMENT), C.INVALID_ARGUMENT, 400),
        (PermanentError("bad", grpc_code=3), C.INVALID_ARGUMENT, 400),  # by number
        (PermanentError("who", grpc_code="UNAUTHENTICATED"), C.UNAUTHENTICATED, 401),  # by name
        (PermanentError("gone", grpc_code=C.DEADLINE_EXCEEDED), C.DEADLINE_EXCEEDED, 503),
        (PermanentError("x", grpc_code=C.NOT_FOUND), C.NOT_FOUND, 500),
        (PermanentError("x", grpc_code=C.INVALID_ARGUMENT, http_status=413), C.INVALID_ARGUMENT, 413),
    ],
)
def test_the_mapping(error, code, status):
    assert grpc_status_for(error) == code
    assert http_status_for(error) == status
    failure = http_failure(error)
    assert (failure.status, failure.code, failure.message) == (status, code, str(error))


def test_throttled_answers_carry_the_delay():
    failure = grpc_failure(ThrottledError("slow down", 2.5))
    assert failure.code == C.RESOURCE_EXHAUSTED and failure.message == "slow down"
    assert [k for k, _ in failure.trailing_metadata] == [STATUS_DETAILS_TRAILER, RETRY_INFO_TRAILER]
    assert grpc_retry_delay(failure.trailing_metadata) == 2.5
    assert grpc_retry_delay(failure.trailing_metadata[1:]) == 2.5  # the bare RetryInfo alone
    assert http_failure(ThrottledError("slow down", 2.5)).headers == {"Retry-After": "3"}


def test_other_answers_carry_the_status_only():
    failure = grpc_failure(RuntimeError())
    assert failure.message == "RuntimeError"  # no message: the type's name
    ((key, value),) = failure.trailing_metadata
    status = status_pb2.Status.FromString(value)
    assert key == STATUS_DETAILS_TRAILER and status.code == C.UNAVAILABLE.value[0] and not status.details
    assert http_failure(RetryableError("x")).headers is None


def test_status_body_in_the_request_encoding():
    body, media = status_body(C.UNAVAILABLE, "later", as_json=True)
    assert media == "application/json" and json.loads(body) == {"code": 14, "message": "later"}
    body, media = status_body(C.UNAVAILABLE, "later", as_json=False)
    assert media == "application/x-protobuf" and status_pb2.Status.FromString(body).message == "later"


# -- http_body ---------------------------------------------------------------------------------------


class FakeRequest:
    def __init__(self, chunks, headers=None, pause: float = 0):
        self.headers, self._chunks, self._pause = headers or {}, chunks, pause

    async def stream(self):
        for chunk in self._chunks:
            await asyncio.sleep(self._pause)
            yield chunk


def test_read_body_limits():
    assert asyncio.run(read_body(FakeRequest([b"ab", b"cd"]), 4)) == b"abcd"
    with pytest.raises(BodyTooLarge, match=r"request body too large \(limit 3 bytes\)"):
        asyncio.run(read_body(FakeRequest([b"ab", b"cd"]), 3))
    never = FakeRequest([b"x"] * 1000, {"content-length": "1000"}, pause=10)
    with pytest.raises(BodyTooLarge):  # refused on the declared length, before reading
        asyncio.run(asyncio.wait_for(read_body(never, 10), 1))
    with pytest.raises(BodyTimeout, match=r"within read_timeout \(0.05s\)") as e:
        asyncio.run(read_body(FakeRequest([b"x"] * 10, pause=0.02), 100, timeout=0.05))
    assert e.value.status == 408 and BodyTooLarge.status == 400


def test_decode_body_decompresses_off_the_loop_only_when_needed():
    loop_thread = threading.get_ident()

    def parse(body):
        return body, threading.get_ident() == loop_thread

    assert asyncio.run(decode_body(b"small", "", 100, parse)) == (b"small", True)
    assert asyncio.run(decode_body(b"big", "", 100, parse, offload_bytes=3)) == (b"big", False)
    assert asyncio.run(decode_body(gzip.compress(b"zipped"), "gzip", 100, parse)) == (b"zipped", False)
    with pytest.raises(TooLarge):
        asyncio.run(decode_body(gzip.compress(b"\0" * 1000), "gzip", 100, parse))
    with pytest.raises(BadRequest, match="unsupported Content-Encoding 'gzip'"):
        asyncio.run(decode_body(gzip.compress(b"x"), "gzip", 100, parse, allowed=("",)))
    with pytest.raises(BadRequest, match=r"unsupported Content-Encoding 'x{40}'$"):
        asyncio.run(decode_body(b"x", "x" * 100, 100, parse))
