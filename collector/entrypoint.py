"""The ``otel-lite-collector`` command: checks that the collector's dependencies
are installed before importing anything that needs them.

``pip install otel-lite`` is the SDK alone (a service should not pull in a web
framework, YAML and Thrift); the collector's stack comes with the
``collector`` extra, and without it the command says so instead of failing
with an ImportError from deep inside.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["main", "missing_modules"]

# import name -> distribution, for the message (the ``collector`` extra in pyproject.toml)
COLLECTOR_MODULES = {
    "yaml": "pyyaml",
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "prometheus_client": "prometheus-client",
    "zstandard": "zstandard",
    "psutil": "psutil",
    "httpx": "httpx",
    "thriftpy2": "thriftpy2",
}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder refused it, or sys.modules holds None for it
        return False


def missing_modules() -> list[str]:
    """The distributions of the collector extra that cannot be imported."""
    return [dist for module, dist in COLLECTOR_MODULES.items() if not _importable(module)]


def main(argv: list[str] | None = None) -> int:
    missing = missing_modules()
    if missing:
        print(
            "otel-lite-collector needs the collector's dependencies, which this installation lacks "
            f"({', '.join(missing)}):\n    pip install 'otel-lite[collector]'",
            file=sys.stderr,
        )
        return 2
    from .cli import main as cli_main

    return cli_main(argv)
