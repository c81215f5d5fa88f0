"""Zero-code instrumentation: the entry points ``opentelemetry-instrument`` and the API load.

- ``opentelemetry_configurator`` ``otel_lite`` (:class:`Configurator`): the auto-instrumentation's
  ``sitecustomize`` calls it before the application runs; it runs ``otel_lite.configure()`` from the
  ``OTEL_*`` environment (the ``--flags`` of ``opentelemetry-instrument`` are set there too).
- ``opentelemetry_tracer_provider`` ``otel_lite`` (:func:`tracer_provider`): what
  ``OTEL_PYTHON_TRACER_PROVIDER=otel_lite`` makes ``opentelemetry.trace.get_tracer_provider()`` load on
  first use, without ``opentelemetry-instrument``: a provider configured from the environment, exporter
  included (opentelemetry-sdk's entry point gives a provider without processors, which drops every span).
- ``opentelemetry_distro`` ``otel_lite``: :class:`otel_lite._distro.Distro`, in its own module because it
  subclasses opentelemetry-instrumentation's ``BaseDistro`` and this module must not need that package.

This module imports only the SDK: opentelemetry-sdk is neither needed nor imported.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["Configurator", "tracer_provider"]

_log = logging.getLogger("otel_lite")
_lock = threading.Lock()


class Configurator:
    """The ``opentelemetry_configurator`` entry point ``otel_lite``.

    The protocol of opentelemetry-sdk's ``_BaseConfigurator`` (that base class lives in opentelemetry-sdk,
    which otel_lite does not need): the auto-instrumentation instantiates it and calls
    ``configure(auto_instrumentation_version=...)``.  One instance per process, configured once.
    """

    _instance: Configurator | None = None
    _provider = None

    def __new__(cls, *args, **kwargs):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def configure(self, **kwargs):
        """Configure otel_lite from the environment and install it as the global TracerProvider;
        return the provider in effect.  Never raises: a failure is logged and leaves the API's no-op."""
        with _lock:
            if self._provider is not None:
                return self._provider
            try:
                from ._configure import configure

                attributes = {}
                version = kwargs.get("auto_instrumentation_version")
                if version:
                    # what opentelemetry-sdk's configurator adds to the resource
                    attributes["telemetry.auto.version"] = str(version)
                type(self)._provider = configure(resource_attributes=attributes)
            except Exception:  # the application must start even when tracing cannot
                _log.exception("otel_lite: zero-code configuration failed; tracing is off")
            return self._provider


def tracer_provider():
    """The ``opentelemetry_tracer_provider`` entry point ``otel_lite``: a provider from the ``OTEL_*``
    environment with its exporter, not installed globally (the API installs what this returns)."""
    from ._configure import configure

    try:
        return configure(set_global=False)
    except Exception:  # never raise into get_tracer_provider's caller: a bare provider still works
        _log.exception("otel_lite: configuring the tracer provider from the environment failed; spans are not exported")
        from .provider import TracerProvider

        return TracerProvider()
