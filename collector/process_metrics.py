"""The collector's process metrics, with the Go Collector's names (``service/internal/proctelemetry``).

Scraped as the Go Collector's default Prometheus reader exposes them (no unit suffix, ``_total`` on sums):

=============================================  =======  ============================================
``otelcol_process_uptime_total``               counter  seconds since the collector was set up
``otelcol_process_cpu_seconds_total``          counter  user + system CPU seconds of the process
``otelcol_process_memory_rss``                 gauge    resident set size, bytes
=============================================  =======  ============================================

Left out, because CPython has no honest equivalent of Go's ``runtime.MemStats`` fields:
``otelcol_process_runtime_heap_alloc_bytes`` (HeapAlloc: bytes of live heap objects; CPython counts
allocated *blocks* (``sys.getallocatedblocks``), and only ``tracemalloc``, far too costly to leave on,
knows their bytes), ``otelcol_process_runtime_total_alloc_bytes`` (TotalAlloc: cumulative bytes ever
allocated; CPython keeps no such counter) and ``otelcol_process_runtime_total_sys_memory_bytes`` (Sys:
what the Go runtime reserved from the OS; the closest Python number, VmSize, counts every mapping of
the process, shared libraries included, and would mislead a dashboard built for Go's value).

The values are read at scrape time (a custom collector): nothing runs between scrapes.
"""

from __future__ import annotations

import os
import resource
import time
import weakref
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["register_process_metrics"]

_registered: weakref.WeakSet[CollectorRegistry] = weakref.WeakSet()


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads), seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _statm_rss() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


def _psutil_rss() -> int | None:
    try:
        import psutil  # the collector extra has it; off Linux there is no /proc/self/statm
    except ImportError:
        return None
    try:
        return psutil.Process().memory_info().rss
    except Exception:
        return None


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_rss_reader: Callable[[], int | None] = _statm_rss if os.path.exists("/proc/self/statm") else _psutil_rss


def memory_rss() -> int | None:
    """Resident set size of this process, bytes (None when it cannot be read)."""
    return _rss_reader()


class _ProcessCollector:
    def __init__(self, start: float):
        self._start = start  # time.monotonic() when the metrics were set up (as Go: the service's creation)

    def collect(self) -> Iterator[Metric]:
        # CounterMetricFamily adds the "_total" of the sample names; the family names are Go's
        yield CounterMetricFamily("otelcol_process_uptime", "Uptime of the process", time.monotonic() - self._start)
        yield CounterMetricFamily(
            "otelcol_process_cpu_seconds", "Total CPU user and system time in seconds", cpu_seconds()
        )
        rss = memory_rss()
        if rss is not None:
            yield GaugeMetricFamily("otelcol_process_memory_rss", "Total physical memory (resident set size)", rss)

    describe = collect  # the registry learns the names (and refuses duplicates) at register time


def register_process_metrics(registry: CollectorRegistry) -> None:
    """Add the process metrics to ``registry`` (once: a second call for the same registry does nothing)."""
    if registry in _registered:
        return
    registry.register(_ProcessCollector(time.monotonic()))
    _registered.add(registry)
