"""Pre-fork servers: each worker exports its own spans with its own process identity, whether
``configure()`` runs in the worker (gunicorn's ``post_fork``) or once in the master before the fork.

The gunicorn tests run the real server (sync workers) on a free loopback port against a real OTLP sink.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import otel_lite
from otel_lite.resource import Resource

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _in_child(body) -> int:
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            code = body()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_provider_made_before_fork_reports_the_childs_pid_and_instance_id():
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("prefork")
    parent = dict(provider.resource.attributes)
    assert parent["process.pid"] == os.getpid()

    def child() -> int:
        span = tracer.start_span("in-child")
        span.end()
        attributes = span.resource.attributes
        if attributes["process.pid"] != os.getpid():
            return 3
        if attributes["service.instance.id"] == parent["service.instance.id"]:
            return 4
        if provider.get_tracer("another").start_span("x").resource is not span.resource:
            return 5
        return 0 if attributes["service.name"] == parent["service.name"] else 6

    assert _in_child(child) == 0
    assert dict(provider.resource.attributes) == parent  # the parent's stays the parent's


def test_attributes_the_user_set_survive_the_fork():
    resource = Resource({"service.name": "svc", "service.instance.id": "mine", "process.pid": 1})
    provider = otel_lite.TracerProvider(shutdown_on_exit=False, resource=resource)

    def child() -> int:
        return 0 if provider.resource is resource else 3

    assert _in_child(child) == 0


# -- gunicorn ---------------------------------------------------------------------------------------

APP = """
import os
from opentelemetry import trace
{configure}

def app(environ, start_response):
    with trace.get_tracer("app").start_as_current_span("handle", attributes={{"worker.pid": os.getpid()}}):
        import time
        time.sleep(0.05)  # keeps a worker busy, so that both serve requests
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""

POST_FORK_CONFIG = """
def post_fork(server, worker):
    import otel_lite
    otel_lite.configure()
"""


def _env(sink) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            "OTEL_SERVICE_NAME": "prefork-app",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
    )
    return env


def _listening_url(server, pattern: str, deadline: float) -> str:
    assert server.stderr is not None
    while time.monotonic() < deadline:
        line = server.stderr.readline()
        if not line:
            break
        match = re.search(pattern, line)
        if match:
            return f"http://127.0.0.1:{match.group(1)}/"
    raise AssertionError("the server did not start")


def _stop(server, stop_signal=signal.SIGTERM) -> None:
    server.send_signal(stop_signal)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    if server.stderr is not None:
        server.stderr.close()


def _spans_by_worker(sink) -> dict:
    """{worker pid (the span's worker.pid attribute): [resource attributes of each of its spans]}"""
    by_pid: dict = {}
    for request in sink.requests:
        for resource_spans in request.resource_spans:
            resource = {
                kv.key: kv.value.string_value or kv.value.int_value for kv in resource_spans.resource.attributes
            }
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    worker = next(kv.value.int_value for kv in span.attributes if kv.key == "worker.pid")
                    by_pid.setdefault(worker, []).append(resource)
    return by_pid


def _serve_and_collect(
    tmp_path, sink, app: str, command: list, url_pattern: str, stop_signal=signal.SIGTERM
) -> tuple[set, dict, int]:
    """Run the server, send concurrent requests, return (worker pids that answered, {pid: resource
    attributes of the spans exported for that pid}, master pid)."""
    (tmp_path / "app.py").write_text(textwrap.dedent(app))
    server = subprocess.Popen(
        command, cwd=tmp_path, env=_env(sink), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        url = _listening_url(server, url_pattern, time.monotonic() + 30)

        def get(_):
            with urllib.request.urlopen(url, timeout=10) as response:
                return int(response.read())

        with ThreadPoolExecutor(4) as pool:
            pids = set(pool.map(get, range(24)))
        assert sink.wait_for_spans(24, timeout=15)
        return pids, _spans_by_worker(sink), server.pid
    finally:
        _stop(server, stop_signal)


def _gunicorn(tmp_path, sink, app: str, config: str, *extra: str):
    pytest.importorskip("gunicorn")
    (tmp_path / "gunicorn_conf.py").write_text(textwrap.dedent(config))
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        "2",
        "-b",
        "127.0.0.1:0",
        "-c",
        "gunicorn_conf.py",
        *extra,
        "app:app",
    ]
    return _serve_and_collect(tmp_path, sink, app, command, r"Listening at: http://127\.0\.0\.1:(\d+)")


