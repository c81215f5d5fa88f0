"""Component model: ids, config classes, factories, lifecycle.

Modelled on the OpenTelemetry Collector: every component type has a config
class (defaults + ``validate``) and a ``Factory`` keyed by its type name.  A
config class is a dataclass deriving from ``ComponentConfig``; ``decode``
builds it from a YAML mapping, rejecting unknown keys with their path.
"""

from __future__ import annotations

import builtins
import copy
import dataclasses
import difflib
import logging
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ConfigError",
    "ConfigErrors",
    "ComponentID",
    "ComponentConfig",
    "Component",
    "CreateSettings",
    "Factory",
    "Duration",
    "parse_duration",
    "decode",
    "unknown_key",
]


class ConfigError(ValueError):
    """A configuration error; ``path`` is the dotted YAML path of the offending key."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class ConfigErrors(ConfigError):
    """Several configuration errors at once (``errors`` keeps each one with its path; nested
    ``ConfigErrors`` are flattened, so ``validate`` lists every problem once)."""

    errors: list[ConfigError]

    def __init__(self, errors: list[ConfigError]):
        flat: list[ConfigError] = []
        for e in errors:
            flat.extend(e.errors if isinstance(e, ConfigErrors) else [e])
        super().__init__("", "\n".join(str(e) for e in flat))
        self.errors = flat


def raise_collected(errors: list[ConfigError]) -> None:
    """Raise what ``errors`` holds: the one error as itself, several as ``ConfigErrors``."""
    if len(errors) == 1 and not isinstance(errors[0], ConfigErrors):
        raise errors[0]
    if errors:
        raise ConfigErrors(errors)


_ID_RE = re.compile(r"^[a-zA-Z][0-9a-zA-Z_]*(/[^\s/]+)?$")


@dataclass(frozen=True)
class ComponentID:
    type: str
    name: str = ""

    @classmethod
    def parse(cls, text: str, path: str = "") -> ComponentID:
        if not isinstance(text, str) or not _ID_RE.match(text):
            raise ConfigError(path, f"invalid component id {text!r} (expected type[/name])")
        type_, _, name = text.partition("/")
        return cls(type_, name)

    def __str__(self) -> str:
        return f"{self.type}/{self.name}" if self.name else self.type


class Duration(float):
    """Seconds, parsed from Go-style duration strings ("200ms", "5s", "1m30s") or numbers (seconds)."""


_DUR_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any, path: str = "") -> Duration:
    if isinstance(value, bool):
        raise ConfigError(path, f"expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ConfigError(path, "duration must not be negative")
        return Duration(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "0":
            return Duration(0.0)
        pos, total = 0, 0.0
        for m in _DUR_RE.finditer(text):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
            pos = m.end()
        if pos == len(text) and text:
            return Duration(total)
    raise ConfigError(path, f"invalid duration {value!r} (use e.g. 200ms, 5s, 1m)")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def decode(tp: Any, value: Any, path: str) -> Any:
    """Convert a YAML value to the annotated type ``tp`` (dataclasses, lists,
    dicts, optionals, Duration, primitives), raising ConfigError with ``path``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:  # Optional[X]: keep X's error and its precise path
            return decode(non_none[0], value, path)
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return decode(arg, value, path)
            except ConfigError as e:
                errors.append(e.message)
        raise ConfigError(path, "; ".join(errors))
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(path, f"expected a mapping, got {type(value).__name__}")
        return _decode_dataclass(tp, value, path)  # type: ignore[arg-type]  # a dataclass type, not an instance
    if origin in (list, tuple) or tp in (list, tuple):
        if value is None:
            return [] if origin is list or tp is list else ()
        if not isinstance(value, list):
            raise ConfigError(path, f"expected a list, got {type(value).__name__}")
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        items = _decode_each(((f"{path}[{i}]", v) for i, v in enumerate(value)), item_tp)
        return items if (origin is list or tp is list) else tuple(items)
    if origin is dict or tp is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(path, f"expected a mapping, got {type(value).__name__}")
        args = typing.get_args(tp)
        val_tp = args[1] if len(args) == 2 else Any
        decoded = _decode_each(((f"{path}.{k}", v) for k, v in value.items()), val_tp)
        return dict(zip((str(k) for k in value), decoded, strict=True))
    if tp is Duration:
        return parse_duration(value, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(path, f"expected a boolean, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(path, f"expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(path, f"expected an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(path, f"expected a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise ConfigError(path, f"expected a number, got {value!r}") from None
    if tp is str:
        if value is None or isinstance(value, (dict, list)):
            raise ConfigError(path, f"expected a string, got {value!r}")
        return str(value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(path, f"expected {_type_name(tp)}, got {value!r}")


def _decode_each(items, tp: Any) -> list:
    """Decode every ``(path, value)``, collecting the errors of all of them (one bad item must not
    hide the next one's)."""
    out, errors = [], []
    for sub, value in items:
        try:
            out.append(decode(tp, value, sub))
        except ConfigError as e:
            errors.append(e)
    raise_collected(errors)
    return out


def unknown_key(key: Any, known: list[str]) -> str:
    """ "unknown key" with the closest valid key ("did you mean") and the valid ones."""
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.7)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key ({hint}valid keys: {', '.join(known) or 'none'})"


def _decode_dataclass(cls: type, data: dict, path: str):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    # YAML keys may differ from Python names through field metadata {"key": "..."}
    by_key = {f.metadata.get("key", f.name): f for f in fields.values()}
    kwargs = {}
    errors: list[ConfigError] = []
    for key, value in data.items():
        sub = f"{path}.{key}" if path else str(key)
        f = by_key.get(key)
        if f is None:
            errors.append(ConfigError(sub, unknown_key(key, list(by_key))))
            continue
        try:
            kwargs[f.name] = decode(hints[f.name], value, sub)
        except ConfigError as e:
            errors.append(e)
    raise_collected(errors)
    try:
        obj = cls(**kwargs)
    except TypeError as e:
        raise ConfigError(path, str(e)) from None
    return obj


@dataclass
class ComponentConfig:
    """Base of every component config: a dataclass with defaults.

    Subclasses override ``validate`` and raise ``ConfigError`` (path relative to
    the component; the loader prefixes the component's own path).  Nested
    dataclass fields are validated recursively when they define ``validate``.
    """

    def validate(self) -> None:  # pragma: no cover - default accepts everything
        return None

    @classmethod
    def from_mapping(cls, data: Any, path: str = ""):
        try:
            obj = decode(cls, data, path)
        except ConfigError as e:
            # the keys that could be read still get validated, so one misspelt key does not hide the
            # component's other mistakes: decode again without the failing keys, and report both
            errors = e.errors if isinstance(e, ConfigErrors) else [e]
            pruned = _without_paths(data, [x.path for x in errors], path)
            if pruned is not None:
                try:
                    validate_tree(decode(cls, pruned, path), path)
                except ConfigError as again:
                    seen = {x.path for x in errors}
                    more = again.errors if isinstance(again, ConfigErrors) else [again]
                    errors = errors + [x for x in more if x.path not in seen]
            raise_collected(errors)
            raise
        validate_tree(obj, path)
        return obj


_PATH_TOKEN_RE = re.compile(r"\[\d+\]|[^.\[\]]+")


def _without_paths(data: Any, paths: list[str], base: str) -> Any:
    """A copy of ``data`` without the keys at ``paths`` (dotted, under ``base``); a failing list item
    drops its whole list.  None when a path cannot be found (a key with dots in it): no second pass."""
    if not isinstance(data, dict):
        return None
    out = copy.deepcopy(data)
    for path in paths:
        rel = path[len(base) + 1 :] if base and path.startswith(base + ".") else ("" if path == base else path)
        tokens = [t for t in _PATH_TOKEN_RE.findall(rel) if not t.startswith("[")] if rel else []
        if not tokens or rel.startswith("["):
            return None
        node: Any = out
        for token in tokens[:-1]:
            node = node.get(token) if isinstance(node, dict) else None
        if not isinstance(node, dict) or tokens[-1] not in node:
            return None
        del node[tokens[-1]]
    return out


def validate_tree(obj: Any, path: str) -> None:
    """Run ``validate()`` on ``obj`` and every nested dataclass (also inside lists and mappings),
    prefixing error paths.  Every branch is checked and all their errors raised together; a parent's
    own ``validate`` runs only when its children passed (it may rely on them)."""
    errors: list[ConfigError] = []
    _validate_into(obj, path, errors)
    raise_collected(errors)


def _validate_into(obj: Any, path: str, errors: list[ConfigError]) -> None:
    if isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            _validate_into(item, f"{path}[{i}]", errors)
        return
    if isinstance(obj, dict):
        for key, item in obj.items():
            _validate_into(item, f"{path}.{key}" if path else str(key), errors)
        return
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return
    before = len(errors)
    for f in dataclasses.fields(obj):
        _validate_into(getattr(obj, f.name), f"{path}.{f.metadata.get('key', f.name)}" if path else f.name, errors)
    check = getattr(obj, "validate", None)
    if check is None or len(errors) > before:
        return
    try:
        check()
    except ConfigErrors as e:
        errors.extend(ConfigError(".".join(p for p in (path, x.path) if p), x.message) for x in e.errors)
    except ConfigError as e:
        errors.append(ConfigError(".".join(p for p in (path, e.path) if p), e.message))
    except ValueError as e:
        errors.append(ConfigError(path, str(e)))


@dataclass
class CreateSettings:
    """What a factory gets besides the config: the component's id, a logger, the
    collector's telemetry (see ``otel_lite.collector.telemetry``) and the host (lookup of
    extensions by id, e.g. a storage extension)."""

    id: ComponentID
    kind: str  # receiver | processor | exporter | connector | extension
    telemetry: Any
    host: Any = None
    logger: logging.Logger = field(default=None)  # type: ignore[assignment]
    #: the signal of the pipeline a processor or exporter instance serves ("" for receivers and
    #: extensions, which serve every pipeline they are in)
    signal: str = "traces"

    def __post_init__(self):
        if self.logger is None:
            self.logger = logging.getLogger(f"otel_lite.collector.{self.kind}.{self.id}")


class Component:
    """Lifecycle every component has.  ``shutdown`` must be safe without ``start``
    and when called twice."""

    async def start(self, host: Any) -> None:
        return None

    async def shutdown(self) -> None:
        return None


@dataclass(frozen=True)
class Factory:
    """How to make one component type.

    ``create(settings, config, next_consumer)``: for receivers and processors
    ``next_consumer`` is the downstream ``Consumer``; for exporters and
    extensions it is None.  Returns a ``Component`` (receivers/processors/
    exporters also implement ``consume`` where they accept data).

    ``signals`` are the pipelines the type may be in.  A processor or exporter
    is created once per signal it serves (``settings.signal``; exporters once per
    id and signal, as Go's), a receiver once per id: its ``next_consumer`` takes
    every signal its pipelines carry and tells which with ``accepts(signal)``.
    """

    kind: str
    type: str
    config_class: builtins.type[ComponentConfig]  # (``type`` is the field above)
    create: Callable[..., Any]
    stability: str = "beta"
    signals: tuple[str, ...] = ("traces",)
    #: a connector that chooses among the pipelines it feeds gets ``{pipeline name: consumer}`` as its
    #: next consumer instead of one that fans out to all of them
    routes_by_pipeline: bool = False
    #: for a connector: the (exported signal, received signal) pairs it joins; empty: each of
    #: ``signals`` to itself (as ``forward``); ``spanmetrics`` is ``(("traces", "metrics"),)``
    connects: tuple[tuple[str, str], ...] = ()

    def signal_pairs(self) -> tuple[tuple[str, str], ...]:
        return self.connects or tuple((s, s) for s in self.signals)
