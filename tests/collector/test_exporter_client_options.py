"""The Go client keys operators' exporter configs carry, doing what they do in Go: gRPC ``wait_for_ready``
and ``keepalive`` (HTTP/2 PING frames seen on the wire), HTTP ``proxy_url``, ``disable_keep_alives``,
``cookies``, ``compression_params``; and the ones that cannot apply here loading with their reason."""

from __future__ import annotations

import asyncio
import gzip

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.consumer import RetryableError
from otel_lite.collector.pipeline import Host
from tests.support.otlp_sink import OtlpSink

from .conftest import free_port
from .exporter_util import make_exporter, make_traces

NO_RETRY = {"retry_on_failure": {"enabled": False}, "sending_queue": {"enabled": False}}
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class CountingProxy:
    """A TCP proxy on loopback that counts connections and the HTTP/2 PING frames (not ACKs) the client
    sends, by reading the frames of the client-to-server direction."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.connections = 0
        self.pings = 0
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> CountingProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers.update((writer, up_writer))

        async def pipe(src, dst, frames: bool) -> None:
            buffer = b""
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
                    if frames:
                        buffer = self._count_pings(buffer + data)
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))

    def _count_pings(self, buffer: bytes) -> bytes:
        if buffer.startswith(_PREFACE[: len(buffer)]) and len(buffer) <= len(_PREFACE):
            return buffer
        if buffer.startswith(_PREFACE):
            buffer = buffer[len(_PREFACE) :]
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + length:
                break
            frame_type, flags = buffer[3], buffer[4]
            if frame_type == 0x6 and not flags & 0x1:
                self.pings += 1
            buffer = buffer[9 + length :]
        return buffer


def test_grpc_wait_for_ready_waits_for_the_backend_instead_of_failing():
    port = free_port()

    async def scenario(wait: bool):
        exp, _ = make_exporter(
            "otlp_grpc",
            {"endpoint": f"127.0.0.1:{port}", "tls": {"insecure": True}, "wait_for_ready": wait, "timeout": "15s"}
            | NO_RETRY,
        )
        await exp.start(Host())
        try:
            if not wait:
                with pytest.raises(RetryableError):
                    await exp.consume(make_traces(2))
                return None
            send = asyncio.ensure_future(exp.consume(make_traces(2)))
            await asyncio.sleep(1.0)
            assert not send.done()  # waiting for the backend, not failed
            with OtlpSink(http=False, grpc_port=port) as sink:
                await asyncio.wait_for(send, 15)
                return len(sink.spans())
        finally:
            await exp.shutdown()

    assert asyncio.run(scenario(False)) is None  # Go's default: fail at once, the queue retries
    assert asyncio.run(scenario(True)) == 2


@pytest.mark.parametrize("keepalive", [True, False])
def test_grpc_keepalive_pings_an_idle_connection(otlp_sink, keepalive):
    async def scenario() -> tuple[int, int]:
        target = int(otlp_sink.grpc_endpoint.rpartition(":")[2])
        async with CountingProxy(target) as proxy:
            config = {"endpoint": f"127.0.0.1:{proxy.port}", "tls": {"insecure": True}} | NO_RETRY
            if keepalive:
                config["keepalive"] = {"time": "500ms", "timeout": "5s", "permit_without_stream": True}
            exp, _ = make_exporter("otlp_grpc", config)
            await exp.start(Host())
            try:
                await exp.consume(make_traces(3))
                await asyncio.sleep(0.5)
                before = proxy.pings  # gRPC's own pings (settings, BDP) while it sent
                await asyncio.sleep(3.0)  # idle: only keepalive pings now
                return proxy.pings - before, proxy.connections
            finally:
                await exp.shutdown()

    idle_pings, connections = asyncio.run(scenario())
    assert connections == 1
    assert len(otlp_sink.spans()) == 3
    if keepalive:
        assert idle_pings >= 1
    else:
        assert idle_pings == 0


class RecordingBackend:
    """An HTTP/1.1 origin (or, asked in absolute form, a forward proxy) that records each request's line,
    headers and body and answers 200 with an empty export response and a cookie."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> RecordingBackend:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *header_lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((line, headers, body))
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nSet-Cookie: lb=node-1; Path=/\r\n"
                    b"Content-Length: 0\r\n\r\n"
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _spans(body: bytes, headers: dict[str, str]) -> int:
    if headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    request = ExportTraceServiceRequest.FromString(body)
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