def _assert_each_worker_reports_itself(pids: set, by_pid: dict, master: int) -> None:
    assert master not in pids and set(by_pid) == pids
    instance_ids = set()
    for pid, resources in by_pid.items():
        assert {r["process.pid"] for r in resources} == {pid}
        assert {r["service.name"] for r in resources} == {"prefork-app"}
        (instance_id,) = {r["service.instance.id"] for r in resources}
        instance_ids.add(instance_id)
    assert len(instance_ids) == len(pids)  # one service instance per worker


def test_gunicorn_configure_in_post_fork(tmp_path, otlp_sink):
    pids, by_pid, master = _gunicorn(tmp_path, otlp_sink, APP.format(configure=""), POST_FORK_CONFIG)
    _assert_each_worker_reports_itself(pids, by_pid, master)


def test_gunicorn_configure_in_the_master_with_preload(tmp_path, otlp_sink):
    """configure() at import of a preloaded app runs once, in the master: the workers inherit the
    provider, and each exports with its own worker thread, connection, pid and instance id."""
    app = APP.format(configure="import otel_lite\notel_lite.configure()")
    pids, by_pid, master = _gunicorn(tmp_path, otlp_sink, app, "", "--preload")
    _assert_each_worker_reports_itself(pids, by_pid, master)


@pytest.mark.parametrize("server_name", ["gunicorn", "uwsgi"])
def test_workers_flush_their_spans_when_they_exit(tmp_path, otlp_sink, server_name):
    """With a schedule delay longer than the test, the spans arrive only through the provider's exit hook
    in each worker: gunicorn's and uWSGI's workers run the interpreter's exit hooks."""
    if server_name == "gunicorn":
        pytest.importorskip("gunicorn")
        (tmp_path / "app.py").write_text(textwrap.dedent(APP.format(configure="")))
        (tmp_path / "gunicorn_conf.py").write_text(textwrap.dedent(POST_FORK_CONFIG))
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "-b",
            "127.0.0.1:0",
            "-c",
            "gunicorn_conf.py",
            "app:app",
        ]
        pattern = r"Listening at: http://127\.0\.0\.1:(\d+)"
    else:
        uwsgi = _uwsgi()
        app = APP.format(configure=UWSGI_POSTFORK).replace("def app(", "def application(")
        (tmp_path / "app.py").write_text(textwrap.dedent(app))
        command = [
            uwsgi,
            "--master",
            "--processes",
            "2",
            "--enable-threads",
            "--wsgi-file",
            "app.py",
            "--http-socket",
            "127.0.0.1:0",
            "--die-on-term",
        ]
        pattern = r"bound to TCP address 127\.0\.0\.1:(\d+)"
    env = _env(otlp_sink)
    env["OTEL_BSP_SCHEDULE_DELAY"] = "600000"
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        url = _listening_url(server, pattern, time.monotonic() + 30)
        for _ in range(6):
            with urllib.request.urlopen(url, timeout=10) as response:
                response.read()
        assert otlp_sink.span_count() == 0
    finally:
        _stop(server)
    assert otlp_sink.wait_for_spans(6, timeout=15)


def _uwsgi() -> str:
    uwsgi = shutil.which("uwsgi") or str(Path(sys.executable).with_name("uwsgi"))
    if not Path(uwsgi).exists():
        pytest.skip("uWSGI is not installed")
    return uwsgi


# -- uWSGI ------------------------------------------------------------------------------------------

UWSGI_POSTFORK = """
import otel_lite
from uwsgidecorators import postfork

@postfork
def _configure():
    otel_lite.configure()
"""


