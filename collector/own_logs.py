"""The collector's own log lines: logfmt or JSON, to stderr, stdout or files (``service.telemetry.logs``)."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["setup_logging", "KeyValueFormatter", "JsonFormatter", "SamplingFilter"]

_STD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


class _Formatter(logging.Formatter):
    def __init__(self, initial_fields: dict[str, Any] | None = None, stacktrace: bool = True):
        super().__init__()
        self.initial_fields = dict(initial_fields or {})
        self.stacktrace = stacktrace

    def fields(self, record: logging.LogRecord) -> dict:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **self.initial_fields,
        }
        for key, value in vars(record).items():  # extra={...} fields
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            if self.stacktrace:
                out["error"] = self.formatException(record.exc_info)
            else:
                out["error"] = "".join(logging.Formatter().formatException(record.exc_info).splitlines()[-1:])
        return out


class KeyValueFormatter(_Formatter):
    """``ts=... level=info logger=... msg="..." key=value`` (logfmt)."""

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        for key, value in self.fields(record).items():
            text = str(value)
            if not text or any(c in text for c in ' "=\n\t'):
                text = json.dumps(text)
            parts.append(f"{key}={text}")
        return " ".join(parts)


class JsonFormatter(_Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), default=str)


class SamplingFilter(logging.Filter):
    """zap's sampler: in each ``tick`` seconds, a message (its level and unformatted text) is logged the
    first ``initial`` times, then every ``thereafter``-th time (0: never again in that tick)."""

    def __init__(self, tick: float, initial: int, thereafter: int):
        super().__init__()
        self.tick, self.initial, self.thereafter = tick, initial, thereafter
        self._counts: dict[tuple[int, str], int] = {}
        self._window = time.monotonic()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        key = (record.levelno, str(record.msg))
        with self._lock:
            if now - self._window >= self.tick:
                self._counts.clear()
                self._window = now
            n = self._counts.get(key, 0) + 1
            self._counts[key] = n
        if n <= self.initial:
            return True
        return self.thereafter > 0 and (n - self.initial) % self.thereafter == 0


def _handler(path: str, stream) -> logging.Handler:
    if stream is not None:
        return logging.StreamHandler(stream)
    if path in ("stderr", "stdout"):
        return logging.StreamHandler(getattr(sys, path))
    return logging.FileHandler(path, encoding="utf-8")  # appends, as zap opens its output paths


def setup_logging(
    level: str = "info",
    encoding: str = "console",
    stream=None,
    *,
    output_paths: Sequence[str] = ("stderr",),
    initial_fields: dict[str, Any] | None = None,
    disable_stacktrace: bool = False,
    sampling: tuple[float, int, int] | None = None,
) -> None:
    """Structured logs for the ``otel_lite`` loggers (and uvicorn's errors) on each of ``output_paths``
    (``stream``, when given, replaces them); ``sampling`` = (tick seconds, initial, thereafter)."""
    formatter_class = JsonFormatter if encoding == "json" else KeyValueFormatter
    formatter = formatter_class(initial_fields, stacktrace=not disable_stacktrace)
    handlers = [_handler(path, stream) for path in ([""] if stream is not None else output_paths)]
    for handler in handlers:
        handler.setFormatter(formatter)
        if sampling is not None:
            handler.addFilter(SamplingFilter(*sampling))
    for name in ("otel_lite", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.propagate = False
        logger.setLevel(_LEVELS.get(level.lower(), logging.INFO))
    logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, _LEVELS.get(level.lower(), logging.INFO)))


def setup_from_config(logs: Any) -> None:
    """``setup_logging`` from a ``LogsTelemetryConfig``."""
    sampling = logs.sampling
    setup_logging(
        logs.level,
        logs.encoding,
        output_paths=logs.output_paths,
        initial_fields=logs.initial_fields,
        disable_stacktrace=logs.disable_stacktrace,
        sampling=(sampling.tick, sampling.initial, sampling.thereafter) if sampling.enabled else None,
    )
