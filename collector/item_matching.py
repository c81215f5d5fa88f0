"""Which spans, log records and metrics a processor acts on: Go's ``include`` / ``exclude`` match
properties (``filterconfig.MatchProperties``, as the ``attributes`` processor reads them).

An item matches when every property that is set matches: ``services`` (the resource's ``service.name``),
``span_names``, ``span_kinds`` (``SPAN_KIND_SERVER``, ...), ``log_bodies``, ``log_severity_texts``,
``metric_names`` and ``libraries`` (the scope's name, and version when given) match when any entry does;
``attributes`` and ``resources`` when every entry does (the key is there and, when a value is given, equal
under ``strict`` or matched under ``regexp``); ``log_severity_number`` when the record's severity is at
least ``min`` (or unset, with ``match_undefined``).  ``regexp`` patterns match anywhere in the text, as
Go's ``regexp.MatchString``.  An item is acted on when it matches ``include`` (if set) and not ``exclude``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .component import ComponentConfig, ConfigError

__all__ = [
    "MatchProperties",
    "AttributeMatch",
    "SeverityNumberMatch",
    "matcher",
    "attributes_matcher",
    "SPAN_KIND_NAMES",
]

SPAN_KIND_NAMES = (
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
)
_SEVERITIES = {  # the OpenTelemetry log data model's short names, as Go reads log_severity_number.min
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "WARN": 13,
    "ERROR": 17,
    "FATAL": 21,
}
_BY_SIGNAL = {
    "traces": ("services", "span_names", "span_kinds", "attributes", "resources", "libraries"),
    "logs": ("attributes", "resources", "libraries", "log_bodies", "log_severity_texts", "log_severity_number"),
    "metrics": ("metric_names", "resources"),
}
_ALL = ("services", "span_names", "span_kinds", "log_bodies", "log_severity_texts", "metric_names")


@dataclass
class AttributeMatch(ComponentConfig):
    key: str = ""  # the attribute that must be there
    value: Any = None  # and, when given, its value (equal under strict, matched under regexp)

    def validate(self) -> None:
        if not self.key:
            raise ConfigError("key", "must be set")


@dataclass
class LibraryMatch(ComponentConfig):
    name: str = ""  # the instrumentation scope's name
    version: str | None = None  # and, when given, its version


@dataclass
class SeverityNumberMatch(ComponentConfig):
    min: Any = 0  # a number 1-24 or a name (INFO, WARN2, ...)
    match_undefined: bool = False  # a record without a severity matches too

    def validate(self) -> None:
        self.min = _severity(self.min)


@dataclass
class RegexpOptions(ComponentConfig):
    cacheenabled: bool = False  # accepted: patterns are compiled once here
    cachemaxnumentries: int = 0  # accepted


@dataclass
class MatchProperties(ComponentConfig):
    match_type: str = ""  # strict or regexp
    regexp: RegexpOptions | None = None
    services: list[str] = field(default_factory=list)
    span_names: list[str] = field(default_factory=list)
    span_kinds: list[str] = field(default_factory=list)
    log_bodies: list[str] = field(default_factory=list)
    log_severity_texts: list[str] = field(default_factory=list)
    log_severity_number: SeverityNumberMatch | None = None
    metric_names: list[str] = field(default_factory=list)
    attributes: list[AttributeMatch] = field(default_factory=list)
    resources: list[AttributeMatch] = field(default_factory=list)
    libraries: list[LibraryMatch] = field(default_factory=list)

    def validate(self) -> None:
        if self.match_type not in ("strict", "regexp"):
            raise ConfigError("match_type", "must be strict or regexp")
        if self.match_type == "regexp":
            for name in (*_ALL, "attributes", "resources", "libraries"):
                for i, pattern in enumerate(_patterns(self, name)):
                    try:
                        re.compile(pattern)
                    except re.error as e:
                        raise ConfigError(f"{name}[{i}]", f"invalid regular expression: {e}") from None
        if self.match_type == "strict":
            for i, kind in enumerate(self.span_kinds):
                if kind not in SPAN_KIND_NAMES:
                    raise ConfigError(f"span_kinds[{i}]", f"must be one of {', '.join(SPAN_KIND_NAMES)}")

    def check_signal(self, signal: str) -> None:
        """Go's rules: the properties must suit the signal, and at least one must be set."""
        allowed = _BY_SIGNAL[signal]
        for name in (*_ALL, "attributes", "resources", "libraries", "log_severity_number"):
            if _is_set(self, name) and name not in allowed:
                raise ConfigError(name, f"is not a property of {signal} (use {', '.join(allowed)})")
        if not any(_is_set(self, name) for name in allowed):
            raise ConfigError("", f"name at least one of {', '.join(allowed)} to match {signal} by")