@pytest.mark.parametrize("mode", ["postfork", "master", "master-fork-hooks", "lazy-apps"])
def test_uwsgi(tmp_path, otlp_sink, mode):
    """@postfork; configure() at module level without --lazy-apps (the app loads in the master; uWSGI runs
    Python's at-fork hooks only with --py-call-uwsgi-fork-hooks, otel_lite also joins uWSGI's post-fork
    chain, and runs once when both fire); and with --lazy-apps (module level is in each worker)."""
    uwsgi = _uwsgi()
    configure = UWSGI_POSTFORK if mode == "postfork" else "import otel_lite\notel_lite.configure()"
    app = APP.format(configure=configure).replace("def app(", "def application(")
    command = [
        uwsgi,
        "--master",
        "--processes",
        "2",
        "--enable-threads",
        "--wsgi-file",
        "app.py",
        "--http-socket",
        "127.0.0.1:0",
        "--die-on-term",
    ]
    if mode == "lazy-apps":
        command.append("--lazy-apps")
    if mode == "master-fork-hooks":
        command.append("--py-call-uwsgi-fork-hooks")
    pids, by_pid, master = _serve_and_collect(
        tmp_path, otlp_sink, app, command, r"bound to TCP address 127\.0\.0\.1:(\d+)"
    )
    _assert_each_worker_reports_itself(pids, by_pid, master)


# -- celery (prefork pool) --------------------------------------------------------------------------

TASKS = """
import os
from celery import Celery
from celery import signals
from opentelemetry import trace
{configure}

HERE = os.path.dirname(os.path.abspath(__file__))
app = Celery("tasks", broker="filesystem://")
app.conf.broker_transport_options = {{"data_folder_in": os.path.join(HERE, "queue"),
                                     "data_folder_out": os.path.join(HERE, "queue"),
                                     "processed_folder": os.path.join(HERE, "processed")}}


@app.task
def work(i):
    with trace.get_tracer("tasks").start_as_current_span("work", attributes={{"worker.pid": os.getpid()}}):
        import time
        time.sleep(0.05)  # keeps a pool process busy, so that both take tasks
    return i
"""

CELERY_PROCESS_INIT = """
import otel_lite

@signals.worker_process_init.connect
def _configure(**kwargs):
    otel_lite.configure()

@signals.worker_process_shutdown.connect
def _flush(**kwargs):  # pool processes end with os._exit: the provider's exit hook does not run
    from opentelemetry import trace
    trace.get_tracer_provider().shutdown()
"""


@pytest.mark.parametrize("mode", ["worker_process_init", "master"])
def test_celery_prefork(tmp_path, otlp_sink, mode):
    """worker_process_init (with a schedule delay longer than the test: the spans are the ones the
    worker_process_shutdown flush exports), and configure() at import in the worker's main process."""
    pytest.importorskip("celery")
    for folder in ("queue", "processed"):
        (tmp_path / folder).mkdir()
    configure = CELERY_PROCESS_INIT if mode == "worker_process_init" else "import otel_lite\notel_lite.configure()"
    (tmp_path / "tasks.py").write_text(textwrap.dedent(TASKS.format(configure=configure)))
    env = _env(otlp_sink)
    if mode == "worker_process_init":
        env["OTEL_BSP_SCHEDULE_DELAY"] = "600000"
    subprocess.run(
        [sys.executable, "-c", "import tasks\nfor i in range(8): tasks.work.delay(i)"],
        cwd=tmp_path,
        env={k: v for k, v in env.items() if not k.startswith("OTEL_")},
        check=True,
        timeout=60,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tasks",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--loglevel",
            "info",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        done = 0
        assert worker.stderr is not None
        while done < 8 and time.monotonic() < deadline:
            line = worker.stderr.readline()
            if not line:
                break
            done += "succeeded in" in line
        assert done == 8, "the tasks did not run"
        if mode == "master":
            assert otlp_sink.wait_for_spans(8, timeout=15)
    finally:
        _stop(worker)  # warm shutdown: the pool processes exit
    assert otlp_sink.wait_for_spans(8, timeout=15)
    by_pid = _spans_by_worker(otlp_sink)
    _assert_each_worker_reports_itself(set(by_pid), by_pid, worker.pid)