async def _send_http(config: dict, batches: int = 1) -> None:
    exp, _ = make_exporter("otlp_http", config | NO_RETRY)
    await exp.start(Host())
    try:
        for _ in range(batches):
            await exp.consume(make_traces(2))
    finally:
        await exp.shutdown()


def test_http_proxy_url_sends_through_the_proxy():
    unreachable = f"http://backend.invalid:{free_port()}"  # only the proxy can reach it (it answers itself)

    async def scenario():
        async with RecordingBackend() as proxy:
            await _send_http({"endpoint": unreachable, "proxy_url": f"http://127.0.0.1:{proxy.port}"})
            return proxy.requests

    (line, headers, body), *_ = asyncio.run(scenario())
    assert line == f"POST {unreachable}/v1/traces HTTP/1.1"  # the absolute form a proxy is asked
    assert _spans(body, headers) == 2


@pytest.mark.parametrize(("disable", "connections"), [(False, 1), (True, 3)])
def test_http_disable_keep_alives_opens_a_connection_per_request(disable, connections):
    async def scenario():
        async with RecordingBackend() as backend:
            url = f"http://127.0.0.1:{backend.port}"
            await _send_http({"endpoint": url, "disable_keep_alives": disable}, batches=3)
            return backend.connections, len(backend.requests)

    assert asyncio.run(scenario()) == (connections, 3)


@pytest.mark.parametrize("enabled", [False, True])
def test_http_cookies_are_kept_only_when_enabled(enabled):
    async def scenario():
        async with RecordingBackend() as backend:
            url = f"http://127.0.0.1:{backend.port}"
            await _send_http({"endpoint": url, "cookies": {"enabled": enabled}}, batches=2)
            return [headers.get("cookie") for _, headers, _ in backend.requests]

    first, second = asyncio.run(scenario())
    assert first is None
    assert second == ("lb=node-1" if enabled else None)


def test_http_compression_level_is_the_compressors():
    async def scenario(level: int):
        async with RecordingBackend() as backend:
            url = f"http://127.0.0.1:{backend.port}"
            await _send_http({"endpoint": url, "compression": "gzip", "compression_params": {"level": level}})
            return backend.requests[0]

    for level, xfl in ((1, 4), (9, 2)):  # gzip's XFL byte: 4 = fastest, 2 = best (RFC 1952)
        _, headers, body = asyncio.run(scenario(level))
        assert body[8] == xfl and _spans(body, headers) == 2


def test_keys_that_cannot_apply_here_load():
    make_exporter(
        "otlp_grpc",
        {"endpoint": "127.0.0.1:4317", "read_buffer_size": 524288, "write_buffer_size": 524288, "authority": "x"},
    )
    make_exporter(
        "otlp_http",
        {
            "endpoint": "http://127.0.0.1:4318",
            "http2_ping_timeout": "10s",
            "http2_read_idle_timeout": "10s",
            "read_buffer_size": 0,
            "write_buffer_size": 524288,
            "max_idle_conns_per_host": 10,
            "max_conns_per_host": 4,
            "idle_conn_timeout": "90s",
        },
    )
    with pytest.raises(Exception, match=r"compression_params\.level: gzip takes 1 to 9"):
        make_exporter("otlp_http", {"endpoint": "http://x:4318", "compression_params": {"level": 12}})
    with pytest.raises(Exception, match="proxy_url: invalid proxy URL"):
        make_exporter("otlp_http", {"endpoint": "http://x:4318", "proxy_url": "socks5:/x"})
