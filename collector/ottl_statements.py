"""OTTL statements, the part Go's ``transform`` processor configs use: an editor with an optional
``where`` condition, compiled once into a function that changes an item in place.

Editors: ``set(target, value)``, ``delete_key(map, key)``, ``delete_matching_keys(map, pattern)``,
``keep_keys(map, [keys])``, ``keep_matching_keys(map, pattern)``, ``replace_pattern(target, pattern,
replacement)``, ``replace_all_patterns(map, "key"|"value", pattern, replacement)``, ``replace_match(target,
glob, replacement)``, ``replace_all_matches(map, glob, replacement)`` (a whole value matching the glob),
``truncate_all(map, limit)`` and ``limit(map, limit, [priority keys])``.  Targets are attributes (``attributes["k"]``,
``resource.attributes["k"]``, ``instrumentation_scope.attributes["k"]``) and the fields a context owns
(``name``, ``status.code``, ``status.message``, ``kind`` of a span; ``body``, ``severity_text``,
``severity_number``, ``event_name`` of a log record; ``name``, ``description``, ``unit`` of a metric).
Values are ``ottl``'s (literals, paths, converters).  Go's ``$1`` in a replacement is the first group.
Anything else is an ``OTTLError`` at validation.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any

from lark import Token, v_args
from lark.exceptions import LarkError, VisitError

from .attribute_actions import find_attribute, set_any
from .ottl import OWNER_KEYS, OTTLError, _Compiler, _parser, _short

__all__ = ["compile_statement", "EDITORS"]

EDITORS = (
    "set",
    "delete_key",
    "delete_matching_keys",
    "keep_keys",
    "keep_matching_keys",
    "replace_pattern",
    "replace_all_patterns",
    "replace_match",
    "replace_all_matches",
    "truncate_all",
    "limit",
)

# settable fields per context: field -> the Python type it takes
_FIELDS: dict[str, dict[str, type]] = {
    "span": {"name": str, "kind": int, "trace_state": str},
    "log": {"severity_text": str, "severity_number": int, "event_name": str},
    "metric": {"name": str, "description": str, "unit": str},
}


def compile_statement(text: str, context: str) -> Callable[[dict], None]:
    """A function applying ``text`` to an item (``ottl.compile_condition``'s items); raises OTTLError."""
    try:
        tree = _parser().parse(text, start="statement")
    except LarkError as e:
        raise OTTLError(f"cannot parse {text!r}: {_short(e)}") from None
    try:
        return _StatementCompiler(context).transform(tree)
    except VisitError as e:
        raise (e.orig_exc if isinstance(e.orig_exc, OTTLError) else OTTLError(str(e.orig_exc))) from None


def _strip_context(context: str, segments: list) -> list:
    if segments and segments[0] == ("field", context):
        return segments[1:]
    return segments


def _map_owner(context: str, segments: list) -> Callable[[dict], Any] | None:
    """The message whose ``attributes`` a map path names (``attributes``, ``resource.attributes``, ...)."""
    segments = _strip_context(context, segments)
    if segments == [("field", "attributes")] and context != "metric":
        key = OWNER_KEYS[context]
        return lambda item: item[key]
    if segments == [("field", "resource"), ("field", "attributes")]:
        return lambda item: item["resource"]
    if segments == [("field", "instrumentation_scope"), ("field", "attributes")]:
        return lambda item: item["scope"]
    return None


def _attribute_target(context: str, segments: list) -> tuple[Callable[[dict], Any], str] | None:
    """(owner of the attributes, key) for ``attributes["k"]`` and the like."""
    if len(segments) < 2 or segments[-1][0] != "key" or not isinstance(segments[-1][1], str):
        return None
    owner = _map_owner(context, segments[:-1])
    return (owner, segments[-1][1]) if owner is not None else None


def _setter(context: str, segments: list) -> Callable[[dict, Any], None]:
    target = _attribute_target(context, segments)
    if target is not None:
        owner, key = target

        def set_attribute(item: dict, value: Any) -> None:
            if value is None:
                return  # Go: setting nil changes nothing
            attributes = owner(item).attributes
            i = find_attribute(attributes, key)
            slot = attributes.add(key=key).value if i < 0 else attributes[i].value
            slot.Clear()
            set_any(slot, value)

        return set_attribute
    plain = _strip_context(context, segments)
    if context == "span" and plain in (
        [("field", "status"), ("field", "code")],
        [("field", "status"), ("field", "message")],
    ):
        attr = plain[1][1]
        status_type: type = int if attr == "code" else str

        def set_status(item: dict, value: Any) -> None:
            if isinstance(value, status_type) and not isinstance(value, bool):
                setattr(item["span"].status, attr, value)

        return set_status
    if context == "log" and plain == [("field", "body")]:

        def set_body(item: dict, value: Any) -> None:
            if value is not None:
                body = item["record"].body
                body.Clear()
                set_any(body, value)

        return set_body
    fields = _FIELDS.get(context, {})
    if len(plain) == 1 and plain[0][0] == "field" and plain[0][1] in fields:
        name, kind = plain[0][1], fields[plain[0][1]]
        key = OWNER_KEYS[context]

        def set_field(item: dict, value: Any) -> None:
            if isinstance(value, kind) and not isinstance(value, bool):
                setattr(item[key], name, value)

        return set_field
    shown = ".".join(str(k) if kind == "field" else f"[{k!r}]" for kind, k in segments)
    raise OTTLError(f"{shown} cannot be set in the {context} context (attributes[...] and the item's own fields can)")


def _go_replacement(replacement: str) -> str:
    """Go's ``$1`` / ``${1}`` / ``$name`` in a replacement, as Python's ``\\g<...>``."""
    out = re.sub(
        r"\$\{(\w+)\}|\$(\w+)", lambda m: f"\\g<{m.group(1) or m.group(2)}>", replacement.replace("\\", "\\\\")
    )
    return out


def _literal_of(fn: Any, what: str, kind: type | tuple) -> Any:
    value = getattr(fn, "literal", None)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise OTTLError(f"{what} must be a literal {getattr(kind, '__name__', 'value')}")
    return value


def _regex(fn: Any, editor: str) -> re.Pattern:
    pattern = _literal_of(fn, f"{editor}'s pattern", str)
    try:
        return re.compile(pattern)
    except re.error as e:
        raise OTTLError(f"{editor}: invalid regular expression {pattern!r}: {e}") from None


@v_args(inline=True)
class _StatementCompiler(_Compiler):
    def items(self, *items):
        present = [i for i in items if i is not None]

        def values(item: dict) -> list:
            return [i(item) for i in present]

        values.literal = [getattr(i, "literal", None) for i in present]
        return values

    def statement(self, editor, condition=None):
        if condition is None:
            return editor
        if not getattr(condition, "is_boolean", False):
            raise OTTLError("where takes a condition (a comparison or a converter such as IsMatch)")

        def guarded(item: dict) -> None:
            if condition(item):
                editor(item)

        return guarded

    def editor(self, name: Token, *args):
        editor = str(name)
        args = tuple(a for a in args if a is not None)
        if editor not in EDITORS:
            raise OTTLError(f"function {editor} is not available here (available: {', '.join(EDITORS)})")
        build = getattr(self, f"_{editor}")
        arity = build.__code__.co_argcount - 1
        if len(args) != arity:
            raise OTTLError(f"{editor} takes {arity} arguments")
        return build(*args)

    def _target_segments(self, fn: Any, editor: str) -> list:
        segments = getattr(fn, "segments", None)
        if segments is None:
            raise OTTLError(f"{editor}'s first argument must be a path (attributes, name, ...)")
        return segments

    def _map(self, fn: Any, editor: str) -> Callable[[dict], Any]:
        owner = _map_owner(self.context, self._target_segments(fn, editor))
        if owner is None:
            raise OTTLError(
                f"{editor} takes a map: attributes, resource.attributes or instrumentation_scope.attributes"
            )
        return lambda item: owner(item).attributes

    def _set(self, target, value):
        setter = _setter(self.context, self._target_segments(target, "set"))
        return lambda item: setter(item, value(item))

    def _delete_key(self, target, key):
        attributes, name = self._map(target, "delete_key"), _literal_of(key, "delete_key's key", str)

        def delete(item: dict) -> None:
            kvs = attributes(item)
            i = find_attribute(kvs, name)
            if i >= 0:
                del kvs[i]

        return delete

    def _delete_matching_keys(self, target, pattern):
        attributes, regex = self._map(target, "delete_matching_keys"), _regex(pattern, "delete_matching_keys")

        def delete(item: dict) -> None:
            kvs = attributes(item)
            for i in range(len(kvs) - 1, -1, -1):
                if regex.search(kvs[i].key):
                    del kvs[i]

        return delete

    def _keep_keys(self, target, keys):
        attributes = self._map(target, "keep_keys")
        wanted = getattr(keys, "literal", None)
        if not isinstance(wanted, list) or not all(isinstance(k, str) for k in wanted):
            raise OTTLError('keep_keys takes a list of keys: ["a", "b"]')
        keep = set(wanted)

        def keep_only(item: dict) -> None:
            kvs = attributes(item)
            for i in range(len(kvs) - 1, -1, -1):
                if kvs[i].key not in keep:
                    del kvs[i]

        return keep_only

    def _keep_matching_keys(self, target, pattern):
        attributes, regex = self._map(target, "keep_matching_keys"), _regex(pattern, "keep_matching_keys")

        def keep_only(item: dict) -> None:
            kvs = attributes(item)
            for i in range(len(kvs) - 1, -1, -1):
                if not regex.search(kvs[i].key):
                    del kvs[i]

        return keep_only

    def _replace_pattern(self, target, pattern, replacement):
        regex = _regex(pattern, "replace_pattern")
        repl = _go_replacement(_literal_of(replacement, "replace_pattern's replacement", str))
        setter = _setter(self.context, self._target_segments(target, "replace_pattern"))

        def replace(item: dict) -> None:
            value = target(item)
            if isinstance(value, str):
                setter(item, regex.sub(repl, value))

        return replace

    def _replace_all_patterns(self, target, mode, pattern, replacement):
        attributes = self._map(target, "replace_all_patterns")
        which = _literal_of(mode, "replace_all_patterns' mode", str)
        if which not in ("key", "value"):
            raise OTTLError('replace_all_patterns\' mode is "key" or "value"')
        regex = _regex(pattern, "replace_all_patterns")
        repl = _go_replacement(_literal_of(replacement, "replace_all_patterns' replacement", str))

        def replace(item: dict) -> None:
            for kv in attributes(item):
                if which == "key":
                    kv.key = regex.sub(repl, kv.key)
                elif kv.value.WhichOneof("value") == "string_value":
                    kv.value.string_value = regex.sub(repl, kv.value.string_value)

        return replace

    def _replace_match(self, target, glob, replacement):
        pattern = _literal_of(glob, "replace_match's pattern", str)
        new = _literal_of(replacement, "replace_match's replacement", str)
        setter = _setter(self.context, self._target_segments(target, "replace_match"))

        def replace(item: dict) -> None:
            value = target(item)
            if isinstance(value, str) and fnmatch.fnmatchcase(value, pattern):
                setter(item, new)

        return replace

    def _replace_all_matches(self, target, glob, replacement):
        attributes = self._map(target, "replace_all_matches")
        pattern = _literal_of(glob, "replace_all_matches' pattern", str)
        new = _literal_of(replacement, "replace_all_matches' replacement", str)

        def replace(item: dict) -> None:
            for kv in attributes(item):
                if kv.value.WhichOneof("value") == "string_value" and fnmatch.fnmatchcase(
                    kv.value.string_value, pattern
                ):
                    kv.value.string_value = new

        return replace

    def _truncate_all(self, target, limit):
        attributes, n = self._map(target, "truncate_all"), _literal_of(limit, "truncate_all's limit", int)
        if n < 0:
            raise OTTLError("truncate_all's limit must not be negative")

        def truncate(item: dict) -> None:
            for kv in attributes(item):
                if kv.value.WhichOneof("value") == "string_value" and len(kv.value.string_value) > n:
                    kv.value.string_value = kv.value.string_value[:n]

        return truncate

    def _limit(self, target, limit, priority):
        attributes, n = self._map(target, "limit"), _literal_of(limit, "limit's limit", int)
        keys = getattr(priority, "literal", None)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or n < 0:
            raise OTTLError('limit takes a map, a count and a list of keys to keep first: limit(attributes, 10, ["a"])')
        first = set(keys)

        def keep_at_most(item: dict) -> None:
            kvs = attributes(item)
            if len(kvs) <= n:
                return
            order = sorted(range(len(kvs)), key=lambda i: kvs[i].key not in first)  # priority keys first
            dropped = sorted(order[n:], reverse=True)
            for i in dropped:
                del kvs[i]

        return keep_at_most
