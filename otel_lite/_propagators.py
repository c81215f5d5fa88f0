"""Text-map propagators by name, the values of ``OTEL_PROPAGATORS``.

``tracecontext`` is otel_lite's own W3C Trace Context propagator
(``otel_lite.propagation``); ``baggage`` is the API's W3C baggage propagator;
any other name comes from the ``opentelemetry_propagator`` entry points
(``b3``, ``b3multi`` and ``jaeger`` with ``pip install otel-lite[propagators]``).
Used by ``otel_lite.set_propagators`` (global) and by the OpenTracing shim's
``create_tracer(propagators=...)`` (per tracer); imports nothing of the SDK.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

_log = logging.getLogger("otel_lite")

DEFAULT_PROPAGATORS = ("tracecontext", "baggage")


def propagators_by_name(names: Iterable[str] | str) -> list:
    """One propagator per known name, in order; unknown or broken ones are logged and skipped,
    ``none`` and empty names are skipped.  A comma-separated string works too."""
    from importlib.metadata import entry_points

    from .propagation import TraceContextPropagator

    if isinstance(names, str):
        names = names.split(",")
    found = []
    for name in names:
        name = str(name).strip().lower()
        if not name or name == "none":
            continue
        if name == "tracecontext":
            found.append(TraceContextPropagator())
            continue
        eps = list(entry_points(group="opentelemetry_propagator", name=name))
        if not eps:
            _log.warning("propagator %r is not installed (pip install otel-lite[propagators])", name)
            continue
        try:
            found.append(eps[0].load()())
        except Exception:  # a broken propagator package must not stop the application
            _log.warning("propagator %r could not be loaded; skipped", name, exc_info=True)
    return found


def composite(names: Iterable[str] | str):
    """The propagators named, as one ``CompositePropagator``."""
    from opentelemetry.propagators.composite import CompositePropagator

    return CompositePropagator(propagators_by_name(names))
