"""The OTLP retry policy: backoff, server delays, deadline and shutdown abort."""
from __future__ import annotations

import email.utils
import threading
import time

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from otel_lite.export.retry import (Attempt, RetryPolicy, grpc_code_retryable, grpc_retry_delay,
                                    http_status_retryable, parse_retry_after, retry_until_deadline)


def test_backoff_grows_exponentially_within_jitter_and_cap():
    policy = RetryPolicy()
    for n, base in enumerate([1, 2, 4, 8, 16, 32, 32, 32]):
        for _ in range(20):
            delay = policy.backoff(n)
            assert base * 0.8 <= delay <= min(base * 1.2, 32.0)
    assert policy.backoff(10_000) <= 32.0  # no overflow on absurd retry numbers


def test_backoff_without_jitter_is_exact():
    policy = RetryPolicy(initial_backoff=0.5, multiplier=3, max_backoff=10, jitter=0)
    assert [policy.backoff(n) for n in range(4)] == [0.5, 1.5, 4.5, 10]


@pytest.mark.parametrize("kwargs", [dict(initial_backoff=-1), dict(multiplier=0.5), dict(jitter=1.5),
                                    dict(max_attempts=0)])
def test_bad_policy_is_rejected(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize("code, retryable", [
    ("CANCELLED", True), ("DEADLINE_EXCEEDED", True), ("ABORTED", True), ("OUT_OF_RANGE", True),
    ("UNAVAILABLE", True), ("DATA_LOSS", True), ("RESOURCE_EXHAUSTED", False), ("UNKNOWN", False),
    ("INVALID_ARGUMENT", False), ("NOT_FOUND", False), ("ALREADY_EXISTS", False), ("PERMISSION_DENIED", False),
    ("UNAUTHENTICATED", False), ("FAILED_PRECONDITION", False), ("UNIMPLEMENTED", False), ("INTERNAL", False),
])
def test_grpc_retryable_codes(code, retryable):
    assert grpc_code_retryable(grpc.StatusCode[code], False) is retryable


def test_resource_exhausted_is_retryable_only_with_retry_info():
    assert grpc_code_retryable(grpc.StatusCode.RESOURCE_EXHAUSTED, True)
    assert not grpc_code_retryable(grpc.StatusCode.INVALID_ARGUMENT, True)


@pytest.mark.parametrize("status, retryable", [(429, True), (502, True), (503, True), (504, True), (400, False),
                                               (401, False), (404, False), (413, False), (500, False)])
def test_http_retryable_statuses(status, retryable):
    assert http_status_retryable(status) is retryable


def test_parse_retry_after():
    assert parse_retry_after("7") == 7
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("0") == 0
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 25 <= parse_retry_after(date, now=now) <= 31
    assert parse_retry_after(email.utils.formatdate(now - 100, usegmt=True), now=now) == 0  # in the past
    for garbage in (None, "", "soon", "-3", "nan", "inf", "Mon, 99 Foo 2020"):
        assert parse_retry_after(garbage) is None


def _retry_info_status(seconds: float) -> bytes:
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromNanoseconds(int(seconds * 1e9))
    status = status_pb2.Status(code=14, message="slow down")
    status.details.add().Pack(info)
    return status.SerializeToString()


def test_grpc_retry_delay_from_status_details_and_legacy_trailer():
    assert grpc_retry_delay((("grpc-status-details-bin", _retry_info_status(1.25)),)) == 1.25
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromNanoseconds(300_000_000)
    assert grpc_retry_delay((("google.rpc.retryinfo-bin", info.SerializeToString()),)) == pytest.approx(0.3)
    # a status without RetryInfo, a malformed trailer, no trailers: no server delay
    other = status_pb2.Status(code=8)
    other.details.add().Pack(error_details_pb2.DebugInfo(detail="x"))
    assert grpc_retry_delay((("grpc-status-details-bin", other.SerializeToString()),)) is None
    assert grpc_retry_delay((("grpc-status-details-bin", b"\xff\xff\xff"),)) is None
    assert grpc_retry_delay(None) is None
    assert grpc_retry_delay(()) is None


class Sender:
    """A scripted transport: returns the given attempts in order and records when it was called."""

    def __init__(self, *attempts):
        self.attempts = list(attempts)
        self.calls: list[float] = []
        self.seconds_left: list[float] = []

    def __call__(self, seconds_left):
        self.calls.append(time.monotonic())
        self.seconds_left.append(seconds_left)
        return self.attempts.pop(0)


FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)


def test_retries_until_success():
    send = Sender(Attempt(False, retryable=True), Attempt(False, retryable=True), Attempt(True, value="resp"))
    result = retry_until_deadline(send, time.monotonic() + 10, threading.Event(), FAST)
    assert result.ok and result.value == "resp" and result.sends == 3
    assert len(send.calls) == 3
    assert all(0 < left <= 10 for left in send.seconds_left)


def test_final_failure_is_not_retried():
    send = Sender(Attempt(False, retryable=False, reason="bad data"))
    result = retry_until_deadline(send, time.monotonic() + 10, threading.Event(), FAST)
    assert not result.ok and result.reason == "bad data" and len(send.calls) == 1


def test_server_delay_replaces_backoff():
    slow_policy = RetryPolicy(initial_backoff=30)  # would pass the deadline: only the server delay allows a retry
    send = Sender(Attempt(False, retryable=True, server_delay=0.05), Attempt(True))
    result = retry_until_deadline(send, time.monotonic() + 5, threading.Event(), slow_policy)
    assert result.ok
    assert send.calls[1] - send.calls[0] >= 0.045


def test_gives_up_when_the_next_wait_would_pass_the_deadline():
    send = Sender(Attempt(False, retryable=True, reason="unavailable"))
    started = time.monotonic()
    result = retry_until_deadline(send, started + 0.5, threading.Event(), RetryPolicy(initial_backoff=2))
    assert not result.ok and "pass the export deadline" in result.reason
    assert time.monotonic() - started < 0.5  # did not sleep towards the deadline
    assert len(send.calls) == 1


def test_server_delay_past_the_deadline_gives_up_at_once():
    send = Sender(Attempt(False, retryable=True, server_delay=60))
    started = time.monotonic()
    result = retry_until_deadline(send, started + 1, threading.Event(), FAST)
    assert not result.ok and len(send.calls) == 1
    assert time.monotonic() - started < 1


def test_expired_deadline_sends_nothing():
    send = Sender()
    result = retry_until_deadline(send, time.monotonic() - 1, threading.Event(), FAST)
    assert not result.ok and result.kind == "deadline" and not send.calls and result.sends == 0


def test_stop_event_aborts_the_wait():
    stop = threading.Event()
    send = Sender(Attempt(False, retryable=True), Attempt(True))
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    result = retry_until_deadline(send, started + 60, stop, RetryPolicy(initial_backoff=20, jitter=0))
    assert not result.ok and "shut down" in result.reason
    assert time.monotonic() - started < 10  # far less than the 20 s backoff
    assert len(send.calls) == 1


def test_zero_server_delays_are_bounded_by_max_attempts():
    send = Sender(*[Attempt(False, retryable=True, server_delay=0) for _ in range(10)])
    result = retry_until_deadline(send, time.monotonic() + 60, threading.Event(), RetryPolicy(max_attempts=4))
    assert not result.ok and "after 4 attempts" in result.reason and len(send.calls) == 4
