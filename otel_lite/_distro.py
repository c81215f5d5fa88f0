"""The ``opentelemetry_distro`` entry point ``otel_lite``: ``opentelemetry-instrument`` without
opentelemetry-distro.

Loaded only by opentelemetry-instrumentation's auto-instrumentation (which therefore is installed): it
subclasses that package's ``BaseDistro``, so instrumentors are loaded the standard way.
"""

from __future__ import annotations

import os

# that module starts with a file-wide `# type: ignore`, so mypy sees none of its names
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

__all__ = ["Distro"]


class Distro(BaseDistro):
    """Choosing this distro (``OTEL_PYTHON_DISTRO=otel_lite``, or it is the only one installed) chooses
    otel_lite's configurator, unless ``OTEL_PYTHON_CONFIGURATOR`` names another: the auto-instrumentation
    reads that variable after the distro has configured."""

    def _configure(self, **kwargs):
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", "otel_lite")
