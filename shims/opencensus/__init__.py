"""OpenCensus (0.11) tracing on OpenTelemetry.

    from otel_lite.shims.opencensus import install_shim
    install_shim()            # the global TracerProvider; or install_shim(provider)

After this, spans made through ``opencensus.trace.tracer.Tracer`` are
OpenTelemetry spans in the shared OpenTelemetry context; ``uninstall_shim()``
restores OpenCensus exactly.  See ``install.py`` for the hook and
``mapping.py`` for what maps to what.
"""

from .install import SCOPE_NAME, ShimContextTracer, ShimSpan, install_shim, is_installed, uninstall_shim
from .mapping import LINK_TYPE_ATTRIBUTE, STATUS_CODE_ATTRIBUTE

__all__ = [
    "install_shim",
    "uninstall_shim",
    "is_installed",
    "ShimContextTracer",
    "ShimSpan",
    "SCOPE_NAME",
    "STATUS_CODE_ATTRIBUTE",
    "LINK_TYPE_ATTRIBUTE",
]
