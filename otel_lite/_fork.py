"""Run a callback in every forked child, including children that uWSGI forks.

``os.register_at_fork`` hooks run when Python forks (``os.fork``, multiprocessing, gunicorn, celery's
billiard).  uWSGI forks its workers from C and runs them only with ``--py-call-uwsgi-fork-hooks``;
without it, an application loaded in the master (no ``--lazy-apps``) would keep the master's dead
export thread and identity.  Under uWSGI (its ``uwsgi`` module is imported) the callback is therefore
also added to uWSGI's post-fork chain (``uwsgidecorators.postfork``'s, which needs the master process).
Both may run in one child: callbacks must do nothing when they already ran in this process.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable

__all__ = ["after_fork_in_child"]

_log = logging.getLogger("otel_lite")


def after_fork_in_child(callback: Callable[[], None]) -> None:
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=callback)
    if "uwsgi" in sys.modules:  # only inside a uWSGI process: no import anywhere else
        try:
            # exists only inside uWSGI (and has no type information): imported by name
            importlib.import_module("uwsgidecorators").postfork(callback)
        except Exception:  # no master process (uwsgidecorators refuses): Python's hooks only
            _log.debug("otel_lite: uWSGI post-fork hook not installed", exc_info=True)
