"""The OTLP retry policy: backoff, server delays, deadline and shutdown abort."""

from __future__ import annotations

import threading
import time

import pytest

from otel_lite.export.retry import (
    Attempt,
    RetryPolicy,
    grpc_code_retryable,
    grpc_retry_delay,
    http_status_retryable,
    parse_retry_after,
    retry_until_deadline,
)


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


@pytest.mark.parametrize(
    "kwargs", [dict(initial_backoff=-1), dict(multiplier=0.5), dict(jitter=1.5), dict(max_attempts=0)]
)
def test_bad_policy_is_rejected(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_the_protocol_rules_are_the_shared_ones():
    """Classification and server delays are otel_lite.otlp's (tested in tests/otlp): the names stay here."""
    from otel_lite import otlp

    assert grpc_code_retryable is otlp.grpc_code_retryable and http_status_retryable is otlp.http_status_retryable
    assert parse_retry_after is otlp.parse_retry_after and grpc_retry_delay is otlp.grpc_retry_delay


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
