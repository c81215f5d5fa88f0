"""Rate-limited warnings: a failure that repeats on every span must not flood the logs."""

from __future__ import annotations

import logging
import time


class RateLimitedLog:
    """Logs each kind of problem at most once per ``interval`` seconds."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0):
        self._logger = logger
        self._interval = interval
        self._last: dict = {}

    def __call__(self, kind: str, message: str, *args, exc_info=False) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            return
        self._last[kind] = now
        self._logger.warning(message, *args, exc_info=exc_info)


def apply_log_level(level_name: str | None) -> None:
    """OTEL_LOG_LEVEL (debug, info, warn, error) for otel_lite's own loggers."""
    if not level_name:
        return
    levels = {
        "debug": logging.DEBUG,
        "info": logging.INFO,
        "warn": logging.WARNING,
        "warning": logging.WARNING,
        "error": logging.ERROR,
    }
    level = levels.get(level_name.strip().lower())
    if level is not None:
        logging.getLogger("otel_lite").setLevel(level)
