"""Span limits, from arguments or the OTEL_*_LIMIT environment variables."""

from __future__ import annotations

from .config import env_int

_DEFAULT_COUNT = 128


def _limit(explicit, *env_names, default):
    """Model-specific env var, then the global one, then the default.
    ``None`` or -1 given explicitly (or an empty env var) means unlimited where allowed."""
    if explicit is not None:
        return None if explicit == -1 else explicit
    for name in env_names:
        value = env_int(name, minimum=0)
        if value is not None:
            return value
    return default


class SpanLimits:
    """The same knobs (and names) as opentelemetry-sdk's ``SpanLimits``.

    ``None`` means unlimited; -1 passed explicitly also means unlimited.
    """

    UNSET = -1

    __slots__ = (
        "max_attributes",
        "max_events",
        "max_links",
        "max_span_attributes",
        "max_event_attributes",
        "max_link_attributes",
        "max_attribute_length",
        "max_span_attribute_length",
    )

    def __init__(
        self,
        max_attributes=None,
        max_events=None,
        max_links=None,
        max_span_attributes=None,
        max_event_attributes=None,
        max_link_attributes=None,
        max_attribute_length=None,
        max_span_attribute_length=None,
    ):
        self.max_attributes = _limit(max_attributes, "OTEL_ATTRIBUTE_COUNT_LIMIT", default=_DEFAULT_COUNT)
        self.max_span_attributes = _limit(
            max_span_attributes,
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_ATTRIBUTE_COUNT_LIMIT",
            default=self.max_attributes,
        )
        self.max_events = _limit(max_events, "OTEL_SPAN_EVENT_COUNT_LIMIT", default=_DEFAULT_COUNT)
        self.max_links = _limit(max_links, "OTEL_SPAN_LINK_COUNT_LIMIT", default=_DEFAULT_COUNT)
        self.max_event_attributes = _limit(
            max_event_attributes, "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", default=self.max_attributes
        )
        self.max_link_attributes = _limit(
            max_link_attributes, "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", default=self.max_attributes
        )
        self.max_attribute_length = _limit(max_attribute_length, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", default=None)
        self.max_span_attribute_length = _limit(
            max_span_attribute_length,
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            default=self.max_attribute_length,
        )

    def __repr__(self) -> str:
        return "SpanLimits(" + ", ".join(f"{k}={getattr(self, k)}" for k in self.__slots__) + ")"
