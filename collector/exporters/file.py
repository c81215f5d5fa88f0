"""File exporter (type ``file``): writes every batch to a local file.

``format: json`` writes one OTLP JSON request (traces, metrics or logs) per line
(hex ids, integer enums), replayable by an ``otlpjsonfile``-style reader;
``format: proto`` writes each serialized request after a 4-byte big-endian
length.  With ``compression: zstd`` each message is compressed on its own and
always length-prefixed (as the contrib exporter does).

Batches are buffered and written by a worker thread every ``flush_interval``
(and whenever 1 MiB is pending, and on shutdown), so the event loop never
waits on the disk; ``flush_interval: 0`` writes before ``consume`` returns, so
write errors reach the caller.  Without ``rotation`` the file is truncated at
start unless ``append: true``; with ``rotation`` it is appended to and rolled
over to ``<name>-<UTC timestamp><ext>`` past ``max_megabytes``, keeping
``max_backups`` old files (0 = all) no older than ``max_days`` (0 = forever).
"""

from __future__ import annotations

import asyncio
import glob
import os
import struct
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

from otel_lite.otlp.json_codec import request_to_json

from ..component import ComponentConfig, ConfigError, Duration, Factory
from ..consumer import SIGNALS, Batch, PermanentError, RetryableError
from .helper import Exporter

__all__ = ["FACTORY", "FileExporterConfig", "RotationConfig", "FileExporter", "read_proto_file"]

_FLUSH_BYTES = 1 << 20  # write early once this much is buffered
_LEN = struct.Struct(">I")


@dataclass
class RotationConfig(ComponentConfig):
    max_megabytes: int = 100
    max_days: int = 0
    max_backups: int = 100
    localtime: bool = False

    def validate(self) -> None:
        if self.max_megabytes < 1:
            raise ConfigError("max_megabytes", "must be at least 1")
        if self.max_days < 0:
            raise ConfigError("max_days", "must not be negative")
        if self.max_backups < 0:
            raise ConfigError("max_backups", "must not be negative")


@dataclass
class FileExporterConfig(ComponentConfig):
    path: str = ""
    format: str = "json"
    compression: str = ""
    append: bool = False
    rotation: RotationConfig | None = None
    flush_interval: Duration = Duration(1.0)

    def validate(self) -> None:
        if not self.path:
            raise ConfigError("path", "must be set")
        if self.format not in ("json", "proto"):
            raise ConfigError("format", f"unsupported format {self.format!r} (use json or proto)")
        if self.compression not in ("", "zstd"):
            raise ConfigError("compression", f"unsupported compression {self.compression!r} (use zstd)")
        if self.append and self.compression:
            raise ConfigError("append", "append is not supported together with compression")


class _RotatingWriter:
    """The file and its rotation; only ever used from one thread at a time."""

    def __init__(self, path: str, truncate: bool, rotation: RotationConfig | None):
        self.path = path
        self.rotation = rotation
        self.max_bytes = rotation.max_megabytes * 1024 * 1024 if rotation else 0
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self.file = open(path, "wb" if truncate else "ab")  # noqa: SIM115 - open until close() or rotation
        self.size = self.file.tell()

    def write(self, chunk: bytes) -> None:
        if self.max_bytes and self.size and self.size + len(chunk) > self.max_bytes:
            self._rotate()
        self.file.write(chunk)
        self.size += len(chunk)

    def _rotate(self) -> None:
        self.file.close()
        stem, ext = os.path.splitext(self.path)
        now = time.time()
        assert self.rotation is not None  # rotation happens only when configured
        t = time.localtime(now) if self.rotation.localtime else time.gmtime(now)
        stamp = time.strftime("%Y-%m-%dT%H-%M-%S", t) + f".{int(now * 1000) % 1000:03d}"
        backup = f"{stem}-{stamp}{ext}"
        n = 1
        while os.path.exists(backup):  # several rotations within one millisecond
            backup = f"{stem}-{stamp}.{n}{ext}"
            n += 1
        os.replace(self.path, backup)
        self.file = open(self.path, "wb")  # noqa: SIM115 - open until close() or the next rotation
        self.size = 0
        self._prune(stem, ext)

    def _prune(self, stem: str, ext: str) -> None:
        backups = sorted(glob.glob(glob.escape(stem) + "-*" + glob.escape(ext)), key=os.path.getmtime)
        assert self.rotation is not None
        keep = self.rotation.max_backups
        doomed = backups[:-keep] if keep else []
        if self.rotation.max_days:
            cutoff = time.time() - self.rotation.max_days * 86400
            doomed += [b for b in backups if b not in doomed and os.path.getmtime(b) < cutoff]
        for b in doomed:
            try:
                os.remove(b)
            except FileNotFoundError:
                pass

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class _SharedFile:
    """One writer per path for the exporter instances of every signal (Go's file exporter is one
    component for all its pipelines): the first to start opens it, the last to stop closes it."""

    _open: ClassVar[dict[str, _SharedFile]] = {}

    def __init__(self, writer: _RotatingWriter):
        self.writer = writer
        self.users = 0
        self.lock = threading.Lock()  # one write at a time, whichever signal's thread writes

    @classmethod
    async def acquire(cls, path: str, truncate: bool, rotation) -> _SharedFile:
        key = os.path.realpath(path)
        shared = cls._open.get(key)
        if shared is None:
            shared = cls(await asyncio.to_thread(_RotatingWriter, path, truncate, rotation))
            cls._open[key] = shared
        shared.users += 1
        return shared

    def release(self) -> bool:
        """True when this was the last user (the caller closes the writer)."""
        self.users -= 1
        if self.users:
            return False
        for key, shared in list(self._open.items()):
            if shared is self:
                del self._open[key]
        return True


