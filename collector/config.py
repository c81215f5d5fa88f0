"""Collector configuration: sources, env expansion, overrides, validation.

Follows the OpenTelemetry Collector's confmap rules: config sources are URIs
(``file:``/plain path, ``env:VAR``, ``yaml:<inline>``) merged in order (maps
merge, lists are replaced), ``${env:VAR}`` / ``${VAR}`` / ``${env:VAR:-default}``
are expanded in string values (``$$`` escapes a ``$``), ``--set a.b=c``
overrides win last.  Validation collects every error with its YAML path so
``validate`` can report them all at once.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import registry
from .component import ComponentConfig, ComponentID, ConfigError, Factory, decode

__all__ = [
    "ConfigErrors",
    "CollectorConfig",
    "ComponentEntry",
    "PipelineConfig",
    "ServiceConfig",
    "TelemetryConfig",
    "load_raw",
    "expand_env",
    "split_endpoint",
    "build_config",
    "load_config",
    "parse_yaml",
    "dump_yaml",
]

log = logging.getLogger("otel_lite.collector.config")

KINDS = {"receivers": "receiver", "processors": "processor", "exporters": "exporter", "extensions": "extension"}
TOP_LEVEL_KEYS = (*KINDS, "service")
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
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     "-+0123456789."),
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
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
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


# ---------------------------------------------------------------------------
# The service section

@dataclass
class PipelineConfig(ComponentConfig):
    receivers: list[str] = field(default_factory=list)
    processors: list[str] = field(default_factory=list)
    exporters: list[str] = field(default_factory=list)


def resolved_ids(ids: list[str]) -> list[ComponentID]:
    """A pipeline's ids for the type checker: strings in the YAML, ``ComponentID`` once ``build_config`` resolved
    them (``_resolve_ids``)."""
    return ids  # type: ignore[return-value]


_METRICS_LEVELS = ("none", "basic", "normal", "detailed")
_LOG_LEVELS = ("debug", "info", "warn", "error")


@dataclass
class MetricsTelemetryConfig(ComponentConfig):
    level: str = "normal"
    address: str = "127.0.0.1:8888"
    # the Go collector's newer form: [{pull: {exporter: {prometheus: {host: ..., port: ...}}}}]
    readers: list[Any] = field(default_factory=list)

    def validate(self) -> None:
        if self.level not in _METRICS_LEVELS:
            raise ConfigError("level", f"must be one of {', '.join(_METRICS_LEVELS)}")
        if self.readers:
            if len(self.readers) != 1:
                raise ConfigError("readers", "only one (Prometheus pull) reader is supported")
            try:
                prom = self.readers[0]["pull"]["exporter"]["prometheus"]
                host, port = prom.get("host", "127.0.0.1"), int(prom["port"])
            except (KeyError, TypeError, ValueError, AttributeError):
                raise ConfigError("readers[0]", "expected pull.exporter.prometheus with host and port") from None
            self.address = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        if self.level != "none":
            split_endpoint(self.address, "address")


@dataclass
class LogsTelemetryConfig(ComponentConfig):
    level: str = "info"
    encoding: str = "console"  # console = key=value lines; json = one JSON object per line

    def validate(self) -> None:
        if self.level.lower() not in _LOG_LEVELS:
            raise ConfigError("level", f"must be one of {', '.join(_LOG_LEVELS)}")
        if self.encoding not in ("console", "json"):
            raise ConfigError("encoding", "must be console or json")


@dataclass
class TelemetryConfig(ComponentConfig):
    metrics: MetricsTelemetryConfig = field(default_factory=MetricsTelemetryConfig)
    logs: LogsTelemetryConfig = field(default_factory=LogsTelemetryConfig)


@dataclass
class ServiceConfig:
    extensions: list[ComponentID] = field(default_factory=list)
    pipelines: dict[str, PipelineConfig] = field(default_factory=dict)  # "traces[/name]" -> pipeline
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)


@dataclass
class ComponentEntry:
    id: ComponentID
    kind: str
    factory: Factory
    config: Any


@dataclass
class CollectorConfig:
    receivers: dict[ComponentID, ComponentEntry] = field(default_factory=dict)
    processors: dict[ComponentID, ComponentEntry] = field(default_factory=dict)
    exporters: dict[ComponentID, ComponentEntry] = field(default_factory=dict)
    extensions: dict[ComponentID, ComponentEntry] = field(default_factory=dict)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    raw: dict = field(default_factory=dict)

    def section(self, kind: str) -> dict[ComponentID, ComponentEntry]:
        return getattr(self, kind + "s")


def split_endpoint(endpoint: str, path: str) -> tuple[str, int]:
    """``host:port`` → (host, port); ``[::1]:port`` accepted; raises ConfigError."""
    host, sep, port = str(endpoint).rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(path, f"invalid endpoint {endpoint!r} (expected host:port)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


Lookup = Callable[[str, str], "Factory | None"]


def _decode_components(raw: Any, section: str, lookup: Lookup, errors: list, defined: set) -> dict:
    kind = KINDS[section]
    out: dict[ComponentID, ComponentEntry] = {}
    if raw is None:
        return out
    if not isinstance(raw, dict):
        errors.append(ConfigError(section, f"expected a mapping, got {type(raw).__name__}"))
        return out
    for key, data in raw.items():
        path = f"{section}.{key}"
        try:
            cid = ComponentID.parse(key, path)
        except ConfigError as e:
            errors.append(e)
            continue
        defined.add(cid)  # referenced ids resolve even when this one has errors (reported once, here)
        try:
            factory = lookup(kind, cid.type)
        except ImportError as e:
            errors.append(ConfigError(path, f"{kind} type {cid.type!r} could not be loaded: {e}"))
            continue
        if factory is None:
            known = ", ".join(registry.available().get(kind, []))
            errors.append(ConfigError(path, f"unknown {kind} type {cid.type!r} (known: {known})"))
            continue
        try:
            config = factory.config_class.from_mapping(data, path)
        except ConfigError as e:
            errors.append(e)
            continue
        out[cid] = ComponentEntry(cid, kind, factory, config)
    return out


def _resolve_ids(ids: list[str], defined: Collection, kind: str, path: str, errors: list) -> list[ComponentID]:
    out: list[ComponentID] = []
    for i, text in enumerate(ids):
        item_path = f"{path}[{i}]"
        try:
            cid = ComponentID.parse(text, item_path)
        except ConfigError as e:
            errors.append(e)
            continue
        if cid in out:
            errors.append(ConfigError(item_path, f"{kind} {text!r} is listed more than once"))
            continue
        if cid not in defined:
            errors.append(ConfigError(item_path, f"references {kind} {text!r} which is not configured "
                                                 f"(add it under {kind}s:)"))
            continue
        out.append(cid)
    return out


def _decode_service(raw: Any, defined: dict[str, set], errors: list) -> ServiceConfig:
    service = ServiceConfig()
    if raw is None:
        errors.append(ConfigError("service", "missing service section (service.pipelines is required)"))
        return service
    if not isinstance(raw, dict):
        errors.append(ConfigError("service", f"expected a mapping, got {type(raw).__name__}"))
        return service
    for key in raw:
        if key not in ("extensions", "pipelines", "telemetry"):
            errors.append(ConfigError(f"service.{key}", "unknown key"))
    ext = raw.get("extensions")
    if ext is not None:
        if not isinstance(ext, list):
            errors.append(ConfigError("service.extensions", "expected a list of extension ids"))
        else:
            service.extensions = _resolve_ids(ext, defined["extensions"], "extension", "service.extensions", errors)
    try:
        service.telemetry = TelemetryConfig.from_mapping(raw.get("telemetry"), "service.telemetry")
    except ConfigError as e:
        errors.append(e)
    pipelines = raw.get("pipelines")
    if not pipelines:
        errors.append(ConfigError("service.pipelines", "at least one pipeline is required"))
        return service
    if not isinstance(pipelines, dict):
        errors.append(ConfigError("service.pipelines", f"expected a mapping, got {type(pipelines).__name__}"))
        return service
    for key, data in pipelines.items():
        path = f"service.pipelines.{key}"
        signal = str(key).partition("/")[0]
        if signal in ("metrics", "logs", "profiles"):
            errors.append(ConfigError(path, f"{signal} pipelines are not supported: "
                                            "only traces pipelines are supported"))
            continue
        try:
            ComponentID.parse(key, path)
        except ConfigError as e:
            errors.append(e)
            continue
        if signal != "traces":
            errors.append(ConfigError(path, f"unknown signal {signal!r}: only traces pipelines are supported"))
            continue
        try:
            pipe = PipelineConfig.from_mapping(data, path)
        except ConfigError as e:
            errors.append(e)
            continue
        pipe.receivers = _resolve_ids(pipe.receivers, defined["receivers"], "receiver", f"{path}.receivers", errors)
        pipe.processors = _resolve_ids(pipe.processors, defined["processors"], "processor", f"{path}.processors",
                                       errors)
        pipe.exporters = _resolve_ids(pipe.exporters, defined["exporters"], "exporter", f"{path}.exporters", errors)
        for kind in ("receivers", "exporters"):
            if not (data or {}).get(kind):
                errors.append(ConfigError(f"{path}.{kind}", f"must have at least one {kind[:-1]}"))
        service.pipelines[str(key)] = pipe
    return service


def build_config(raw: Any, lookup: Lookup | None = None) -> CollectorConfig:
    """Validate a resolved mapping into a ``CollectorConfig``; raises ``ConfigErrors`` with every problem."""
    lookup = lookup or registry.lookup
    errors: list[ConfigError] = []
    cfg = CollectorConfig(raw=raw if isinstance(raw, dict) else {})
    if not isinstance(raw, dict):
        raise ConfigErrors([ConfigError("", "the configuration must be a mapping")])
    for key in raw:
        if key == "connectors":
            errors.append(ConfigError("connectors", "connectors are not supported"))
        elif key not in TOP_LEVEL_KEYS:
            errors.append(ConfigError(str(key), "unknown key (expected one of: " + ", ".join(TOP_LEVEL_KEYS) + ")"))
    defined: dict[str, set] = {section: set() for section in KINDS}
    for section in KINDS:
        setattr(cfg, section, _decode_components(raw.get(section), section, lookup, errors, defined[section]))
    cfg.service = _decode_service(raw.get("service"), defined, errors)
    _check_extension_refs(cfg, defined["extensions"], errors)
    if errors:
        raise ConfigErrors(errors)
    return cfg


def _extension_refs(obj: Any, path: str):
    """(path, id text) of every config field marked ``metadata={"extension": True}`` (e.g. ``auth.authenticator``)."""
    if isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            yield from _extension_refs(item, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for key, item in obj.items():
            yield from _extension_refs(item, f"{path}.{key}")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            sub = f"{path}.{f.metadata.get('key', f.name)}"
            if f.metadata.get("extension") and isinstance(value, str) and value:
                yield sub, value
            else:
                yield from _extension_refs(value, sub)


def _check_extension_refs(cfg: CollectorConfig, defined: set, errors: list) -> None:
    """A component in a pipeline may only name extensions that are configured and in ``service.extensions``."""
    used: set[tuple[str, ComponentID]] = set()
    for pipe in cfg.service.pipelines.values():
        used.update(("receivers", rid) for rid in resolved_ids(pipe.receivers))
        used.update(("processors", pid) for pid in resolved_ids(pipe.processors))
        used.update(("exporters", xid) for xid in resolved_ids(pipe.exporters))
    for section, cid in sorted(used, key=lambda u: (u[0], str(u[1]))):
        entry = cfg.section(KINDS[section]).get(cid)
        if entry is None:
            continue
        for path, text in _extension_refs(entry.config, f"{section}.{cid}"):
            try:
                ref = ComponentID.parse(text, path)
            except ConfigError:
                continue  # reported by the component's own validation
            if ref not in defined:
                errors.append(ConfigError(path, f"references extension {text!r} which is not configured "
                                                "(add it under extensions:)"))
            elif ref not in cfg.service.extensions:
                errors.append(ConfigError(path, f"extension {text!r} is not enabled: add it to service.extensions"))


REDACTED = "[REDACTED]"


def redact_secrets(raw: Any, lookup: Lookup | None = None) -> Any:
    """A copy of a resolved config whose secret values (config fields marked
    ``metadata={"secret": True}``: tokens, exporter headers) read ``[REDACTED]``,
    for ``print-config``.  Components that do not decode are left as they are."""
    import copy

    lookup = lookup or registry.lookup
    out = copy.deepcopy(raw)
    if not isinstance(out, dict):
        return out
    for section, kind in KINDS.items():
        components = out.get(section)
        if not isinstance(components, dict):
            continue
        for key, data in components.items():
            try:
                factory = lookup(kind, ComponentID.parse(key).type)
                if factory is None:
                    continue
                decoded = decode(factory.config_class, data, "")
            except Exception:  # an invalid component: validate reports it; nothing to map secrets from
                continue
            components[key] = _redact(decoded, data)
    return out


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return dict.fromkeys(value, REDACTED)
    if isinstance(value, list):
        return [REDACTED for _ in value]
    return value if value in (None, "") else REDACTED


def _redact(obj: Any, data: Any) -> Any:
    if dataclasses.is_dataclass(obj) and isinstance(data, dict):
        for f in dataclasses.fields(obj):
            key = f.metadata.get("key", f.name)
            if key in data:
                data[key] = _mask(data[key]) if f.metadata.get("secret") else _redact(getattr(obj, f.name), data[key])
    elif isinstance(obj, (list, tuple)) and isinstance(data, list) and len(obj) == len(data):
        for i, item in enumerate(obj):
            data[i] = _redact(item, data[i])
    elif isinstance(obj, dict) and isinstance(data, dict):
        for k, item in obj.items():
            if k in data:
                data[k] = _redact(item, data[k])
    return data


def load_config(sources: list[str], overrides: Sequence[str] = (), env=None,
                lookup: Lookup | None = None) -> CollectorConfig:
    return build_config(load_raw(sources, overrides, env), lookup)
