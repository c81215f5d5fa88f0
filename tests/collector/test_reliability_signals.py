"""Metrics and logs get the traces' guarantees: the reliability scenarios of
``test_reliability.py`` (a real collector process, real clients, a real OTLP backend
counting unique ids) run for the other two signals, with their own metric names.

Ids: a log record's ``span_id``, a sum data point's ``as_int`` (``tests/support/reliability.py``).
"""

from __future__ import annotations

import re

import pytest

from tests.collector.test_reliability import assert_all_acknowledged_delivered, collectors, drained  # noqa: F401
from tests.support.reliability import Backend, Ledger, LoadGenerator, wait_until

pytestmark = pytest.mark.timeout(150)

ITEMS = {"metrics": "metric_points", "logs": "log_records"}


@pytest.fixture(params=["metrics", "logs"])
def signal(request):
    return request.param


@pytest.fixture
def backend(signal):
    b = Backend(signal=signal)
    try:
        yield b
    finally:
        b.close()


def test_kill_9_under_load_loses_nothing_acknowledged(backend, collectors, signal):  # noqa: F811
    """SIGKILL twice under load, data in the batch processor, the persistent queue and in flight;
    every acknowledged point / record arrives after the restarts (duplicates allowed)."""
    backend.delay = 0.02
    c = collectors(backend, persistent=True, batch=True, batch_timeout="200ms", queue_size=5000, signal=signal)
    c.start()
    ledger = Ledger()
    load = LoadGenerator(c, ledger, threads=4, spans=50, rate=2000, backoff=0.05, signal=signal).start()
    try:
        for _ in range(2):
            target = len(ledger.acked) + 600
            assert wait_until(lambda target=target: len(ledger.acked) >= target, 40)
            c.kill9()
            c.start()
        target = len(ledger.acked) + 200
        assert wait_until(lambda: len(ledger.acked) >= target, 40)
    finally:
        load.stop()
    backend.delay = 0.0
    assert_all_acknowledged_delivered(backend, ledger, 60)
    assert c.term() == 0


def test_backend_outage_with_persistent_queue_delivers_everything_acknowledged(backend, collectors, signal):  # noqa: F811
    items = ITEMS[signal]
    c = collectors(backend, persistent=True, batch_timeout="20ms", queue_size=5000, signal=signal)
    c.start()
    ledger = Ledger()
    load = LoadGenerator(c, ledger, threads=2, spans=50, rate=2000, signal=signal).start()
    try:
        assert wait_until(lambda: len(ledger.acked) >= 500, 30)
        backend.down()
        acked_before = len(ledger.acked)
        # acknowledging goes on while the backend is down: the data is on disk
        assert wait_until(lambda: len(ledger.acked) >= acked_before + 800, 30)
        assert c.metric("otelcol_exporter_queue_size") > 0
        backend.up()
        assert wait_until(lambda: len(ledger.acked) >= acked_before + 1200, 30)
    finally:
        load.stop()
    assert_all_acknowledged_delivered(backend, ledger, 60)
    assert wait_until(lambda: drained(c), 30, 0.05)
    m = c.metrics()
    assert m[f"otelcol_exporter_send_failed_{items}_total"] == 0
    assert m[f"otelcol_exporter_sent_{items}_total"] == m[f"otelcol_receiver_accepted_{items}_total"]
    assert c.term() == 0


def test_backend_outage_without_persistent_queue_counts_and_logs_every_drop(backend, collectors, signal):  # noqa: F811
    """Retries give up after 1 s: every drop is counted under the signal's name and logged."""
    items = ITEMS[signal]
    c = collectors(backend, persistent=False, batch_timeout="20ms", queue_size=5000, max_elapsed="1s", signal=signal)
    c.start()
    ledger = Ledger()
    load = LoadGenerator(c, ledger, threads=2, spans=50, rate=2000, signal=signal).start()
    try:
        assert wait_until(lambda: len(ledger.acked) >= 500, 30)
        backend.down()
        assert wait_until(lambda: c.metric(f"otelcol_exporter_send_failed_{items}_total") >= 300, 30)
        backend.up()
        acked = len(ledger.acked)
        assert wait_until(lambda: len(ledger.acked) >= acked + 300, 30)
    finally:
        load.stop()
    assert wait_until(lambda: drained(c), 30, 0.05)
    m = c.metrics()
    failed = m[f"otelcol_exporter_send_failed_{items}_total"]
    assert m[f"otelcol_exporter_sent_{items}_total"] + failed == m[f"otelcol_receiver_accepted_{items}_total"]
    counts = backend.snapshot()
    lost = sum(1 for i in ledger.acked if i not in counts)
    assert 0 < lost <= failed  # every acknowledged item that was lost is a counted drop
    assert c.term() == 0
    logged = sum(int(n) for n in re.findall(r"Exporting failed\. Dropping data\..*?dropped_items=(\d+)", c.log()))
    assert logged == failed