class FileExporter(Exporter):
    def __init__(self, settings, config: FileExporterConfig):
        super().__init__(settings, None, timeout=0.0)  # local writes: no queue, retry or timeout
        self.config = config
        self._writer: _RotatingWriter | None = None
        self._shared: _SharedFile | None = None
        self._buf: list[Batch] = []
        self._buf_bytes = 0
        self._io_lock = asyncio.Lock()
        self._thread_lock = threading.Lock()
        self._flusher: asyncio.Task | None = None
        self._zstd = None
        if config.compression == "zstd":
            import zstandard

            self._zstd = zstandard.ZstdCompressor()

    async def start_client(self, host) -> None:
        cfg = self.config
        truncate = not cfg.append and cfg.rotation is None
        self._shared = await _SharedFile.acquire(cfg.path, truncate, cfg.rotation)
        self._writer, self._thread_lock = self._shared.writer, self._shared.lock
        if cfg.flush_interval > 0:
            self._flusher = asyncio.create_task(self._flush_loop(), name=f"exporter {self.id} flush")

    async def shutdown_client(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        if self._writer is not None:
            try:
                await self._flush()
            except PermanentError as e:  # counted in _flush; shutdown goes on
                self.log.error("%s", e)
            finally:
                writer, self._writer = self._writer, None
                shared, self._shared = self._shared, None
                try:
                    if shared is None or shared.release():
                        await asyncio.to_thread(writer.close)
                except OSError as e:
                    self.log.error("closing %s failed: %s", self.config.path, e)

    async def push(self, traces: Batch) -> None:
        if self._writer is None:
            raise RetryableError("file exporter is not running")
        self._buf.append(traces)
        self._buf_bytes += len(traces.to_bytes())
        if self.config.flush_interval <= 0 or self._buf_bytes >= _FLUSH_BYTES:
            await self._flush(caller=traces)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_interval)
            if self._buf:
                try:
                    await self._flush()
                except Exception as e:
                    self.log.error("writing to %s failed: %s", self.config.path, e)

    async def _flush(self, caller: Batch | None = None) -> None:
        """Write what is buffered; ``caller`` is the batch whose ``push`` flushes (its failure
        is counted by the exporter helper when the error reaches it)."""
        async with self._io_lock:
            if not self._buf:
                return
            parts, self._buf, self._buf_bytes = self._buf, [], 0
            try:
                await asyncio.to_thread(self._write_sync, parts)
            except OSError as e:
                # the batches were accepted already: they are lost, counted as a failed send
                spans = sum(t.item_count for t in parts)
                self._m_failed_perm.inc(spans - sum(t.item_count for t in parts if t is caller))
                raise PermanentError(f"writing to {self.config.path} failed: {e} (dropped_items={spans})") from e

    def _encode(self, traces: Batch) -> bytes:
        if self.config.format == "json":
            data = request_to_json(traces.message)
            if self._zstd is None:
                return data + b"\n"
        else:
            data = traces.to_bytes()
        if self._zstd is not None:
            data = self._zstd.compress(data)
        return _LEN.pack(len(data)) + data

    def _write_sync(self, parts: list[Batch]) -> None:
        with self._thread_lock:
            writer = self._writer
            assert writer is not None, "file exporter not started"
            for traces in parts:
                writer.write(self._encode(traces))
            writer.flush()


def read_proto_file(path: str) -> list[bytes]:
    """The messages of a ``format: proto`` file (length-prefixed), for tools and tests."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 4 <= len(data):
        (n,) = _LEN.unpack_from(data, pos)
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def _create(settings, config: FileExporterConfig, next_consumer) -> FileExporter:
    return FileExporter(settings, config)


FACTORY = Factory(
    kind="exporter", type="file", config_class=FileExporterConfig, create=_create, stability="alpha", signals=SIGNALS
)
