"""The persistent sending queue and the file_storage extension: data the
exporter acknowledged survives shutdown, restart and kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from otel_lite.collector.component import ComponentID, ConfigError, CreateSettings
from otel_lite.collector.consumer import RetryableError
from otel_lite.collector.exporters.helper import QueueFullError
from otel_lite.collector.exporters.persistent_queue import PersistentQueue
from otel_lite.collector.extensions.file_storage import (
    FACTORY as FS_FACTORY,
)
from otel_lite.collector.extensions.file_storage import (
    FileStorageConfig,
    client_file_name,
    default_directory,
)
from otel_lite.collector.pipeline import Host
from otel_lite.collector.telemetry import Telemetry
from tests.support.otlp_sink import OtlpSink

from . import exporter_pq_child as child
from .conftest import free_port
from .exporter_util import make_exporter, make_traces, metric

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rows(path: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM queue").fetchone()[0]
    finally:
        conn.close()


def test_queue_roundtrip_and_reopen_requeues_in_flight_items(tmp_path):
    path = str(tmp_path / "q")

    async def first():
        q = PersistentQueue(path, capacity=10)
        await q.open()
        for i in range(3):
            await q.put(make_traces(2, i))
        assert q.size() == 3
        entry = await q.get()  # taken but never finished: "in flight" when we stop
        assert entry.traces.span_count == 2
        assert entry.traces.message.resource_spans[0].scope_spans[0].spans[0].name == "s0-0"
        done = await q.get()
        await q.ack(done)
        assert q.size() == 2
        await q.close()

    async def second():
        q = PersistentQueue(path, capacity=10)
        await q.open()
        assert q.size() == 2
        names = []
        for _ in range(2):
            e = await q.get()
            names.append(e.traces.message.resource_spans[0].scope_spans[0].spans[0].name)
            await q.ack(e)
        assert names == ["s0-0", "s2-0"]  # the in-flight item first, in order
        await q.close()

    asyncio.run(first())
    asyncio.run(second())
    assert rows(path) == 0


def test_queue_capacity_and_group_commit(tmp_path):
    async def main():
        q = PersistentQueue(str(tmp_path / "q"), capacity=5, fsync=True)
        await q.open()
        await asyncio.gather(*(q.put(make_traces(1, i)) for i in range(5)))  # committed together
        assert q.size() == 5
        with pytest.raises(QueueFullError):
            await q.put(make_traces(1))
        q.stop()
        assert await q.get() is None
        await q.close()
        with pytest.raises(RetryableError):
            await q.put(make_traces(1))

    asyncio.run(main())
    assert rows(str(tmp_path / "q")) == 5


def test_one_file_one_owner(tmp_path):
    async def main():
        a = PersistentQueue(str(tmp_path / "q"), capacity=5, lock_timeout=0.1)
        await a.open()
        b = PersistentQueue(str(tmp_path / "q"), capacity=5, lock_timeout=0.1)
        with pytest.raises(RuntimeError, match="locked"):
            await b.open()
        await a.close()

    asyncio.run(main())


def test_file_storage_names_and_directory(tmp_path):
    assert (
        client_file_name("exporter", ComponentID("otlp_grpc", "backend"), "traces")
        == "exporter_otlp_grpc_backend_traces"
    )
    assert client_file_name("exporter", ComponentID("otlp", "a b"), "") == "exporter_otlp_a~0020b"
    assert default_directory()  # either the Go default or a per-user state directory
    cfg = FileStorageConfig.from_mapping({"directory": str(tmp_path / "new" / "dir")})
    assert (cfg.fsync, cfg.create_directory, cfg.timeout) == (False, True, 1.0)
    ext = FS_FACTORY.create(CreateSettings(ComponentID("file_storage"), "extension", Telemetry()), cfg, None)
    asyncio.run(ext.start(Host()))
    assert os.path.isdir(tmp_path / "new" / "dir")
    client = ext.get_client("exporter", ComponentID("otlp_grpc"), "traces")
    assert client.path == str(tmp_path / "new" / "dir" / "exporter_otlp_grpc__traces")

    cfg = FileStorageConfig.from_mapping({"directory": str(tmp_path / "missing"), "create_directory": False})
    ext = FS_FACTORY.create(CreateSettings(ComponentID("file_storage"), "extension", Telemetry()), cfg, None)
    with pytest.raises(ConfigError, match="does not exist"):
        asyncio.run(ext.start(Host()))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        FileStorageConfig.from_mapping({"directory": str(tmp_path / "file")})


def test_storage_extension_must_exist():
    async def main():
        exp, _ = make_exporter(
            "otlp",
            {
                "endpoint": "127.0.0.1:1",
                "tls": {"insecure": True},
                "sending_queue": {"storage": "file_storage/missing"},
            },
        )
        with pytest.raises(ConfigError, match="not found"):
            await exp.start(Host())
        await exp.shutdown()

    asyncio.run(main())


def test_acknowledged_batches_survive_shutdown_and_are_sent_after_restart(tmp_path):
    down = f"127.0.0.1:{free_port()}"
    db = str(tmp_path / "exporter_otlp_grpc_backend_traces")

    async def first_run():
        tel = Telemetry()
        exp, fs = await child.build(str(tmp_path), down, tel)
        for i in range(5):
            await exp.consume(make_traces(3, i))
        assert metric(tel, "otelcol_exporter_queue_size", exporter="otlp_grpc/backend", data_type="traces") == 5
        await asyncio.wait_for(exp.shutdown(), 20)  # persistent queue: stop reading, keep rows
        await fs.shutdown()

    asyncio.run(first_run())
    assert rows(db) == 5

    with OtlpSink(http=False) as sink:

        async def second_run():
            tel = Telemetry()
            exp, fs = await child.build(str(tmp_path), sink.grpc_endpoint, tel)
            assert await asyncio.to_thread(sink.wait_for_spans, 15, 20)
            deadline = time.monotonic() + 10
            while (
                metric(tel, "otelcol_exporter_queue_size", exporter="otlp_grpc/backend", data_type="traces")
                and time.monotonic() < deadline
            ):
                await asyncio.sleep(0.01)
            await exp.shutdown()
            await fs.shutdown()
            assert metric(tel, "otelcol_exporter_sent_spans_total", exporter="otlp_grpc/backend") == 15

        asyncio.run(second_run())
        assert sorted(s.name for s in sink.spans()) == sorted(f"s{i}-{j}" for i in range(5) for j in range(3))
    assert rows(db) == 0


def test_wait_for_result_with_persistent_queue_surfaces_permanent_errors(tmp_path):
    import grpc

    with OtlpSink(http=False) as sink:

        async def main():
            host = Host()
            fs = FS_FACTORY.create(
                CreateSettings(ComponentID("file_storage"), "extension", Telemetry()),
                FileStorageConfig.from_mapping({"directory": str(tmp_path)}),
                None,
            )
            await fs.start(host)
            host.extensions[ComponentID("file_storage")] = fs
            exp, _tel = make_exporter(
                "otlp",
                {
                    "endpoint": sink.grpc_endpoint,
                    "tls": {"insecure": True},
                    "sending_queue": {"storage": "file_storage", "wait_for_result": True},
                },
                host=host,
            )
            await exp.start(host)
            await exp.consume(make_traces(2))
            sink.fail_next(1, grpc_code=grpc.StatusCode.INVALID_ARGUMENT)
            from otel_lite.collector.consumer import PermanentError

            with pytest.raises(PermanentError):
                await exp.consume(make_traces(2))
            await exp.shutdown()
            await fs.shutdown()

        asyncio.run(main())
        assert sink.span_count() == 2
    assert rows(str(tmp_path / "exporter_otlp_grpc__traces")) == 0  # the refused batch is not kept


def test_kill_9_loses_no_acknowledged_span(tmp_path):
    """A collector process acknowledges batches while its backend is down and
    is SIGKILLed mid-retry; the next run delivers every acknowledged span."""
    down = f"127.0.0.1:{free_port()}"
    batches, per = 30, 4
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.collector.exporter_pq_child", str(tmp_path), down, str(batches), str(per)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    acked = []
    try:
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if line.startswith("ACK "):
                acked.append(int(line.split()[1]))
            if line.startswith("DONE") or time.monotonic() > deadline:
                break
        time.sleep(0.2)  # let the consumers pick items up and sit in retries
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert acked == list(range(batches))

    with OtlpSink(http=False) as sink:

        async def restart():
            tel = Telemetry()
            exp, fs = await child.build(str(tmp_path), sink.grpc_endpoint, tel)
            ok = await asyncio.to_thread(sink.wait_for_spans, batches * per, 30)
            await exp.shutdown()
            await fs.shutdown()
            return ok

        assert asyncio.run(restart())
        names = {s.name for s in sink.spans()}
    expected = {f"s{i}-{j}" for i in acked for j in range(per)}
    assert expected <= names  # at least once


def test_corrupt_queue_file_fails_start_clearly(tmp_path):
    path = tmp_path / "q"
    path.write_bytes(b"this is not a database" * 100)

    async def main():
        q = PersistentQueue(str(path), capacity=5)
        with pytest.raises(RuntimeError, match="cannot open the persistent queue"):
            await q.open()

    asyncio.run(main())


def test_persistent_block_on_overflow_waits_for_room(tmp_path):
    with OtlpSink(http=False) as sink:
        sink.delay = 0.05

        async def main():
            host = Host()
            fs = FS_FACTORY.create(
                CreateSettings(ComponentID("file_storage"), "extension", Telemetry()),
                FileStorageConfig.from_mapping({"directory": str(tmp_path)}),
                None,
            )
            await fs.start(host)
            host.extensions[ComponentID("file_storage")] = fs
            exp, tel = make_exporter(
                "otlp",
                {
                    "endpoint": sink.grpc_endpoint,
                    "tls": {"insecure": True},
                    "sending_queue": {
                        "storage": "file_storage",
                        "queue_size": 1,
                        "num_consumers": 1,
                        "block_on_overflow": True,
                    },
                },
                host=host,
            )
            await exp.start(host)
            await asyncio.wait_for(asyncio.gather(*(exp.consume(make_traces(1, i)) for i in range(4))), 20)
            assert await asyncio.to_thread(sink.wait_for_spans, 4, 20)
            await exp.shutdown()
            await fs.shutdown()
            assert metric(tel, "otelcol_exporter_enqueue_failed_spans_total", exporter="otlp_grpc") == 0

        asyncio.run(main())
        assert sorted(s.name for s in sink.spans()) == [f"s{i}-0" for i in range(4)]
