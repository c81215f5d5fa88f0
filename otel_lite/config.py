"""Reading OTEL_* environment variables by the specification's rules.

An empty value means unset; a value that does not parse is logged once (as a
warning) and ignored, never raised: a bad variable must not crash an
application at import.  Durations and timeouts are integer milliseconds.
Keyword arguments given in code win over the environment; each component
resolves its own settings with these helpers (defaults -> env -> arguments).
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Mapping

_log = logging.getLogger("otel_lite.config")

_warned: set = set()


def _warn_once(name: str, value: str, expected: str) -> None:
    if (name, value) in _warned:
        return
    _warned.add((name, value))
    _log.warning("ignoring invalid value %r of %s: expected %s", value, name, expected)


def env_str(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def first_env_str(*names: str) -> str | None:
    """The first of ``names`` that is set (signal-specific names go first)."""
    for name in names:
        value = env_str(name)
        if value is not None:
            return value
    return None


def env_int(name: str, default: int | None = None, *, minimum: int | None = None) -> int | None:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        _warn_once(name, value, "an integer")
        return default
    if minimum is not None and number < minimum:
        _warn_once(name, value, f"an integer >= {minimum}")
        return default
    return number


def env_bool(name: str, default: bool | None = None) -> bool | None:
    value = env_str(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    _warn_once(name, value, "true or false")
    return default


def parse_key_values(text: str | None, name: str = "") -> dict[str, str]:
    """Parse the spec's ``key1=value1,key2=value2`` lists (headers, resource
    attributes), percent-decoding keys and values; malformed pairs are skipped
    with a warning."""
    result: dict[str, str] = {}
    if not text:
        return result
    for pair in text.split(","):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        key = urllib.parse.unquote(key.strip())
        if not sep or not key:
            _warn_once(name or "key=value list", pair, "key=value")
            continue
        result[key] = urllib.parse.unquote(value.strip())
    return result


def pick(explicit, env_value, default):
    """Argument over environment over default (None means 'not given')."""
    if explicit is not None:
        return explicit
    if env_value is not None:
        return env_value
    return default
