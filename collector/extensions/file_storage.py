"""The ``file_storage`` extension: where components keep data across restarts.

Like the contrib ``filestorage`` extension, it hands each component its own
file in ``directory``, named ``<kind>_<type>_<name>_<signal>`` (characters
outside ``[A-Za-z0-9._-]`` escaped as ``~XXXX``), e.g.
``exporter_otlp_grpc_backend_traces``.  The files are SQLite databases (not
bbolt) used by the exporters' persistent sending queue.

Durability: the queue acknowledges a batch only once its transaction is
committed.  With ``fsync: false`` (SQLite WAL, ``synchronous=NORMAL``) a
committed batch survives the collector process dying (``kill -9``, OOM kill)
but not an OS crash or power loss; ``fsync: true`` (``synchronous=FULL``)
survives those too, at the cost of one fsync per group commit.

``directory`` defaults to ``/var/lib/otelcol/file_storage`` when that is
writable (or can be created), else to a per-user directory:
``$XDG_STATE_HOME/otel-lite/file_storage`` (``~/.local/state/...``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..component import Component, ComponentConfig, ConfigError, Duration, Factory

__all__ = [
    "FACTORY",
    "FileStorageConfig",
    "FileStorageExtension",
    "StorageClient",
    "default_directory",
    "client_file_name",
]

SYSTEM_DIRECTORY = "/var/lib/otelcol/file_storage"


def default_directory() -> str:
    """The Go default when usable by this process, else a per-user state directory."""
    probe = SYSTEM_DIRECTORY
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if os.access(probe, os.W_OK | os.X_OK):
        return SYSTEM_DIRECTORY
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "otel-lite", "file_storage")


def _escape(text: str) -> str:
    out = []
    for ch in text:
        if ch.isascii() and (ch.isalnum() or ch in "._-"):
            out.append(ch)
        else:
            out.append(f"~{ord(ch):04X}")
    return "".join(out)


def client_file_name(kind: str, id, signal: str = "") -> str:
    raw = f"{kind}_{id.type}_{id.name}" + (f"_{signal}" if signal else "")
    return _escape(raw)


@dataclass
class FileStorageConfig(ComponentConfig):
    directory: str = ""  # "" = default_directory()
    timeout: Duration = Duration(1.0)  # how long to wait for a file held by another process
    fsync: bool = False  # true: fsync every commit (SQLite synchronous=FULL)
    create_directory: bool = True

    def validate(self) -> None:
        if self.directory and os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise ConfigError("directory", f"{self.directory!r} is not a directory")


@dataclass(frozen=True)
class StorageClient:
    """What a component needs to open its storage: the file path and durability settings."""

    path: str
    fsync: bool
    timeout: float


class FileStorageExtension(Component):
    def __init__(self, settings, config: FileStorageConfig):
        self.settings = settings
        self.config = config
        self.directory = os.path.abspath(os.path.expanduser(config.directory or default_directory()))
        self._checked = False

    async def start(self, host) -> None:
        self._ensure_directory()

    def _ensure_directory(self) -> None:
        if self._checked:
            return
        d = self.directory
        if not os.path.isdir(d):
            if not self.config.create_directory:
                raise ConfigError("directory", f"directory {d!r} does not exist (set create_directory: true)")
            os.makedirs(d, mode=0o750, exist_ok=True)
        if not os.access(d, os.W_OK | os.X_OK):
            raise ConfigError("directory", f"directory {d!r} is not writable")
        self._checked = True

    def get_client(self, kind: str, id, signal: str = "") -> StorageClient:
        self._ensure_directory()
        path = os.path.join(self.directory, client_file_name(kind, id, signal))
        return StorageClient(path=path, fsync=self.config.fsync, timeout=float(self.config.timeout))


def _create(settings, config: FileStorageConfig, next_consumer) -> FileStorageExtension:
    return FileStorageExtension(settings, config)


FACTORY = Factory(kind="extension", type="file_storage", config_class=FileStorageConfig, create=_create)