def _is_set(props: MatchProperties, name: str) -> bool:
    value = getattr(props, name)
    return value is not None and value != []


def _patterns(props: MatchProperties, name: str) -> list[str]:
    if name in ("attributes", "resources"):
        return [str(a.value) for a in getattr(props, name) if isinstance(a.value, str)]
    if name == "libraries":
        return [x for lib in props.libraries for x in (lib.name, lib.version) if x]
    return list(getattr(props, name))


def _severity(value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError("min", "must be a severity number (1-24) or name (INFO, WARN2, ...)")
    if isinstance(value, int):
        if not 0 <= value <= 24:
            raise ConfigError("min", "must be between 1 and 24")
        return value
    text = str(value).strip().upper()
    m = re.fullmatch(r"(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)([1-4]?)", text)
    if m is None:
        raise ConfigError("min", f"unknown severity {value!r} (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, 1-4 after)")
    return _SEVERITIES[m.group(1)] + (int(m.group(2)) - 1 if m.group(2) else 0)


def _text_matcher(strict: bool, patterns: list[str]) -> Callable[[str], bool]:
    if strict:
        wanted = set(patterns)
        return lambda text: text in wanted
    compiled = [re.compile(p) for p in patterns]
    return lambda text: any(r.search(text) for r in compiled)


def _value_of(any_value) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _equals(want: Any) -> Callable[[Any], bool]:
    return lambda v: v == want and type(v) is type(want)  # 1 is not True, "1" is not 1


def _searches(regex: re.Pattern) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and regex.search(v) is not None


def attributes_matcher(strict: bool, wanted: list[AttributeMatch]) -> Callable[[Any], bool]:
    """Every wanted attribute is in the repeated KeyValue field (and has its value)."""
    checks: list[tuple[str, Callable[[Any], bool] | None]] = []
    for a in wanted:
        if a.value is None:
            checks.append((a.key, None))
        elif strict:
            checks.append((a.key, _equals(a.value)))
        else:
            checks.append((a.key, _searches(re.compile(str(a.value)))))

    def match(attributes) -> bool:
        values = {kv.key: kv.value for kv in attributes}
        for key, check in checks:
            if key not in values:
                return False
            if check is not None and not check(_value_of(values[key])):
                return False
        return True

    return match


def _on_text(get: Callable[[dict], str], match: Callable[[str], bool]) -> Callable[[dict], bool]:
    return lambda item: match(get(item))


def matcher(props: MatchProperties) -> Callable[..., bool]:
    """``match(resource=, scope=, span=, record=, metric=)`` for ``props``: the arguments are OTLP
    messages (a partial view's fields are enough: what the properties read)."""
    strict = props.match_type == "strict"
    tests: list[Callable[[dict], bool]] = []
    if props.services:
        by_name = _text_matcher(strict, props.services)

        def services(item: dict) -> bool:
            for kv in item["resource"].attributes:
                if kv.key == "service.name":
                    return by_name(kv.value.string_value)
            return False

        tests.append(services)
    for name, get in (
        ("span_names", lambda item: item["span"].name),
        ("span_kinds", lambda item: SPAN_KIND_NAMES[item["span"].kind] if item["span"].kind < 6 else ""),
        ("log_bodies", lambda item: item["record"].body.string_value),
        ("log_severity_texts", lambda item: item["record"].severity_text),
        ("metric_names", lambda item: item["metric"].name),
    ):
        if getattr(props, name):
            tests.append(_on_text(get, _text_matcher(strict, getattr(props, name))))
    if props.log_severity_number is not None:
        minimum, undefined = props.log_severity_number.min, props.log_severity_number.match_undefined

        def severity(item: dict) -> bool:
            number = item["record"].severity_number
            return (undefined and number == 0) or number >= minimum

        tests.append(severity)
    if props.attributes:
        item_attributes = attributes_matcher(strict, props.attributes)
        tests.append(lambda item: item_attributes((item["span"] if "span" in item else item["record"]).attributes))
    if props.resources:
        resource_attributes = attributes_matcher(strict, props.resources)
        tests.append(lambda item: resource_attributes(item["resource"].attributes))
    if props.libraries:
        libraries = [
            (_text_matcher(strict, [lib.name]), _text_matcher(strict, [lib.version]) if lib.version else None)
            for lib in props.libraries
        ]

        def library(item: dict) -> bool:
            scope = item["scope"]
            return any(n(scope.name) and (v is None or v(scope.version)) for n, v in libraries)

        tests.append(library)

    def match(**item) -> bool:
        return all(test(item) for test in tests)

    return match
