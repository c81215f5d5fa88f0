"""Memory limiter processor (type ``memory_limiter``).

Like the Go processor: a background task measures memory every
``check_interval``; while usage is above the soft limit (``limit -
spike_limit``) every ``consume`` raises ``RetryableError`` ("data refused due
to high memory usage"), which receivers answer with 503 / UNAVAILABLE so
clients back off and retry.  Above the soft limit it also forces a garbage
collection (rate limited, more often above the hard limit) and hands the freed heap back to the
OS (glibc's ``malloc_trim``), as Go's runtime returns memory after its GC: without that, the RSS
of a process whose backlog drained can stay above the soft limit and the limiter refuse for good.
Python has no Go-style heap figure, so the measured quantity is what the process really holds:
its RSS.

The per-call cost is reading one flag and bumping one counter.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import logging
import os
import time
from dataclasses import dataclass

import psutil

from ..component import Component, ComponentConfig, ConfigError, Duration, Factory
from ..consumer import SIGNALS, Batch, RetryableError, batch_class

__all__ = ["MemoryLimiterConfig", "MemoryLimiterProcessor", "FACTORY", "cgroup_memory_limit", "total_memory_bytes"]

MIB = 1 << 20
ERR_DATA_REFUSED = "data refused due to high memory usage"


@dataclass
class MemoryLimiterConfig(ComponentConfig):
    check_interval: Duration = Duration(0.0)
    limit_mib: int = 0
    spike_limit_mib: int = 0
    limit_percentage: int = 0
    spike_limit_percentage: int = 0
    min_gc_interval_when_soft_limited: Duration = Duration(10.0)
    min_gc_interval_when_hard_limited: Duration = Duration(0.0)

    def validate(self) -> None:
        # same checks (and order) as the Go memorylimiter config
        if self.check_interval <= 0:
            raise ConfigError("check_interval", "checkInterval must be greater than zero")
        for key in ("limit_mib", "spike_limit_mib", "limit_percentage", "spike_limit_percentage"):
            if getattr(self, key) < 0:
                raise ConfigError(key, "must not be negative")
        if self.limit_mib == 0 and self.limit_percentage == 0:
            raise ConfigError("limit_mib", "memAllocLimit or memoryLimitPercentage must be greater than zero")
        if self.limit_mib > 0 and self.spike_limit_mib >= self.limit_mib:
            raise ConfigError("spike_limit_mib", "memSpikeLimit must be smaller than memAllocLimit")
        if self.limit_percentage > 100 or self.spike_limit_percentage > 100:
            key = "limit_percentage" if self.limit_percentage > 100 else "spike_limit_percentage"
            raise ConfigError(key, "memoryLimitPercentage and memorySpikePercentage must be less than 100")
        if self.limit_mib == 0 and self.spike_limit_percentage and self.spike_limit_percentage >= self.limit_percentage:
            raise ConfigError("spike_limit_percentage", "must be smaller than limit_percentage")

    def limits(self, total_memory: int | None = None) -> tuple[int, int]:
        """(hard, soft) limits in bytes."""
        if self.limit_mib > 0:
            hard = self.limit_mib * MIB
            spike = self.spike_limit_mib * MIB if self.spike_limit_mib else hard // 5
        else:
            total = total_memory if total_memory is not None else total_memory_bytes()
            hard = total * self.limit_percentage // 100
            pct = self.spike_limit_percentage if self.spike_limit_percentage else self.limit_percentage // 5
            spike = total * pct // 100
        return hard, hard - spike


def total_memory_bytes(proc: str = "/proc/self") -> int:
    """Physical memory, or the cgroup (container, systemd ``MemoryMax=``) limit when lower."""
    total = psutil.virtual_memory().total
    limit = cgroup_memory_limit(proc)
    return limit if limit is not None and 0 < limit < total else total


# v1 writes "unlimited" as 2^63 rounded down to a page (9223372036854771712): no limit at all
_V1_UNLIMITED = 1 << 62


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def cgroup_memory_limit(proc: str = "/proc/self") -> int | None:
    """The lowest memory limit on the process's cgroup and its ancestors (v2 ``memory.max``, v1
    ``memory.limit_in_bytes``), found as Go's cgroups libraries do: the process's cgroup path
    (``proc``/cgroup) under the controller's mount (``proc``/mountinfo). None when unlimited ("max",
    or v1's page-rounded 2^63) or unknown. Ancestors count because systemd and Kubernetes set the
    limit on the service's or the pod's cgroup, and a process only sees its own as a child of it."""
    mountinfo, cgroups = _read(os.path.join(proc, "mountinfo")), _read(os.path.join(proc, "cgroup"))
    if mountinfo is None or cgroups is None:
        return None
    paths: dict[str, str] = {}  # "v2" / "v1" -> the process's cgroup path
    for line in cgroups.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            paths["v2"] = parts[2]
        elif "memory" in parts[1].split(","):
            paths["v1"] = parts[2]
    limits: list[int] = []
    for line in mountinfo.splitlines():
        # "36 25 0:32 <root> <mount point> <options> [optional fields] - <fstype> <source> <super options>"
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup2" and "v2" in paths:
            version, filename = "v2", "memory.max"
        elif tail[0] == "cgroup" and "memory" in tail[2].split(",") and "v1" in paths:
            version, filename = "v1", "memory.limit_in_bytes"
        else:
            continue
        root, mount_point = fields[3].replace("\\040", " "), fields[4].replace("\\040", " ")
        # in a container the mount's root is the container's own cgroup: the path is relative to it
        inside = paths[version] == root or paths[version].startswith(root.rstrip("/") + "/")
        rel = os.path.relpath(paths[version], root) if inside else "."
        directory = os.path.normpath(os.path.join(mount_point, rel))
        while True:
            text = _read(os.path.join(directory, filename))
            if text is not None and text.strip().isdigit() and int(text) < _V1_UNLIMITED:
                limits.append(int(text))
            if directory == mount_point or len(directory) <= len(mount_point):
                break
            directory = os.path.dirname(directory)
    return min(limits) if limits else None


class MemoryLimiterProcessor(Component):
    def __init__(self, settings, config: MemoryLimiterConfig, next_consumer):
        self._next = next_consumer
        self._interval = float(config.check_interval)
        self.hard_limit, self.soft_limit = config.limits()
        self._gc_soft_interval = float(config.min_gc_interval_when_soft_limited)
        self._gc_hard_interval = float(config.min_gc_interval_when_hard_limited)
        self._last_gc = 0.0
        self._logger: logging.Logger = settings.logger
        self._process = psutil.Process(os.getpid())
        self._task: asyncio.Task | None = None
        self.refusing = False
        self.usage = 0
        label = str(settings.id)
        tel = settings.telemetry
        items = batch_class(settings.signal).items
        self._m_accepted = tel.counter(
            f"otelcol_processor_memory_limiter_accepted_{items}",
            f"Number of {items} successfully pushed into the next component in the pipeline.",
            ["processor"],
        ).labels(label)
        self._m_refused = tel.counter(
            f"otelcol_processor_memory_limiter_refused_{items}",
            f"Number of {items} that were rejected by the memory limiter.",
            ["processor"],
        ).labels(label)

    async def start(self, host) -> None:
        if self._task is None:
            # Go's line: with limit_percentage the operator needs to see what the container limit made of it
            self._logger.info(
                "Memory limiter configured limit_mib=%d spike_limit_mib=%d check_interval=%ss",
                self.hard_limit // MIB,
                (self.hard_limit - self.soft_limit) // MIB,
                self._interval,
            )
            self.check_memory()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                self.check_memory()
            except Exception:  # a failed measurement must not stop the limiter
                self._logger.exception("memory measurement failed")

    def read_usage(self) -> int:
        return self._process.memory_info().rss

    def check_memory(self) -> None:
        usage = self.usage = self.read_usage()
        if usage >= self.soft_limit:
            now = time.monotonic()
            min_gap = self._gc_hard_interval if usage >= self.hard_limit else self._gc_soft_interval
            if now - self._last_gc >= min_gap:
                self._last_gc = now
                gc.collect()
                release_free_memory()
                usage = self.usage = self.read_usage()
        refusing = usage >= self.soft_limit
        if refusing != self.refusing:
            self.refusing = refusing
            if refusing:
                self._logger.warning(
                    "Memory usage is above soft limit. Refusing data. cur_mem_mib=%d soft_limit_mib=%d",
                    usage // MIB,
                    self.soft_limit // MIB,
                )
            else:
                self._logger.info(
                    "Memory usage back within limits. Resuming normal operation. cur_mem_mib=%d", usage // MIB
                )

    async def consume(self, traces: Batch) -> None:
        if self.refusing:
            self._m_refused.inc(traces.item_count)
            raise RetryableError(ERR_DATA_REFUSED)
        self._m_accepted.inc(traces.item_count)
        await self._next.consume(traces)

    async def shutdown(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None (musl, macOS): the C library's own call for giving free heap back."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_memory() -> None:
    """Hand the memory the process freed back to the OS, as Go's runtime does after its GC: glibc keeps
    freed heap for reuse, so after a backlog drained the RSS the limiter reads could stay above the soft
    limit and the limiter refuse for good (what Go's ``runtime.GC`` call there avoids)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _create(settings, config: MemoryLimiterConfig, next_consumer) -> MemoryLimiterProcessor:
    return MemoryLimiterProcessor(settings, config, next_consumer)


FACTORY = Factory(
    kind="processor", type="memory_limiter", config_class=MemoryLimiterConfig, create=_create, signals=SIGNALS
)
