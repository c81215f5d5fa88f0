"""The command line's small things: a metrics port in use names its setting, ``--version``, and a
reader that closes the pipe early (``components | head -1``) gets no traceback.  Real subprocesses."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
import sys

import pytest

from tests.support.collector_process import REPO, free_port, run_collector

COMMAND = [sys.executable, "-m", "otel_lite.collector"]
ENV = {"PYTHONPATH": REPO}


def test_metrics_address_in_use_names_the_setting_and_exits_1(tmp_path):
    with socket.socket() as taken:  # held (listening) for the whole run: the collector cannot have it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_collector(
            "--set",
            f"receivers.otlp.protocols.grpc.endpoint=127.0.0.1:{free_port()}",
            "--set",
            f"receivers.otlp.protocols.http.endpoint=127.0.0.1:{free_port()}",
            "--set",
            f"extensions.health_check.endpoint=127.0.0.1:{free_port()}",
            "--set",
            f"service.telemetry.metrics.address=127.0.0.1:{port}",
            cwd=str(tmp_path),
            env=ENV,
        )
    assert result.returncode == 1, result.stderr
    assert (
        f"collector failed to start: service.telemetry.metrics.address 127.0.0.1:{port}: Address already in use "
        "(another collector running? set service.telemetry.metrics.address or level: none)"
    ) in result.stderr
    assert "[Errno" not in result.stderr and "Traceback" not in result.stderr


def test_version_prints_one_line():
    result = run_collector("--version")
    assert result.returncode == 0, result.stderr
    version = importlib.metadata.version("otel-lite")  # pyproject's [project] name
    assert result.stdout == (
        f"otel-lite-collector {version} ({platform.python_implementation()} {platform.python_version()})\n"
    )
    assert result.stderr == ""


@pytest.mark.parametrize("command", [["components"], ["print-config"], ["--version"]])
def test_closed_stdout_exits_141_without_a_traceback(command, tmp_path):
    """stdout a pipe whose reader is already gone: every write fails (EPIPE), deterministically."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [*COMMAND, *command],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=str(tmp_path),
            env={**os.environ, **ENV},
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == ""


@pytest.mark.parametrize("command", ["components", "print-config"])
def test_head_in_a_shell_pipe_gets_its_line_and_no_traceback(command, tmp_path):
    script = f"{sys.executable} -m otel_lite.collector {command} | head -1"
    result = subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
        env={**os.environ, **ENV},
    )
    assert result.returncode == 0
    first = run_collector(command, cwd=str(tmp_path), env=ENV).stdout.splitlines()[0]
    assert result.stdout == first + "\n"
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.stderr == ""
