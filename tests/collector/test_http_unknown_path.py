"""A path no route serves is answered 404 with a ``google.rpc.Status`` body, by every HTTP receiver
(the shared ``HTTPServerConfig.server`` installs it): JSON, or protobuf for ``application/x-protobuf``."""

from __future__ import annotations

import json
import logging

import pytest
import requests
from google.rpc import status_pb2

from otel_lite.collector.http_server import HTTPServerConfig
from tests.collector.conftest import free_port
from tests.support.collector_process import CollectorProcess

NOT_FOUND = 5  # google.rpc.Code.NOT_FOUND
JSON, PROTO = "application/json", "application/x-protobuf"


def _status(resp: requests.Response) -> status_pb2.Status:
    """The 404's body as a google.rpc.Status, parsed from the encoding the response says it has."""
    assert resp.status_code == 404, resp.text
    ctype = resp.headers["content-type"].split(";")[0]
    if ctype == PROTO:
        return status_pb2.Status.FromString(resp.content)
    assert ctype == JSON, ctype
    data = json.loads(resp.content)
    assert set(data) == {"code", "message"}, data
    return status_pb2.Status(code=data["code"], message=data["message"])


def _apps():
    from fastapi import FastAPI, HTTPException
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def ok(request):
        return Response(b"ok")

    async def gone(request):
        raise HTTPException(404, "no such trace")

    fast = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    fast.add_route("/v1/traces", ok, methods=["POST"])
    fast.add_route("/v1/gone", gone, methods=["GET"])
    plain = Starlette(routes=[Route("/v1/traces", ok, methods=["POST"]), Route("/v1/gone", gone, methods=["GET"])])
    return {"fastapi": fast, "starlette": plain}


@pytest.mark.parametrize("kind", ["fastapi", "starlette"])
def test_shared_server_answers_unknown_paths_with_a_status(loop_thread, kind):
    app = _apps()[kind]
    server = HTTPServerConfig(endpoint=f"127.0.0.1:{free_port()}").server(
        app, name="receiver test", log=logging.getLogger("test"), path="receivers.test"
    )
    loop_thread.run(server.start())
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert requests.post(base + "/v1/traces", timeout=10).text == "ok"  # served paths are untouched

        as_json = _status(requests.post(base + "/x", data=b"{}", headers={"content-type": JSON}, timeout=10))
        assert as_json.code == NOT_FOUND
        assert as_json.message.startswith("receiver test: unknown path /x (this receiver serves: /v1/traces")

        as_proto = requests.post(base + "/v1/logs", data=b"\x0a\x00", headers={"content-type": PROTO}, timeout=10)
        assert as_proto.headers["content-type"] == PROTO
        status = _status(as_proto)
        assert status.code == NOT_FOUND and "unknown path /v1/logs" in status.message

        # no content type (curl, a browser): readable JSON
        assert _status(requests.get(base + "/", timeout=10)).code == NOT_FOUND
        # a route's own 404 keeps its words, in the same shape
        own = _status(requests.get(base + "/v1/gone", headers={"content-type": JSON}, timeout=10))
        assert own.code == NOT_FOUND and own.message == "receiver test: no such trace"
    finally:
        loop_thread.run(server.stop())


def test_every_http_receiver_of_a_running_collector(tmp_path):
    zipkin_port, jaeger_port = free_port(), free_port()

    def config(c):
        return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{c.grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{c.http_port}"}}
  zipkin: {{endpoint: "127.0.0.1:{zipkin_port}"}}
  jaeger:
    protocols:
      thrift_http: {{endpoint: "127.0.0.1:{jaeger_port}"}}
exporters:
  debug: {{}}
service:
  telemetry: {{metrics: {{address: "127.0.0.1:{c.metrics_port}"}}}}
  pipelines:
    traces: {{receivers: [otlp, zipkin, jaeger], exporters: [debug]}}
"""

    c = CollectorProcess(config, str(tmp_path))
    c.start()
    try:
        for port, name, serves in (
            (c.http_port, "otlp", "/v1/traces"),
            (zipkin_port, "zipkin", "/api/v2/spans"),
            (jaeger_port, "jaeger", "/api/traces"),
        ):
            for ctype in (JSON, PROTO):
                resp = requests.post(
                    f"http://127.0.0.1:{port}/nope", data=b"", headers={"content-type": ctype}, timeout=10
                )
                assert resp.headers["content-type"] == ctype, (name, resp.headers)
                status = _status(resp)
                assert status.code == NOT_FOUND, (name, status)
                assert f"receiver {name}: unknown path /nope" in status.message, status.message
                assert serves in status.message, status.message
    finally:
        c.stop()
