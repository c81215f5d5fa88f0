"""``isinstance(span, opentelemetry.sdk.trace.Span)`` holds for otel_lite spans.

opentelemetry-sdk's ``Span`` is an abstract base class (it subclasses the API's ``Span`` ABC), so
otel_lite's span class is registered with it as a virtual subclass: code written for opentelemetry-sdk
that checks the type of a span (instrumentations and their tests do) accepts otel_lite's, which carry
the same read side (``ReadableSpan``'s attributes).  ``isinstance(span, ReadableSpan)`` stays false:
``ReadableSpan`` is a concrete class and cannot register anything.

opentelemetry-sdk is never imported for this.  When it is already imported the registration happens at
once; otherwise a finder at the front of ``sys.meta_path`` waits for ``opentelemetry.sdk.trace`` to be
imported (only code that imports it can ask the question), registers right after that module has run,
and removes itself.  Nothing of this runs per span.
"""

from __future__ import annotations

import logging
import sys
import threading

__all__ = ["register_with_sdk_span"]

_log = logging.getLogger("otel_lite")
_SDK_TRACE = "opentelemetry.sdk.trace"
_classes: list[type] = []
_lock = threading.Lock()


def register_with_sdk_span(cls: type) -> None:
    """Make ``cls`` a virtual subclass of ``opentelemetry.sdk.trace.Span`` now, or when that module is
    first imported."""
    with _lock:
        _classes.append(cls)
        module = sys.modules.get(_SDK_TRACE)
        if module is not None and getattr(module, "Span", None) is not None:
            _register(module)
        elif not any(isinstance(finder, _RegisterOnImport) for finder in sys.meta_path):
            sys.meta_path.insert(0, _RegisterOnImport())


def _register(module) -> None:
    try:
        sdk_span = module.Span
        for cls in _classes:
            if not issubclass(cls, sdk_span):
                sdk_span.register(cls)
    except Exception:  # an opentelemetry-sdk without an ABC Span: nothing to do, nothing to break
        _log.debug("otel_lite: cannot register its Span with opentelemetry.sdk.trace.Span", exc_info=True)


class _RegisterOnImport:
    """A ``sys.meta_path`` finder (the protocol only: importlib.abc would cost an import) that finds
    nothing itself: for ``opentelemetry.sdk.trace`` it asks the finders after it for the spec and wraps
    the loader's ``exec_module`` to register once the module has run."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _SDK_TRACE:
            return None
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            loader = getattr(spec, "loader", None)
            exec_module = getattr(loader, "exec_module", None)
            if exec_module is None:
                return spec  # None too: the import system goes on as if this finder were absent

            def exec_and_register(module):
                exec_module(module)
                self._remove()
                with _lock:
                    _register(module)

            loader.exec_module = exec_and_register  # this spec's loader only
            return spec
        except Exception:  # never break the application's import
            _log.debug("otel_lite: import hook for %s failed", fullname, exc_info=True)
            self._remove()
            return None

    def _remove(self) -> None:
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
