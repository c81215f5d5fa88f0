"""Reliability report: the collector under overload, backend outages, kill -9 and
SIGTERM, end to end, with longer runs than the CI tests
(``tests/collector/test_reliability.py``), printed as a Markdown table.

    python benchmarks/reliability_report.py            # every scenario, a few minutes
    python benchmarks/reliability_report.py --quick    # shorter runs
    python benchmarks/reliability_report.py --only load,kill9-batch

Each scenario runs ``python -m otel_lite.collector`` (otlp receiver -> memory_limiter ->
[batch] -> otlp_grpc exporter with a sending queue, persistent unless noted)
between raw OTLP clients (gRPC and HTTP, alternating threads; every span has a
unique id; a request that is refused or unanswered is not resent) and an
OTLP/gRPC backend in this process that counts every span id it receives.

Columns (spans):
  sent          spans the clients sent
  acknowledged  spans in requests the collector answered with success
  delivered     distinct span ids the backend received
  duplicated    extra copies the backend received (at-least-once delivery)
  refused       spans in requests answered with a retryable error (503 / UNAVAILABLE)
  no answer     spans in requests that got no answer (collector down, connection reset)
  dropped       spans the collector counted and logged as dropped (retries exhausted)
  lost acked    acknowledged spans the backend never received: must be 0 where the
                collector promises delivery, and never more than `dropped`
  peak RSS      the collector's peak resident memory (VmHWM), over all its restarts
  metrics agree whether the collector's otelcol_* counters (single-run scenarios) match
                the clients' view: accepted = acknowledged, receiver refused = refused,
                accepted = exporter sent + send_failed, send_failed = logged drops
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from _common import calibration_line  # noqa: E402

from tests.support.reliability import Backend, CollectorProcess, Ledger, LoadGenerator, pipeline_config, wait_until  # noqa: E402

MIB = 1 << 20
_DROP_LINES = (
    re.compile(r"Dropping data\. error=.*?dropped_items=(\d+)"),
    re.compile(r"dropping (\d+) spans still queued"),
)


class Result:
    def __init__(self, name: str, notes: str = ""):
        self.name, self.notes = name, notes
        self.row: dict = {}


def dropped_in_log(c: CollectorProcess) -> int:
    text = c.log()
    return sum(int(n) for rx in _DROP_LINES for n in rx.findall(text))


def books(c: CollectorProcess, ledgers: list[Ledger], dropped: int) -> str:
    """Do the collector's own counters (one run, queue drained) agree with what the
    clients were told and what was dropped?  received = accepted + refused;
    accepted = sent + dropped.  Returns "yes" or what disagrees."""
    m = c.metrics()
    acked = sum(len(x.acked) for x in ledgers)
    refused = sum(x.refused for x in ledgers)
    unanswered = sum(x.failed + x.errors for x in ledgers)
    accepted = m.get("otelcol_receiver_accepted_spans_total", 0)
    rec_refused = m.get("otelcol_receiver_refused_spans_total", 0)
    sent = m.get("otelcol_exporter_sent_spans_total", 0)
    failed = m.get("otelcol_exporter_send_failed_spans_total", 0)
    problems = []
    if not acked <= accepted <= acked + unanswered:
        problems.append(f"accepted {accepted:.0f} vs acknowledged {acked}")
    if not refused <= rec_refused <= refused + unanswered:
        problems.append(f"refused {rec_refused:.0f} vs told {refused}")
    if sent + failed != accepted:
        problems.append(f"sent {sent:.0f} + failed {failed:.0f} != accepted {accepted:.0f}")
    if failed != dropped:
        problems.append(f"send_failed {failed:.0f} != logged drops {dropped}")
    return "yes" if not problems else "NO: " + "; ".join(problems)


def finish(
    name: str,
    notes: str,
    c: CollectorProcess,
    backend: Backend,
    ledger: Ledger,
    drain_timeout: float = 120.0,
    others: tuple = (),
) -> Result:
    """Wait for the backend to have every acknowledged span and the collector's queue to
    be empty (or the timeout), check the collector's counters when it ran once, stop it
    with SIGTERM and fill the row.  ``others``: more ledgers that sent to this collector."""

    def settled() -> bool:
        if not c.alive():
            return backend.has_all(ledger.acked)
        m = c.metrics()
        empty = m.get("otelcol_exporter_queue_size", 0) == 0 and m.get("otelcol_exporter_in_flight_requests", 0) == 0
        return empty and (backend.has_all(ledger.acked) or m.get("otelcol_exporter_send_failed_spans_total", 0) > 0)

    wait_until(settled, drain_timeout, 0.1)
    agree = "n/a (restarted)"
    if c.alive() and c.starts == 1:
        agree = books(c, [ledger, *others], dropped_in_log(c))
    if c.alive():
        c.term()
    counts = backend.snapshot()
    mine = [n for i, n in counts.items() if i < ledger.next_id]
    lost = sum(1 for i in ledger.acked if i not in counts)
    r = Result(name, notes)
    r.row = {
        "sent": ledger.sent,
        "acknowledged": len(ledger.acked),
        "delivered": len(mine),
        "duplicated": sum(n - 1 for n in mine),
        "refused": ledger.refused,
        "no answer": ledger.failed + ledger.errors,
        "dropped": dropped_in_log(c),
        "lost acked": lost,
        "peak RSS": f"{c.peak_rss / MIB:.0f} MiB",
        "metrics agree": agree,
    }
    return r


def new_collector(backend: Backend, tmp: str, name: str, **params) -> CollectorProcess:
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "storage"))
    return CollectorProcess(pipeline_config(backend.endpoint, os.path.join(d, "storage"), **params), d)


# ---------------------------------------------------------------------------
# Scenarios


def load_2x(tmp: str, seconds: float) -> Result:
    """The backend takes 0.25 s per request and the exporter has 2 consumers:
    the pipeline exports about 2 x 500 / 0.25 = 4000 spans/s.  Measure it with
    an unpaced load, then offer twice the measured rate."""
    with Backend(delay=0.25, workers=4) as backend:
        c = new_collector(backend, tmp, "load", persistent=False, batch_size=500, queue_size=20, consumers=2)
        try:
            c.start()
            probe = Ledger(1 << 40)
            load = LoadGenerator(c, probe, threads=16, spans=100).start()
            time.sleep(2)
            s0, t0 = c.metric("otelcol_exporter_sent_spans_total"), time.monotonic()
            time.sleep(min(5.0, seconds / 3))
            capacity = (c.metric("otelcol_exporter_sent_spans_total") - s0) / (time.monotonic() - t0)
            load.stop()
            wait_until(lambda: backend.has_all(probe.acked), 60, 0.1)
            ledger = Ledger()
            load = LoadGenerator(c, ledger, threads=24, spans=100, rate=2 * capacity, backoff=0.05).start()
            time.sleep(seconds)
            load.stop()
            offered = ledger.sent / seconds
            r = finish(
                "load 2x",
                f"export capacity {capacity:.0f} spans/s, offered {offered:.0f} spans/s; in-memory queue of 20 batches",
                c,
                backend,
                ledger,
                others=(probe,),
            )
            return r
        finally:
            c.stop()


def outage(tmp: str, seconds: float, down: float, persistent: bool) -> Result:
    with Backend() as backend:
        params = dict(persistent=persistent, queue_size=5000 if persistent else 1000)
        if not persistent:
            params["max_elapsed"] = "5s"
        c = new_collector(backend, tmp, f"outage-{persistent}", **params)
        try:
            c.start()
            ledger = Ledger()
            load = LoadGenerator(c, ledger, threads=8, spans=50, rate=2000, backoff=0.05).start()
            before = (seconds - down) / 2
            time.sleep(before)
            backend.down()
            time.sleep(down)
            backend.up()
            up_at = time.monotonic()
            pending = set(ledger.acked)  # acknowledged during the outage or before
            after = max(1.0, seconds - before - down)
            caught_up = wait_until(lambda: backend.has_all(pending), after, 0.05)
            recovery = time.monotonic() - up_at
            time.sleep(max(0.0, seconds - before - down - recovery))
            load.stop()
            kind = (
                "persistent queue, retry without time limit"
                if persistent
                else "in-memory queue of 1000 batches, max_elapsed_time 5s"
            )
            return finish(
                f"backend down {down:.0f}s ({'persistent' if persistent else 'in-memory'})",
                f"{kind}; 2000 spans/s offered; "
                + (
                    f"every span acknowledged during the outage delivered {recovery:.1f} s after the backend came back"
                    if caught_up
                    else "retries give up after 5 s, so what was queued "
                    "during the outage is dropped, counted and logged"
                ),
                c,
                backend,
                ledger,
            )
        finally:
            c.stop()


def kill9(tmp: str, kills: int, batch: bool, rng: random.Random) -> Result:
    with Backend(delay=0.02) as backend:
        c = new_collector(backend, tmp, f"kill9-{batch}", persistent=True, batch=batch, queue_size=5000)
        try:
            c.start()
            ledger = Ledger()
            load = LoadGenerator(c, ledger, threads=8, spans=50, rate=3000, backoff=0.05).start()
            for _ in range(kills):
                time.sleep(rng.uniform(0.5, 3.0))
                c.kill9()
                c.start()
            time.sleep(2)
            load.stop()
            return finish(
                f"kill -9 x{kills} ({'with' if batch else 'without'} batch)",
                "persistent queue; SIGKILL at random moments 0.5-3 s apart, restart at once",
                c,
                backend,
                ledger,
            )
        finally:
            c.stop()


def sigterm(tmp: str, stops: int, persistent: bool) -> Result:
    with Backend(delay=0.01) as backend:
        c = new_collector(backend, tmp, f"term-{persistent}", persistent=persistent, queue_size=5000)
        try:
            c.start()
            ledger = Ledger()
            load = LoadGenerator(c, ledger, threads=8, spans=50, rate=3000, backoff=0.05).start()
            for _ in range(stops):
                time.sleep(2)
                c.term()
                c.start()
            time.sleep(2)
            load.stop()
            return finish(
                f"SIGTERM x{stops} ({'persistent' if persistent else 'in-memory'})",
                "stop under load and restart",
                c,
                backend,
                ledger,
            )
        finally:
            c.stop()


def memory_limit(tmp: str, seconds: float) -> Result:
    with Backend() as backend:
        backend.block()
        c = new_collector(
            backend,
            tmp,
            "memory",
            persistent=False,
            batch_timeout="10ms",
            limit_mib=200,
            spike_mib=40,
            queue_size=100000,
            consumers=1,
        )
        try:
            c.start()
            ledger = Ledger()
            load = LoadGenerator(c, ledger, threads=8, spans=50, payload=4096, backoff=0.05).start()
            time.sleep(seconds)
            load.stop()
            refused = c.metric("otelcol_processor_memory_limiter_refused_spans_total")
            backend.release()
            return finish(
                "memory limiter, backend stalled",
                f"limit_mib 200, spike 40; 4 KiB per span; unbounded queue; the limiter refused {refused:.0f} spans",
                c,
                backend,
                ledger,
            )
        finally:
            c.stop()


# ---------------------------------------------------------------------------

COLUMNS = (
    "sent",
    "acknowledged",
    "delivered",
    "duplicated",
    "refused",
    "no answer",
    "dropped",
    "lost acked",
    "peak RSS",
    "metrics agree",
)


def table(results: list[Result]) -> str:
    lines = ["| scenario | " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for r in results:
        cells = [f"{r.row[k]:,}" if isinstance(r.row[k], int) else str(r.row[k]) for k in COLUMNS]
        lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    lines.append("")
    for r in results:
        if r.notes:
            lines.append(f"- {r.name}: {r.notes}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    ap.add_argument("--only", default="", help="comma-separated: load,outage,kill9,sigterm,memory")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    q = args.quick
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    only = set(filter(None, args.only.split(",")))
    print(calibration_line())
    print(f"seed {seed}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="otel-lite-reliability-") as tmp:
        plan = [
            ("load", lambda: load_2x(tmp, 10 if q else 30)),
            ("outage", lambda: outage(tmp, 12 if q else 40, 5 if q else 20, True)),
            ("outage", lambda: outage(tmp, 12 if q else 40, 5 if q else 20, False)),
            ("kill9", lambda: kill9(tmp, 3 if q else 10, True, rng)),
            ("kill9", lambda: kill9(tmp, 3 if q else 10, False, rng)),
            ("sigterm", lambda: sigterm(tmp, 1 if q else 3, True)),
            ("sigterm", lambda: sigterm(tmp, 1 if q else 3, False)),
            ("memory", lambda: memory_limit(tmp, 5 if q else 15)),
        ]
        for key, run in plan:
            if only and key not in only:
                continue
            t0 = time.monotonic()
            r = run()
            print(f"  {r.name}: {r.row} ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
            results.append(r)
    print()
    print(table(results))
    bad = [r.name for r in results if r.row["lost acked"] > r.row["dropped"]]
    if bad:
        print(f"\nACKNOWLEDGED SPANS LOST WITHOUT BEING COUNTED: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
