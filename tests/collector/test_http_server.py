"""The HTTP server every HTTP receiver runs on: real sockets, a real uvicorn."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from otel_lite.collector.component import ConfigError
from otel_lite.collector.http_server import HTTPServer
from tests.collector.conftest import free_port


async def _ok_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _server(port, **kw):
    import logging

    return HTTPServer(_ok_app, f"127.0.0.1:{port}", name="receiver test", log=logging.getLogger("test"), **kw)


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_serves_cuts_off_header_tricklers_and_stops(loop_thread, monkeypatch, parser):
    import otel_lite.collector.http_server as http_server

    if parser == "h11":  # the fallback when httptools is not installed
        monkeypatch.setattr(http_server, "http_protocol", http_server._h11_protocol)
    server = _server(0, read_header_timeout=0.3)
    loop_thread.run(server.start())
    try:
        url = f"http://127.0.0.1:{server.port}/"
        assert requests.get(url, timeout=5).text == "ok"
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as slow:
            slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            answer = slow.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408") and b"read_header_timeout" in answer
            assert slow.recv(4096) == b""  # and the connection is closed
        assert requests.get(url, timeout=5).text == "ok"  # others keep being served
    finally:
        loop_thread.run(server.stop())
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_oversized_headers_are_refused_and_big_bodies_are_not(loop_thread):
    """At most 64 KiB of request line and headers (httptools; the h11 fallback bounds only
    headers that trickle in); a body of any size arriving with the headers does not count."""
    server = _server(0, read_header_timeout=5)
    loop_thread.run(server.start())
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as big:
            big.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Junk: " + b"a" * (70 * 1024) + b"\r\n\r\n")
            answer = big.recv(4096)
            assert answer.startswith((b"HTTP/1.1 431", b"HTTP/1.1 400")), answer[:80]
        body = b"b" * (300 * 1024)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as ok:
            ok.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            assert ok.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        loop_thread.run(server.stop())


def test_a_busy_port_fails_start_with_the_endpoint(loop_thread):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = _server(port)
        with pytest.raises(OSError, match=f"receiver test: cannot listen on HTTP endpoint 127.0.0.1:{port}"):
            loop_thread.run(server.start())
        loop_thread.run(server.stop())  # stopping a server that never started is fine


def test_stop_returns_while_idle_keep_alive_connections_are_open(loop_thread):
    server = _server(free_port())
    loop_thread.run(server.start())
    session = requests.Session()  # keeps its connection open after the response
    assert session.get(f"http://127.0.0.1:{server.port}/", timeout=5).text == "ok"
    try:
        started = time.monotonic()
        loop_thread.run(server.stop(), timeout=10)
        # idle connections are dropped at once instead of waiting out uvicorn's 5 s grace
        assert time.monotonic() - started < 4
    finally:
        session.close()


# ---------------------------------------------------------------------------
# confighttp: the keys every HTTP receiver serves, and what they do on each of them


def test_every_http_receiver_has_the_confighttp_keys():
    from otel_lite.collector.http_server import HTTPServerConfig
    from otel_lite.collector.receivers.jaeger import JaegerReceiverConfig
    from otel_lite.collector.receivers.otlp import OTLPReceiverConfig
    from otel_lite.collector.receivers.zipkin import ZipkinReceiverConfig

    otlp = OTLPReceiverConfig.from_mapping({"protocols": {"http": None}}).protocols.http
    jaeger = JaegerReceiverConfig.from_mapping({"protocols": {"thrift_http": None}}).protocols.thrift_http
    zipkin = ZipkinReceiverConfig.from_mapping({})
    for cfg, endpoint in ((otlp, "127.0.0.1:4318"), (jaeger, "127.0.0.1:14268"), (zipkin, "127.0.0.1:9411")):
        assert isinstance(cfg, HTTPServerConfig) and cfg.endpoint == endpoint
        assert (cfg.max_request_body_size, cfg.read_header_timeout, cfg.read_timeout) == (20 * 1024 * 1024, 10, 30)
        assert "gzip" in cfg.compression_algorithms and cfg.tls is None
    with pytest.raises(ConfigError) as e:
        ZipkinReceiverConfig.from_mapping({"compression_algorithms": ["gzip", "br"]}, "receivers.zipkin")
    assert e.value.path == "receivers.zipkin.compression_algorithms[1]"


ZIPKIN = """
receivers:
  zipkin: {endpoint: "127.0.0.1:0", read_timeout: 300ms, compression_algorithms: ["", gzip]}
  jaeger:
    protocols:
      thrift_http: {endpoint: "127.0.0.1:0", read_timeout: 300ms, compression_algorithms: [""]}
