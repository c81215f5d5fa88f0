"""Actions on a list of OTLP attributes, as the Go Collector's ``attraction`` (shared by its ``resource``
and ``attributes`` processors): ``insert``, ``update``, ``upsert``, ``delete``, ``hash``, ``extract`` and
``convert``, with the value from ``value``, ``from_attribute`` or ``from_context`` (client metadata).

They work on a repeated ``KeyValue`` field in place (a Resource's attributes, parsed alone by a partial
view), so nothing else of a request is read.  ``hash`` is SHA-256 over Go's bytes for each type (a string's
UTF-8, a bool as one byte, an int64 or a float64's bits as 8 little-endian bytes), hex-encoded; a value of
any other type hashes to "".  Patterns are Python regular expressions; Go's RE2 syntax, ``(?P<name>...)``
groups included, is a subset of it for what configs write (``(?<name>...)`` is read as ``(?P<name>...)``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from .component import ComponentConfig, ConfigError

__all__ = ["AttributeAction", "compile_actions", "find_attribute", "scalar_value", "set_any"]

_ACTIONS = ("insert", "update", "upsert", "delete", "hash", "extract", "convert")
_VALUE_ACTIONS = ("insert", "update", "upsert")
_CONVERTED_TYPES = ("int", "double", "string")
_INT64 = (-(2**63), 2**63 - 1)


@dataclass
class AttributeAction(ComponentConfig):
    key: str = ""  # the attribute acted on (delete and hash may use pattern instead)
    action: str = ""  # insert, update, upsert, delete, hash, extract or convert
    value: Any = None  # insert / update / upsert: the value to set
    from_attribute: str = ""  # insert / update / upsert: copy this attribute's value
    from_context: str = ""  # insert / update / upsert: client metadata (metadata.<header> or <header>)
    pattern: str = ""  # extract: named groups become attributes; delete / hash: the keys it matches
    converted_type: str = ""  # convert: int, double or string

    def validate(self) -> None:
        action = self.action.lower()
        if action not in _ACTIONS:
            raise ConfigError("action", f"must be one of {', '.join(_ACTIONS)} (got {self.action!r})")
        self.action = action
        if action in _VALUE_ACTIONS:
            if not self.key:
                raise ConfigError("key", f"{action} needs a key")
            sources = [n for n in ("value", "from_attribute", "from_context") if _given(getattr(self, n))]
            if len(sources) != 1:
                raise ConfigError("value", f"{action} needs exactly one of value, from_attribute, from_context")
            if self.from_context.startswith(("auth.", "client.")):
                raise ConfigError(
                    "from_context",
                    "only client metadata (a request header, with the receiver's include_metadata) is available "
                    "here, as metadata.<header> or <header>",
                )
        elif action in ("delete", "hash"):
            if not self.key and not self.pattern:
                raise ConfigError("key", f"{action} needs a key or a pattern")
        elif action == "extract":
            if not self.key or not self.pattern:
                raise ConfigError("pattern", "extract needs a key and a pattern with named groups")
        elif action == "convert":
            if not self.key:
                raise ConfigError("key", "convert needs a key")
            if self.converted_type not in _CONVERTED_TYPES:
                raise ConfigError("converted_type", f"must be one of {', '.join(_CONVERTED_TYPES)}")
        if self.pattern:
            try:
                regex = _compile(self.pattern)
            except re.error as e:
                raise ConfigError("pattern", f"invalid regular expression: {e}") from None
            if action == "extract" and not regex.groupindex:
                raise ConfigError("pattern", "extract needs named groups, e.g. ^/api/(?P<version>v\\d+)/")
        if self.value is not None and not _is_plain(self.value):
            raise ConfigError("value", "must be a string, number, boolean, list or mapping")


def _given(value: Any) -> bool:
    return value is not None and value != ""


def _is_plain(value: Any) -> bool:
    if isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _compile(pattern: str) -> re.Pattern:
    return re.compile(re.sub(r"\(\?<(?![=!])", "(?P<", pattern))


def set_any(target: AnyValue, value: Any) -> None:
    """``target`` becomes ``value`` (a YAML value: str, bool, int, float, list or mapping)."""
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            target.double_value = float(value)
        else:
            target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, list):
        target.array_value.SetInParent()
        for item in value:
            set_any(target.array_value.values.add(), item)
    elif isinstance(value, dict):
        target.kvlist_value.SetInParent()
        for k, v in value.items():
            kv = target.kvlist_value.values.add(key=k)
            set_any(kv.value, v)


def _plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


def _as_string(value: AnyValue) -> str:
    """Go's ``pcommon.Value.AsString``."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return _go_float(value.double_value)
    if kind == "bytes_value":
        import base64

        return base64.b64encode(value.bytes_value).decode()
    if kind in ("array_value", "kvlist_value"):
        return json.dumps(_plain(value), separators=(",", ":"))
    return ""


