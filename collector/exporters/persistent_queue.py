"""A sending queue that survives restarts and crashes: one SQLite file (WAL).

Each queued batch is a row (serialized OTLP bytes + span count).  ``put``
returns only after the row is committed, so a batch the receiver acknowledged
is on disk.  A row is deleted only once its send finished (delivered or
permanently failed); on open, every row (unsent or in flight when the process
died) is queued again, oldest first — delivery is at least once.

All SQLite work runs on one dedicated thread (the connection lives there), so
the event loop never blocks on disk.  Concurrent ``put``s are committed
together in one transaction (group commit): one fsync for many batches.
"""

from __future__ import annotations

import asyncio
import collections
import fcntl
import logging
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

from ..consumer import Batch, PermanentError, RetryableError, Traces
from .queue import QueueClosedError, QueueEntry, QueueFullError

__all__ = ["PersistentQueue"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS queue "
    "(id INTEGER PRIMARY KEY AUTOINCREMENT, spans INTEGER NOT NULL, data BLOB NOT NULL)"
)


def _count_requests(traces: Batch) -> int:
    return 1


class PersistentQueue:
    """Implements ``queue.SendingQueue``; capacity in ``measure`` units (requests by default)."""

    keeps_unsent = True

    def __init__(
        self,
        path: str,
        capacity: int,
        fsync: bool = False,
        lock_timeout: float = 1.0,
        logger: logging.Logger | None = None,
        measure=None,
        sizer_name: str = "requests",
        batch_class: type[Batch] = Traces,
    ):
        self._batch_class = batch_class  # one queue holds one signal (its file is named after it)
        self.path = path
        self.capacity = capacity
        self._measure = measure or _count_requests
        self._sizer_name = sizer_name
        self.fsync = fsync
        self.lock_timeout = lock_timeout
        self.log = logger or logging.getLogger("otel_lite.collector.persistent_queue")
        self._exec: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._pending: collections.deque = collections.deque()  # (row id, spans, units) ready to send
        self._waiters: dict[int, asyncio.Future] = {}  # row id -> caller awaiting the outcome
        self._pending_units = 0
        self._in_flight = 0  # units handed out, not yet acknowledged
        self._reserved = 0  # units of puts not yet committed
        self._stored = 0  # spans in rows that are not (being) deleted
        self._to_write: list = []  # (bytes, spans, waiter, commit future)
        self._to_delete: list[int] = []  # ids of rows whose send finished
        self._writer: asyncio.Task | None = None
        self._ready = asyncio.Event()  # set when _pending gained items
        self._room = asyncio.Event()  # set when a batch left the queue
        self._reading = True
        self._closed = False

    # -- size -------------------------------------------------------------------
    def size(self) -> int:
        """Units stored and not yet acknowledged (queued or being sent)."""
        return self._pending_units + self._in_flight

    def stored_spans(self) -> int:
        return self._stored

    # -- thread side ------------------------------------------------------------
    def _call(self, fn, *args):
        return asyncio.get_running_loop().run_in_executor(self._exec, fn, *args)

    def _open_sync(self) -> list[tuple[int, int, int]]:
        self._lock_fd = _lock_file(self.path + ".lock", self.lock_timeout)
        if not os.path.exists(self.path):  # queued telemetry is private to the collector's user
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        conn = sqlite3.connect(self.path, timeout=self.lock_timeout, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
        conn.execute(_SCHEMA)
        self._conn = conn
        rows = conn.execute("SELECT id, spans, length(data) FROM queue ORDER BY id").fetchall()
        units = {
            "requests": lambda spans, size: 1,
            "items": lambda spans, size: spans,
            "bytes": lambda spans, size: size,
        }[self._sizer_name]
        return [(row_id, spans, units(spans, size)) for row_id, spans, size in rows]

    def _commit_sync(self, rows: list[tuple[bytes, int]], deletes: list[int]) -> list[int]:
        """One transaction: insert ``rows`` (returning their ids) and delete finished ids."""
        conn = self._conn
        assert conn is not None, "persistent queue not open"
        ids: list[int] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            if deletes:
                conn.executemany("DELETE FROM queue WHERE id = ?", [(i,) for i in deletes])
            for data, spans in rows:
                ids.append(conn.execute("INSERT INTO queue (spans, data) VALUES (?, ?)", (spans, data)).lastrowid)  # type: ignore[arg-type]  # set by INSERT
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return ids

    def _read_sync(self, row_id: int):
        row = self._conn.execute(  # type: ignore[union-attr]  # open while the queue runs
            "SELECT data FROM queue WHERE id = ?", (row_id,)
        ).fetchone()
        return None if row is None else row[0]

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- loop side ----------------------------------------------------------------
    async def open(self) -> None:
        self._exec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="persistent-queue")
        try:
            rows = await self._call(self._open_sync)
        except BaseException as e:
            await self._call(self._close_sync)
            self._exec.shutdown(wait=False)
            self._exec = None
            if isinstance(e, sqlite3.Error):
                raise RuntimeError(f"cannot open the persistent queue {self.path}: {e}") from e
            raise
        self._pending.extend(rows)
        self._pending_units = sum(units for _, _, units in rows)
        self._stored = sum(spans for _, spans, _ in rows)
        if rows:
            self._ready.set()

    async def put(self, traces: Batch, waiter: asyncio.Future | None = None) -> None:
        """Store ``traces``; returns once committed.  Raises ``QueueFullError`` when full,
        ``QueueClosedError`` once stopped."""
        if self._closed or not self._reading:
            raise QueueClosedError()
        units = self._measure(traces)
        if units > self.capacity:
            raise PermanentError(
                f"request of size {units} is larger than the sending queue's capacity ({self.capacity})"
            )
        if self._pending_units + self._in_flight + self._reserved + units > self.capacity:
            raise QueueFullError()
        self._reserved += units
        committed = asyncio.get_running_loop().create_future()
        self._to_write.append((traces.to_bytes(), traces.item_count, units, waiter, committed))
        self._kick()
        try:
            await asyncio.shield(committed)
        finally:
            self._reserved -= units

    def _kick(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop())

    async def _write_loop(self) -> None:
        """Commit everything queued meanwhile in one transaction, until nothing is left."""
        while self._to_write or self._to_delete:
            batch, self._to_write = self._to_write, []
            deletes, self._to_delete = self._to_delete, []
            try:
                ids = await self._call(self._commit_sync, [(data, spans) for data, spans, _, _, _ in batch], deletes)
            except Exception as e:
                self.log.error("persistent queue write failed: %s", e)
                for _, _, _, _, committed in batch:
                    if not committed.done():
                        committed.set_exception(RetryableError(f"persistent queue write failed: {e}"))
                # unsent deletes are harmless: those batches are sent again after a restart
                continue
            for row_id, (_, spans, units, waiter, committed) in zip(ids, batch, strict=True):
                self._pending.append((row_id, spans, units))
                self._pending_units += units
                self._stored += spans
                if waiter is not None:
                    self._waiters[row_id] = waiter
                if not committed.done():
                    committed.set_result(row_id)
            if batch:
                self._ready.set()

    async def get(self, timeout: float | None = None) -> QueueEntry | None:
        """The oldest stored entry; None after ``timeout`` or once ``stop`` was called."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if not self._reading:
                return None
            if self._pending:
                row_id, spans, units = self._pending.popleft()
                self._pending_units -= units
                self._in_flight += units
                try:  # shielded: a caller's timeout must not lose a row being read
                    data = await asyncio.shield(self._call(self._read_sync, row_id))
                except BaseException:
                    self._in_flight -= units
                    self._pending_units += units
                    self._pending.appendleft((row_id, spans, units))
                    raise
                if data is None:  # vanished (should not happen): nothing to send
                    self._in_flight -= units
                    continue
                return QueueEntry(
                    self._batch_class.from_bytes(data, spans), units, self._waiters.pop(row_id, None), row_id
                )
            self._ready.clear()
            if deadline is None:
                await self._ready.wait()
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._ready.wait(), remaining)
            except TimeoutError:
                return None

    async def ack(self, entry: QueueEntry, keep: bool = False) -> None:
        """The send of ``entry`` finished; unless ``keep`` its row is deleted (else it is sent
        again after a restart).  The delete is committed with the next group commit: a crash
        before it only means the batch is sent once more."""
        self._in_flight -= entry.units
        self._room.set()
        if not keep:
            self._stored -= entry.traces.item_count
            self._to_delete.append(entry.handle)
            self._kick()

    async def wait_for_room(self) -> None:
        """Returns when an entry left the queue (or the queue stopped)."""
        self._room.clear()
        if self._reading:
            await self._room.wait()

    def stop(self) -> None:
        """Stop handing out and taking in: what is stored stays for the next start."""
        self._reading = False
        self._ready.set()
        self._room.set()

    def take_remaining(self) -> list[QueueEntry]:
        return []  # everything left is stored

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop()
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._to_delete:  # a done() raced with the last commit
            self._kick()
            await asyncio.gather(self._writer, return_exceptions=True)  # type: ignore[arg-type]  # _kick starts it
        if self._exec is not None:
            await self._call(self._close_sync)
            self._exec.shutdown(wait=True)
            self._exec = None


def _lock_file(path: str, timeout: float) -> int:
    """Hold an exclusive lock on ``path`` so two collectors never share one queue."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise RuntimeError(f"storage file {path} is locked by another process") from None
            time.sleep(0.05)
