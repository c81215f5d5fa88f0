"""``otel-lite-collector [--version] [--config URI]... [--set key=value]... [validate|components|print-config]``."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.resources
import logging
import os
import platform
import sys

from . import registry
from .component import ConfigError
from .config_loading import ConfigErrors, Locations, dump_yaml, load_raw
from .config_redaction import redact_secrets
from .config_validation import build_config

__all__ = ["main", "default_config_source", "version_line"]

log = logging.getLogger("otel_lite.collector")


def default_config_source() -> str:
    """The embedded default config, as a ``yaml:`` source (works from a wheel or a zip too)."""
    text = importlib.resources.files("otel_lite.collector").joinpath("default_config.yaml").read_text(encoding="utf-8")
    return "yaml:" + text


def version_line() -> str:
    """``otel-lite-collector 0.1.0 (Python 3.11.7)``: the installed distribution's version (as Go's
    ``otelcol --version``, one line), and the interpreter's."""
    try:
        version = importlib.metadata.version("otel-lite")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
        from otel_lite.version import __version__ as version
    return f"otel-lite-collector {version} ({platform.python_implementation()} {platform.python_version()})"


def _add_source_args(parser: argparse.ArgumentParser, suffix: str = "") -> None:
    parser.add_argument(
        "--config",
        dest="config" + suffix,
        action="append",
        metavar="URI",
        help="config file path or URI (file:, env:, yaml:); repeatable, merged in order",
    )
    parser.add_argument(
        "--set",
        dest="set" + suffix,
        action="append",
        metavar="KEY=VALUE",
        help="override a config value by dotted path, e.g. processors.batch.timeout=1s; repeatable",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-lite-collector", description="A light OpenTelemetry (OTLP) trace collector."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    _add_source_args(parser)
    sub = parser.add_subparsers(dest="command")
    for name, help_text in (
        ("validate", "check the configuration and print every error"),
        ("print-config", "print the resolved configuration (after merging and ${env:...}; secrets redacted)"),
    ):
        _add_source_args(sub.add_parser(name, help=help_text), "_sub")
    sub.add_parser("components", help="list the available component types")
    return parser


class _ConfigWarnings(logging.Handler):
    """While the config loads, its warnings print as its errors do: ``warning: file:line: path: message``
    (the running collector's own log lines start only once the config says how they look)."""

    def __init__(self, locations: Locations):
        super().__init__(logging.WARNING)
        self.locations = locations
        self.logger = logging.getLogger("otel_lite.collector.config")

    def emit(self, record: logging.LogRecord) -> None:
        where = self.locations.of(getattr(record, "config_path", "") or "")
        print(
            f"warning: {where}: {record.getMessage()}" if where else f"warning: {record.getMessage()}", file=sys.stderr
        )

    def __enter__(self) -> _ConfigWarnings:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self)


def _print_errors(err: ConfigError, locations: Locations) -> None:
    errors = err.errors if isinstance(err, ConfigErrors) else [err]
    for e in errors:
        where = locations.of(e.path)
        print(f"error: {where}: {e}" if where else f"error: {e}", file=sys.stderr)


def _components() -> int:
    aliases: dict[tuple[str, str], list[str]] = {}
    for kind, table in registry.ALIASES.items():
        for alias, target in table.items():
            aliases.setdefault((kind, target), []).append(alias)
    for kind, types in registry.available().items():
        print(f"{kind}s:")
        for type_name in types:
            try:
                factory = registry.lookup(kind, type_name)
                stability = factory.stability if factory else "unavailable"
            except ImportError:
                stability = "unavailable"
            names = aliases.get((kind, type_name))
            extra = f" (alias: {', '.join(names)})" if names else ""
            print(f"  {type_name}{extra}  [{stability}]")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, so that a closed pipe is met inside the try
    except BrokenPipeError:
        # the reader went away (``components | head -1``): what it wanted it has; say nothing more, and
        # point stdout at /dev/null so the interpreter's own flush at exit does not fail again
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by the closed pipe
    return code


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.version:
        print(version_line())
        return 0
    if args.command == "components":
        return _components()
    sources = (args.config or []) + (getattr(args, "config_sub", None) or [])
    overrides = (args.set or []) + (getattr(args, "set_sub", None) or [])
    if not sources:
        sources = [default_config_source()]
    locations = Locations()
    try:
        with _ConfigWarnings(locations):
            raw = load_raw(sources, overrides, locations=locations)
            if args.command == "print-config":
                print(dump_yaml(redact_secrets(raw)), end="")  # tokens and header values read [REDACTED]
                return 0
            config = build_config(raw)
    except ConfigError as e:
        _print_errors(e, locations)
        return 1
    if args.command == "validate":
        return 0
    return _run(config)


def _run(config) -> int:
    from .own_logs import setup_from_config
    from .service import Collector

    try:
        setup_from_config(config.service.telemetry.logs)
    except OSError as e:
        print(f"error: service.telemetry.logs.output_paths: {e}", file=sys.stderr)
        return 1

    async def run() -> None:  # components are created on the running loop
        await Collector(config).run_until_signal()

    try:
        asyncio.run(run())
    except (OSError, ConfigError) as e:
        log.error("collector failed to start: %s", e)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
