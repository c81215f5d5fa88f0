"""``service.telemetry``: the collector's own metrics, logs, traces and resource (Go's ``otelconftelemetry``).

The keys are Go's, so an operator's section loads unchanged.  What each does here:

- ``resource``: the collector's own resource.  ``service.name``, ``service.version`` and ``service.instance.id``
  (a random UUID) are set unless given (``null`` removes one, as in Go).  All of it is the ``target_info``
  series; the attributes the config names are also labels on every series, as Go puts them there.
- ``metrics``: ``level`` and the Prometheus pull ``address`` (or Go's newer ``readers`` shape).
- ``logs``: level, encoding, ``output_paths`` (stderr, stdout or files), ``initial_fields`` on every line,
  ``disable_stacktrace``, zap's ``sampling`` of repeated lines.
- ``traces``: the collector does not trace itself, so ``level`` and ``propagators`` are accepted and
  ``processors`` (an exporter of the collector's own spans) is warned about as doing nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from .component import ComponentConfig, ConfigError, Duration

__all__ = [
    "TelemetryConfig",
    "MetricsTelemetryConfig",
    "LogsTelemetryConfig",
    "LogsSamplingConfig",
    "TracesTelemetryConfig",
    "split_endpoint",
]

log = logging.getLogger("otel_lite.collector.config")

_LEVELS = ("none", "basic", "normal", "detailed")
_LOG_LEVELS = ("debug", "info", "warn", "error")
_STREAMS = ("stderr", "stdout")


def split_endpoint(endpoint: str, path: str) -> tuple[str, int]:
    """``host:port`` → (host, port); ``[::1]:port`` accepted; raises ConfigError."""
    host, sep, port = str(endpoint).rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(path, f"invalid endpoint {endpoint!r} (expected host:port)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


@dataclass
class MetricsTelemetryConfig(ComponentConfig):
    level: str = "normal"  # none turns the /metrics server off
    address: str = "127.0.0.1:8888"  # where Prometheus scrapes /metrics
    # the Go collector's newer form: [{pull: {exporter: {prometheus: {host: ..., port: ...}}}}]
    readers: list[Any] = field(default_factory=list)  # Go's newer form of address: one pull.exporter.prometheus

    def validate(self) -> None:
        if self.level not in _LEVELS:
            raise ConfigError("level", f"must be one of {', '.join(_LEVELS)}")
        if self.readers:
            if len(self.readers) != 1:
                raise ConfigError("readers", "only one (Prometheus pull) reader is supported")
            reader = self.readers[0]
            if isinstance(reader, dict) and "periodic" in reader:
                raise ConfigError(
                    "readers[0].periodic",
                    "pushing the collector's own metrics (OTLP) is not supported: use a pull reader "
                    "(pull.exporter.prometheus) and scrape it",
                )
            try:
                prom = reader["pull"]["exporter"]["prometheus"]
                host, port = prom.get("host", "127.0.0.1"), int(prom["port"])
            except (KeyError, TypeError, ValueError, AttributeError):
                raise ConfigError("readers[0]", "expected pull.exporter.prometheus with host and port") from None
            self.address = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        if self.level != "none":
            split_endpoint(self.address, "address")


@dataclass
class LogsSamplingConfig(ComponentConfig):
    """zap's sampler: per ``tick``, the first ``initial`` lines of a message (by level and text before
    formatting), then every ``thereafter``-th.  Off by default here (Go turns it on): the collector's drop
    lines carry running totals and none should be lost."""

    enabled: bool = False  # Go turns sampling on; here every line is kept unless asked
    tick: Duration = Duration(10.0)  # the window the counts start again in
    initial: int = 10  # lines of one message logged per tick before sampling
    thereafter: int = 100  # then every n-th (0: no more that tick)

    def validate(self) -> None:
        if self.tick <= 0:
            raise ConfigError("tick", "must be positive")
        if self.initial < 0 or self.thereafter < 0:
            raise ConfigError("initial", "initial and thereafter must not be negative")


@dataclass
class LogsTelemetryConfig(ComponentConfig):
    level: str = "info"  # debug, info, warn or error
    encoding: str = "console"  # console = key=value lines; json = one JSON object per line
    output_paths: list[str] = field(default_factory=lambda: ["stderr"])  # stderr, stdout or a file path
    error_output_paths: list[str] = field(default_factory=lambda: ["stderr"])  # accepted (zap's own errors)
    initial_fields: dict[str, Any] = field(default_factory=dict)  # added to every line
    disable_stacktrace: bool = False  # the exception's one line only, no traceback
    disable_caller: bool = False  # accepted: the lines name their logger, not a source line
    development: bool = False  # accepted: zap's development mode has no equivalent here
    sampling: LogsSamplingConfig = field(default_factory=LogsSamplingConfig)  # zap's sampler of repeated lines
    processors: list[Any] = field(default_factory=list)  # Go's export of its own logs: not supported

    def validate(self) -> None:
        if self.level.lower() not in _LOG_LEVELS:
            raise ConfigError("level", f"must be one of {', '.join(_LOG_LEVELS)}")
        if self.encoding not in ("console", "json"):
            raise ConfigError("encoding", "must be console or json")
        if not self.output_paths:
            raise ConfigError("output_paths", "must name at least one of stderr, stdout or a file")
        for i, path in enumerate(self.output_paths):
            if path not in _STREAMS and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                raise ConfigError(f"output_paths[{i}]", f"the directory of {path!r} does not exist")
        if self.processors:
            raise ConfigError(
                "processors",
                "exporting the collector's own logs (OTLP) is not supported: they go to output_paths; "
                "collect that file or stream instead",
            )


@dataclass
class TracesTelemetryConfig(ComponentConfig):
    level: str = "none"  # accepted: the collector does not trace itself
    propagators: list[str] = field(default_factory=list)  # accepted, no effect
    processors: list[Any] = field(default_factory=list)  # accepted with a warning that nothing is exported

    def validate(self) -> None:
        if self.level not in _LEVELS:
            raise ConfigError("level", f"must be one of {', '.join(_LEVELS)}")
        if self.processors and self.level != "none":
            log.warning(
                "service.telemetry.traces: otel-lite-collector does not trace itself; its processors are ignored",
                extra={"config_path": "service.telemetry.traces.processors"},
            )


@dataclass
class TelemetryConfig(ComponentConfig):
    metrics: MetricsTelemetryConfig = field(default_factory=MetricsTelemetryConfig)  # Prometheus /metrics
    logs: LogsTelemetryConfig = field(default_factory=LogsTelemetryConfig)  # the collector's log lines
    traces: TracesTelemetryConfig = field(default_factory=TracesTelemetryConfig)  # Go's own-traces keys
    resource: dict[str, str | None] = field(
        default_factory=dict
    )  # target_info and labels on every series; null removes a default

    def validate(self) -> None:
        for key in self.resource:
            if not key:
                raise ConfigError("resource", "an attribute name must not be empty")
