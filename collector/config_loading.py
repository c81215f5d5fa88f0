"""Loading a configuration: sources, YAML, merging, ``--set`` and env expansion (Go's ``confmap``).

Config sources are URIs (``file:``/plain path, ``env:VAR``, ``yaml:<inline>``) read by their provider and
merged in order (maps merge, lists are replaced).  In string values, ``${env:VAR}`` / ``${VAR}`` /
``${env:VAR:-default}``, ``${file:path}`` and ``${yaml:inline}`` are expanded (a whole field becomes the
value parsed as YAML, a mapping included; a provider's value is expanded in turn; ``$$`` escapes a ``$``);
``--set a.b=c`` overrides win last.  The result is the
resolved mapping ``load_raw`` returns: plain data, not yet validated (``config_validation`` does that).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from typing import Any

import yaml

from .component import ConfigError, ConfigErrors

__all__ = ["ConfigErrors", "Locations", "MAX_CONFIG_BYTES", "parse_yaml", "dump_yaml", "expand_env", "load_raw"]

log = logging.getLogger("otel_lite.collector.config")

MAX_CONFIG_BYTES = 16 * 1024 * 1024  # a config file is small; refuse to slurp anything huge


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


class Locations:
    """Where each key of the configuration was written (``source:line``), by its dotted path, so an error
    can name the line: the last source to set a path wins, as in the merge; a path with no line of its own
    (a default, a value a provider brought) is placed at its nearest written ancestor."""

    def __init__(self) -> None:
        self.lines: dict[str, str] = {}

    def of(self, path: str) -> str | None:
        while path:
            found = self.lines.get(path)
            if found is not None:
                return found
            path = path[: path.rindex("[")] if path.endswith("]") else path.rpartition(".")[0]
        return None

    def record(self, node: yaml.Node, path: str, source: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                sub = f"{path}.{key_node.value}" if path else key_node.value
                self.lines[sub] = f"{source}:{key_node.start_mark.line + 1}"
                self.record(value_node, sub, source)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                sub = f"{path}[{i}]"
                self.lines[sub] = f"{source}:{item.start_mark.line + 1}"
                self.record(item, sub, source)


def _parse_located(text: str, source: str, locations: Locations | None) -> Any:
    """``parse_yaml``, recording each key's line in ``locations`` (one parse: the node tree is built
    once and constructed from)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    if locations is not None:
        locations.record(node, "", source)
    return data


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


# ---------------------------------------------------------------------------
# Sources


def _read_source(uri: str, locations: Locations | None = None) -> Any:
    scheme, sep, rest = uri.partition(":")
    if sep and scheme == "yaml":
        data = parse_yaml(rest)
        return _expand_colon_keys(data)
    if sep and scheme == "env":
        if rest not in os.environ:
            raise ConfigError("", f"config source {uri!r}: environment variable {rest} is not set")
        return _parse_located(os.environ[rest], uri, locations)
    if sep and scheme in ("http", "https"):
        raise ConfigError("", f"config source {uri!r}: http(s) config sources are not supported")
    path = rest if (sep and scheme == "file") else uri
    text = _read_text(path, "config file", "")
    return _parse_located(text, path, locations)


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

# ${...} with one level of braces inside: ${yaml:{a: 1}} and ${file:${env:DIR}/x.yaml}
_REF_RE = re.compile(r"\$\$|\$\{((?:[^{}]|\{[^{}]*\})*)\}")
_ENV_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


_PROVIDERS = ("env", "file", "yaml")  # Go's defaults less http(s), which would fetch config at start


def _resolve_ref(inner: str, path: str, env) -> tuple[str, Any]:
    """``${scheme:rest}`` (or ``${VAR}``) → (text, parsed): the text a partial reference puts into its
    string, and the value a whole-field reference becomes (parsed as YAML, as Go's providers do)."""
    if "${" in inner:  # a reference inside the reference (${file:${env:DIR}/x.yaml}) goes first
        inner = str(_REF_RE.sub(lambda m: _resolve_ref(m.group(1), path, env)[0] if m.group(1) else "$", inner))
    scheme, sep, rest = inner.partition(":")
    if not sep or scheme == "env" or _ENV_NAME_RE.match(inner.partition(":-")[0]):
        text = _env_value(rest if (sep and scheme == "env") else inner, inner, path, env)
        return text, _parse_scalar(text)
    if scheme == "file":
        text = _read_text(rest, "file", path)
        return text, _parse_scalar(text)
    if scheme == "yaml":
        try:
            return rest, parse_yaml(rest)
        except yaml.YAMLError as e:
            raise ConfigError(path, f"${{{inner}}}: invalid YAML: {e}") from None
    if scheme in ("http", "https"):
        raise ConfigError(path, f"${{{inner}}}: http(s) config providers are not supported (copy the file locally)")
    raise ConfigError(
        path, f"unsupported config provider {scheme!r} in ${{{inner}}} (supported: {', '.join(_PROVIDERS)})"
    )