exporters:
  debug: {verbosity: basic}
service:
  pipelines:
    traces: {receivers: [zipkin, jaeger], exporters: [debug]}
  telemetry: {metrics: {level: none}}
"""


def _trickle(port: int, path: str, ctype: str) -> bytes:
    """Headers, then 10 of the 100 body bytes they declare: the answer the receiver gives meanwhile."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
        slow.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: 100\r\n\r\n".encode()
            + b"x" * 10
        )
        answer = b""
        while chunk := slow.recv(4096):  # until the receiver closes the connection
            answer += chunk
        return answer


def test_read_timeout_and_compression_algorithms_on_zipkin_and_jaeger(loop_thread):
    import gzip

    from otel_lite.collector.config import build_config, parse_yaml
    from otel_lite.collector.service import Collector

    collector = loop_thread.call(Collector, build_config(parse_yaml(ZIPKIN)))
    loop_thread.run(collector.start())
    try:
        zipkin = collector.graph.get("receiver", "zipkin").port
        jaeger = collector.graph.get("receiver", "jaeger").http_port
        answer = _trickle(zipkin, "/api/v2/spans", "application/json")
        assert answer.startswith(b"HTTP/1.1 408") and b"read_timeout (0.3s)" in answer
        answer = _trickle(jaeger, "/api/traces", "application/x-thrift")
        assert answer.startswith(b"HTTP/1.1 408") and b"read_timeout (0.3s)" in answer
        url = f"http://127.0.0.1:{zipkin}/api/v2/spans"
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        assert requests.post(url, data=gzip.compress(b"[]"), headers=headers, timeout=5).status_code == 202
        r = requests.post(
            f"http://127.0.0.1:{jaeger}/api/traces",
            data=gzip.compress(b"x"),
            timeout=5,
            headers={"Content-Type": "application/x-thrift", "Content-Encoding": "gzip"},
        )
        assert r.status_code == 400 and "unsupported Content-Encoding 'gzip'" in r.text  # not in its list
    finally:
        loop_thread.run(collector.shutdown())


def _response(conn: socket.socket) -> bytes:
    """One whole response off ``conn`` (headers, then the Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        body += conn.recv(4096)
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_idle_keep_alive_lasts_idle_timeout_and_the_next_request_gets_read_header_timeout(
    loop_thread, monkeypatch, parser
):
    """Between requests a connection may idle for ``idle_timeout`` (longer than ``read_header_timeout``,
    so an SDK exporting every 5 s keeps its connection); once the next request's bytes start, its headers
    have ``read_header_timeout``, as in Go's net/http."""
    import otel_lite.collector.http_server as http_server

    if parser == "h11":
        monkeypatch.setattr(http_server, "http_protocol", http_server._h11_protocol)
    server = _server(0, read_header_timeout=0.4, idle_timeout=2.0)
    loop_thread.run(server.start())
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(request)
            assert _response(conn).startswith(b"HTTP/1.1 200")
            time.sleep(1.0)  # idle past read_header_timeout: still open
            conn.sendall(request)
            assert _response(conn).startswith(b"HTTP/1.1 200")
            conn.sendall(b"GET / HTTP/1.1\r\n")  # the next request's headers start, then stall
            answer = conn.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(request)
            assert _response(conn).startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            assert conn.recv(4096) == b""  # closed by the server once idle_timeout passed
            assert 1.5 <= time.monotonic() - started < 8
    finally:
        loop_thread.run(server.stop())


def test_response_headers_are_on_every_response(loop_thread):
    from otel_lite.collector.http_server import HTTPServerConfig

    cfg = HTTPServerConfig.from_mapping({"endpoint": "127.0.0.1:0", "response_headers": {"X-Served-By": "gw-1"}})
    import logging

    server = cfg.server(_ok_app, name="receiver test", log=logging.getLogger("test"), path="receivers.test")
    loop_thread.run(server.start())
    try:
        ok = requests.get(f"http://127.0.0.1:{server.port}/", timeout=5)
        assert ok.headers["x-served-by"] == "gw-1"
    finally:
        loop_thread.run(server.stop())
    with pytest.raises(ConfigError, match="response_headers"):
        HTTPServerConfig.from_mapping({"endpoint": "127.0.0.1:0", "response_headers": {"Bad:Name": "x"}})
