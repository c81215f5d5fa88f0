"""The HTTP server every HTTP receiver runs on: real sockets, a real uvicorn."""
from __future__ import annotations

import socket
import time

import pytest
import requests

from collector.http_server import HTTPServer
from tests.collector.conftest import free_port


async def _ok_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _server(port, **kw):
    import logging

    return HTTPServer(_ok_app, f"127.0.0.1:{port}", name="receiver test", log=logging.getLogger("test"), **kw)


def test_serves_cuts_off_header_tricklers_and_stops(loop_thread):
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