def _env_value(body: str, inner: str, path: str, env) -> str:
    name, sep, default = body.partition(":-")
    if not _ENV_NAME_RE.match(name):
        raise ConfigError(path, f"invalid environment variable reference ${{{inner}}}")
    value = env.get(name)
    if value is None:  # unset: the default, else empty with a warning (as the Go collector does)
        if not sep:
            log.warning(
                "%s: environment variable %s is not set; using an empty value",
                path or "config",
                name,
                extra={"config_path": path},
            )
        value = default if sep else ""
    return value


def _read_text(file_path: str, label: str, path: str) -> str:
    try:
        with open(file_path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(path, f"cannot read {label} {file_path!r}: {e.strerror or e}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(path, f"{label} {file_path!r} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(path, f"{label} {file_path!r} is not UTF-8: {e}") from None


def _parse_scalar(value: str) -> Any:
    """A substituted value, whole field: parsed as YAML (so "8" is an int, a file may hold a mapping);
    text that is not valid YAML stays text."""
    if not value.strip():
        return value
    try:
        return parse_yaml(value)
    except yaml.YAMLError:
        return value


_MAX_DEPTH = 10  # a provider's value is expanded in turn (a file naming ${env:...}); a loop stops here


def _expand_string(text: str, path: str, env, depth: int = 0) -> Any:
    if "$" not in text:
        return text
    whole = _REF_RE.fullmatch(text)
    if whole is not None and whole.group(0) != "$$":
        if depth >= _MAX_DEPTH:
            raise ConfigError(path, f"{text}: references nest more than {_MAX_DEPTH} deep (a loop?)")
        value = _resolve_ref(whole.group(1), path, env)[1]
        if whole.group(1).partition(":")[0] in ("file", "yaml"):
            value = expand_env(value, path, env, depth=depth + 1)
        return value

    def partial(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        text, value = _resolve_ref(m.group(1), path, env)
        if isinstance(value, (dict, list)):  # Go: only scalars can be part of a string
            raise ConfigError(path, f"{m.group(0)} is a {type(value).__name__}: it cannot be part of a string")
        if m.group(1).partition(":")[0] not in ("file", "yaml"):
            return text  # an environment variable goes in as it is
        return value if isinstance(value, str) else text.strip()

    return _REF_RE.sub(partial, text)


def expand_env(data: Any, path: str = "", env=None, errors: list | None = None, depth: int = 0) -> Any:
    """Expand every ``${...}`` reference in ``data``'s strings; errors go to ``errors`` when given
    (so every one is reported), else raise."""
    env = os.environ if env is None else env
    if isinstance(data, dict):
        return {k: expand_env(v, f"{path}.{k}" if path else str(k), env, errors, depth) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, f"{path}[{i}]", env, errors, depth) for i, v in enumerate(data)]
    if isinstance(data, str):
        try:
            return _expand_string(data, path, env, depth)
        except ConfigError as e:
            if errors is None:
                raise
            errors.append(e)
            return data
    return data


def load_raw(sources: list[str], overrides: Sequence[str] = (), env=None, locations: Locations | None = None) -> dict:
    """Read, expand and merge ``sources`` then apply ``--set`` ``overrides``.
    Returns the resolved mapping (what ``print-config`` shows); ``locations``, when given, learns the
    line of every key."""
    merged: Any = {}
    errors: list[ConfigError] = []
    for uri in sources:
        try:
            data = _read_source(uri, locations)
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
            if locations is not None:  # the file's line would be the wrong place to look
                key = assignment.partition("=")[0]
                locations.lines[".".join(key.split("::")) if "::" in key else key] = f"--set {assignment}"
        except ConfigError as e:
            errors.append(e)
    if errors:
        raise ConfigErrors(errors)
    return merged
