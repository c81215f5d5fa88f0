"""Small helpers shared by the benchmark scripts: machine calibration,
alternating timed rounds, unit formatting and Markdown tables."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Iterable, Sequence

perf_counter_ns = time.perf_counter_ns


# -- calibration ---------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform's guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def empty_call_ns(calls: int = 1_000_000, repeat: int = 5) -> float:
    """Cost of calling an empty Python function (best of ``repeat``), in ns:
    the unit every other figure here can be compared with across machines."""

    def empty():
        pass

    best = min(timeit.repeat("f()", globals={"f": empty}, number=calls, repeat=repeat))
    return best / calls * 1e9


def calibration_line() -> str:
    try:
        load = f", load average {os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        load = ""
    return (
        f"Machine: {cpu_model()} ({cpu_count()} CPUs{load}), Python {platform.python_version()} "
        f"({sys.implementation.name}), empty function call {empty_call_ns():.0f} ns"
    )


# -- timing --------------------------------------------------------------------

Round = Callable[[int], int]
"""Runs ``n`` operations and returns the elapsed time in ns (it times only
the part that counts)."""


def alternate_rounds(
    rounds: dict[str, Round], n: int, repeats: int, warmup_n: int, between: Callable[[str], None] | None = None
) -> dict[str, list[float]]:
    """Run each contender's round in turn, ``repeats`` times, after one warm-up
    round each; return the per-operation costs (ns) of every timed round.

    ``between(name)`` runs after every round, untimed (flush queues, free
    memory); then ``gc.collect()``, so one round's garbage is not collected
    during the next one's timing.  GC stays enabled inside rounds."""

    def settle(name: str) -> None:
        if between is not None:
            between(name)
        gc.collect()

    for name, run in rounds.items():
        run(warmup_n)
        settle(name)
    costs: dict[str, list[float]] = {name: [] for name in rounds}
    for _ in range(repeats):
        for name, run in rounds.items():
            costs[name].append(run(n) / n)
            settle(name)
    return costs


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """'min–max' of the rounds, to show how noisy a median is."""
    return f"{fmt_time(min(values))}–{fmt_time(max(values))}"


# -- formatting ----------------------------------------------------------------


def fmt_time(ns: float) -> str:
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.2f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e9:.2f} s"


def fmt_bytes(size: float) -> str:
    if abs(size) < 10_000:
        return f"{size:.0f} B"
    if abs(size) < 10_000_000:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024**2:.1f} MiB"


def fmt_rate(per_second: float) -> str:
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f}M/s"
    if per_second >= 1e3:
        return f"{per_second / 1e3:.1f}k/s"
    return f"{per_second:.0f}/s"


def fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.1f}×" if ratio >= 10 else f"{ratio:.2f}×"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