def _go_float(x: float) -> str:
    """``strconv.FormatFloat(x, 'f', -1, 64)``: the shortest decimal that reads back as ``x``, no exponent."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    text = format(Decimal(repr(x)), "f")
    return text[:-2] if text.endswith(".0") else text


def _hash(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        data = value.string_value.encode()
    elif kind == "bool_value":
        data = b"\x01" if value.bool_value else b"\x00"
    elif kind == "int_value":
        data = struct.pack("<q", value.int_value)
    elif kind == "double_value":
        data = struct.pack("<d", value.double_value)
    else:
        return ""
    return hashlib.sha256(data).hexdigest()


def _convert(value: AnyValue, to: str) -> None:
    """Go's ``convert``: a value that cannot be converted is left as it is."""
    kind = value.WhichOneof("value")
    if to == "string":
        if kind != "string_value":
            value.string_value = _as_string(value)
        return
    if to == "int":
        if kind == "double_value":
            x = value.double_value
            if math.isfinite(x) and _INT64[0] <= x <= _INT64[1]:
                value.int_value = int(x)
        elif kind == "bool_value":
            value.int_value = 1 if value.bool_value else 0
        elif kind == "string_value":
            try:
                n = int(value.string_value, 10)
            except ValueError:
                return
            if _INT64[0] <= n <= _INT64[1]:
                value.int_value = n
        return
    if kind == "int_value":
        value.double_value = float(value.int_value)
    elif kind == "bool_value":
        value.double_value = 1.0 if value.bool_value else 0.0
    elif kind == "string_value":
        try:
            value.double_value = float(value.string_value)
        except ValueError:
            return


def scalar_value(value: AnyValue) -> Any:
    """A string, bool, int or double AnyValue as its Python value; None for anything else or unset."""
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind in ("string_value", "bool_value", "int_value", "double_value") else None


def find_attribute(attributes, key: str) -> int:
    """The index of ``key`` in a repeated KeyValue field, or -1."""
    for i, kv in enumerate(attributes):
        if kv.key == key:
            return i
    return -1


Actions = Callable[[Any, Mapping[str, Any] | None], None]


def compile_actions(actions: list[AttributeAction]) -> Actions:
    """A function applying ``actions`` in order to a repeated ``KeyValue`` field, given the request's
    client metadata (or None)."""
    steps = [_step(a) for a in actions]

    def apply(attributes, metadata: Mapping[str, Any] | None) -> None:
        for step in steps:
            step(attributes, metadata)

    return apply


def _step(a: AttributeAction) -> Actions:
    key, action = a.key, a.action
    regex = _compile(a.pattern) if a.pattern else None
    if action in _VALUE_ACTIONS:
        source = _value_source(a)
        constant = a.value if _given(a.value) else _NOTHING
        prototypes: dict[type, Any] = {}

        def set_value(attributes, metadata) -> None:
            i = find_attribute(attributes, key)
            if (i >= 0 and action == "insert") or (i < 0 and action == "update"):
                return
            new = source(attributes, metadata)
            if new is None:
                return  # from_attribute / from_context found nothing: no change, as Go
            target = attributes.add(key=key).value if i < 0 else attributes[i].value
            if new is constant:  # built once per AnyValue class (a partial view has its own), then copied
                cls = type(target)
                prototype = prototypes.get(cls)
                if prototype is None:
                    prototype = prototypes[cls] = cls()
                    set_any(prototype, constant)
                target.CopyFrom(prototype)
            elif isinstance(new, str):  # a header
                target.string_value = new
            else:  # another attribute's value: the same message type
                target.CopyFrom(new)

        return set_value
    if action == "delete":

        def delete(attributes, metadata) -> None:
            if regex is None:  # keys are unique: one lookup
                i = find_attribute(attributes, key)
                if i >= 0:
                    del attributes[i]
                return
            for i in range(len(attributes) - 1, -1, -1):
                k = attributes[i].key
                if k == key or regex.search(k):
                    del attributes[i]

        return delete
    if action == "hash":

        def hash_values(attributes, metadata) -> None:
            for kv in attributes:
                if kv.key == key or (regex is not None and regex.search(kv.key)):
                    kv.value.string_value = _hash(kv.value)

        return hash_values
    if action == "extract":
        assert regex is not None

        def extract(attributes, metadata) -> None:
            i = find_attribute(attributes, key)
            if i < 0 or attributes[i].value.WhichOneof("value") != "string_value":
                return
            match = regex.search(attributes[i].value.string_value)
            if match is None:
                return
            for name, text in match.groupdict().items():
                if text is None:
                    continue
                j = find_attribute(attributes, name)
                target = attributes.add(key=name).value if j < 0 else attributes[j].value
                target.string_value = text

        return extract
    to = a.converted_type

    def convert(attributes, metadata) -> None:
        i = find_attribute(attributes, key)
        if i >= 0:
            _convert(attributes[i].value, to)

    return convert


_NOTHING = object()


def _value_source(a: AttributeAction) -> Callable[[Any, Mapping[str, Any] | None], Any]:
    """Where an insert / update / upsert takes its value: a plain value, or another attribute's
    ``AnyValue`` (None: nothing to take)."""
    if _given(a.value):
        constant = a.value
        return lambda attributes, metadata: constant
    if a.from_attribute:
        name = a.from_attribute

        def copied(attributes, metadata) -> Any:
            i = find_attribute(attributes, name)
            return attributes[i].value if i >= 0 else None

        return copied
    header = a.from_context.removeprefix("metadata.").lower()

    def from_context(attributes, metadata) -> Any:
        if not metadata:
            return None
        found = metadata.get(header)
        if found is None:
            found = next((v for k, v in metadata.items() if k.lower() == header), None)
        if found is None:
            return None
        return found if isinstance(found, str) else ",".join(map(str, found))

    return from_context
