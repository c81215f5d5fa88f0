"""Loading a configuration: sources, YAML, merging, ``--set`` and env expansion (Go's ``confmap``).

Config sources are URIs (``file:``/plain path, ``env:VAR``, ``yaml:<inline>``) read by their provider and
merged in order (maps merge, lists are replaced); ``${env:VAR}`` / ``${VAR}`` / ``${env:VAR:-default}`` are
expanded in string values (``$$`` escapes a ``$``); ``--set a.b=c`` overrides win last.  The result is the
resolved mapping ``load_raw`` returns: plain data, not yet validated (``config_validation`` does that).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from typing import Any

import yaml

from .component import ConfigError

__all__ = ["ConfigErrors", "MAX_CONFIG_BYTES", "parse_yaml", "dump_yaml", "expand_env", "load_raw"]

log = logging.getLogger("otel_lite.collector.config")

MAX_CONFIG_BYTES = 16 * 1024 * 1024  # a config file is small; refuse to slurp anything huge


class ConfigErrors(ConfigError):
    """Several configuration errors at once (``errors`` keeps each one with its path)."""

    def __init__(self, errors: list[ConfigError]):
        super().__init__("", "\n".join(str(e) for e in errors))
        self.errors = errors


# ---------------------------------------------------------------------------
# YAML: the 1.2 core schema (like Go's yaml.v3), so `on`/`yes` stay strings and
# "1:30" is not a base-60 integer; duplicate keys are errors.
class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
):
    _Loader.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))


def _construct_int(loader, node):
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hashable_key = key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "unhashable mapping key", key_node.start_mark) from None
        if hashable_key:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=deep))


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # _Loader derives from SafeLoader


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


# ---------------------------------------------------------------------------
# Sources


def _read_source(uri: str) -> Any:
    scheme, sep, rest = uri.partition(":")
    if sep and scheme == "yaml":
        data = parse_yaml(rest)
        return _expand_colon_keys(data)
    if sep and scheme == "env":
        if rest not in os.environ:
            raise ConfigError("", f"config source {uri!r}: environment variable {rest} is not set")
        return parse_yaml(os.environ[rest])
    if sep and scheme in ("http", "https"):
        raise ConfigError("", f"config source {uri!r}: http(s) config sources are not supported")
    path = rest if (sep and scheme == "file") else uri
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError("", f"cannot read config file {path!r}: {e.strerror or e}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError("", f"config file {path!r} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return parse_yaml(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError("", f"config file {path!r} is not UTF-8: {e}") from None


def _expand_colon_keys(data: Any) -> Any:
    """``yaml:processors::batch::timeout: 2s`` → nested maps (the Go yaml provider's shorthand)."""
    if not isinstance(data, dict):
        return data
    out: dict = {}
    for key, value in data.items():
        value = _expand_colon_keys(value)
        if isinstance(key, str) and "::" in key:
            parts = key.split("::")
            for part in reversed(parts[1:]):
                value = {part: value}
            key = parts[0]
        out[key] = _merge(out.get(key), value) if key in out else value
    return out


def _merge(base: Any, over: Any) -> Any:
    """Maps merge recursively; anything else (lists included) is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
        return merged
    return over


def _apply_set(data: dict, assignment: str) -> dict:
    key, sep, value_text = assignment.partition("=")
    if not sep or not key:
        raise ConfigError("", f"--set {assignment!r}: expected key.path=value")
    parts = key.split("::") if "::" in key else key.split(".")
    if any(not p for p in parts):
        raise ConfigError("", f"--set {assignment!r}: empty key in path")
    try:
        value = parse_yaml(value_text)
    except yaml.YAMLError:
        value = value_text
    for part in reversed(parts):
        value = {part: value}
    return _merge(data, value)


# ---------------------------------------------------------------------------
# Env expansion

_REF_RE = re.compile(r"\$\$|\$\{([^}]*)\}")
_ENV_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _resolve_ref(inner: str, path: str, env) -> str:
    body = inner[4:] if inner.startswith("env:") else inner
    name, sep, default = body.partition(":-")
    if not _ENV_NAME_RE.match(name):
        if ":" in inner and not inner.startswith("env:"):
            raise ConfigError(path, f"unsupported config provider in ${{{inner}}} (only env: is supported)")
        raise ConfigError(path, f"invalid environment variable reference ${{{inner}}}")
    value = env.get(name)
    if value is None:  # unset: the default, else empty with a warning (as the Go collector does)
        if not sep:
            log.warning("%s: environment variable %s is not set; using an empty value", path or "config", name)
        value = default if sep else ""
    return value


def _expand_string(text: str, path: str, env) -> Any:
    if "$" not in text:
        return text
    whole = _REF_RE.fullmatch(text)
    if whole is not None and whole.group(0) != "$$":
        # whole-field substitution: the value is parsed as YAML (so "8" is an int)
        value = _resolve_ref(whole.group(1), path, env)
        if not value.strip():
            return value
        try:
            return parse_yaml(value)
        except yaml.YAMLError:
            return value
    return _REF_RE.sub(lambda m: "$" if m.group(0) == "$$" else _resolve_ref(m.group(1), path, env), text)


def expand_env(data: Any, path: str = "", env=None, errors: list | None = None) -> Any:
    env = os.environ if env is None else env
    if isinstance(data, dict):
        return {k: expand_env(v, f"{path}.{k}" if path else str(k), env, errors) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, f"{path}[{i}]", env, errors) for i, v in enumerate(data)]
    if isinstance(data, str):
        try:
            return _expand_string(data, path, env)
        except ConfigError as e:
            if errors is None:
                raise
            errors.append(e)
            return data
    return data


def load_raw(sources: list[str], overrides: Sequence[str] = (), env=None) -> dict:
    """Read, expand and merge ``sources`` then apply ``--set`` ``overrides``.
    Returns the resolved mapping (what ``print-config`` shows)."""
    merged: Any = {}
    errors: list[ConfigError] = []
    for uri in sources:
        try:
            data = _read_source(uri)
        except yaml.YAMLError as e:
            errors.append(ConfigError("", f"config source {uri!r}: invalid YAML: {e}"))
            continue
        except ConfigError as e:
            errors.append(e)
            continue
        if data is None:
            data = {}
        if not isinstance(data, dict):
            errors.append(ConfigError("", f"config source {uri!r}: top level must be a mapping"))
            continue
        merged = _merge(merged, expand_env(data, "", env, errors))
    for assignment in overrides:
        try:
            merged = _apply_set(merged, assignment)
        except ConfigError as e:
            errors.append(e)
    if errors:
        raise ConfigErrors(errors)
    return merged
