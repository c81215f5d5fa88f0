"""The context key under which the scope manager keeps the active ``ScopeShim``.

Its own module so that ``span.py`` (which must tell the active scope about new
baggage) and ``scope_manager.py`` (which builds scopes of ``SpanShim``) both
import it without importing each other.
"""

from __future__ import annotations

from opentelemetry import context as context_api

SCOPE_KEY = context_api.create_key("otel_lite.opentracing.scope")
