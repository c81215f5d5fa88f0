"""deploy/kubernetes/: every overlay rendered with ``kubectl kustomize``, every object validated offline
against the Kubernetes 1.32 schemas (``kubernetes-validate``, strict: unknown fields fail), the tiers'
invariants checked against the rendered objects and the collector configs inside them, and each of those
configs run through ``otel-lite-collector validate``.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from functools import cache

import pytest
import yaml

from otel_lite.collector.component import parse_duration
from otel_lite.collector.exporters.helper import DEFAULT_DRAIN_TIMEOUT
from tests.support.collector_process import REPO, run_collector

K8S_VERSION = "1.32"  # the schemas validated against (kubectl here is 1.32 too)
KUSTOMIZE_ROOT = os.path.join(REPO, "deploy", "kubernetes")
OVERLAYS = sorted(
    d
    for d in os.listdir(KUSTOMIZE_ROOT)
    if d != "base" and os.path.isfile(os.path.join(KUSTOMIZE_ROOT, d, "kustomization.yaml"))
)
CONTAINER = "otel-lite-collector"
HEALTH_PORT = 13133

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed (Debian: kubernetes-client): it renders the kustomizations"
)
pytestmark = needs_kubectl


def kustomize(path: str) -> list[dict]:
    assert KUBECTL is not None
    result = subprocess.run([KUBECTL, "kustomize", path], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@cache
def _rendered(overlay: str) -> tuple[dict, ...]:
    return tuple(kustomize(os.path.join(KUSTOMIZE_ROOT, overlay)))


def rendered(overlay: str) -> list[dict]:
    return copy.deepcopy(list(_rendered(overlay)))


def objects(overlay: str, kind: str) -> list[dict]:
    return [o for o in rendered(overlay) if o["kind"] == kind]


def one(overlay: str, kind: str) -> dict:
    found = objects(overlay, kind)
    assert len(found) == 1, f"{overlay}: expected one {kind}, found {len(found)}"
    return found[0]


def workload(overlay: str) -> dict:
    found = [o for o in rendered(overlay) if o["kind"] in ("DaemonSet", "StatefulSet", "Deployment")]
    assert len(found) == 1, f"{overlay}: expected one workload"
    return found[0]


def pod_spec(overlay: str) -> dict:
    return workload(overlay)["spec"]["template"]["spec"]


def container(overlay: str) -> dict:
    (c,) = [c for c in pod_spec(overlay)["containers"] if c["name"] == CONTAINER]
    return c


def container_port(c: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in c["ports"] if p["name"] == port]
    return number


def config_text(overlay: str) -> str:
    """The collector config the workload mounts: its ConfigMap volume at the --config path's directory."""
    c = container(overlay)
    args = c.get("args", [])
    config_path = args[args.index("--config") + 1]
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == os.path.dirname(config_path)]
    (volume,) = [v for v in pod_spec(overlay)["volumes"] if v["name"] == mount["name"]]
    (cm,) = [o for o in objects(overlay, "ConfigMap") if o["metadata"]["name"] == volume["configMap"]["name"]]
    return cm["data"][os.path.basename(config_path)]


POD_IP = "10.1.2.3"  # what the downward API would give: only ${env:...} substitution, nothing binds


def config(overlay: str) -> dict:
    """The collector config with ${env:NAME} expanded from the container's env (fieldRefs as a pod would)."""
    env = container_env(overlay)
    return yaml.safe_load(
        re.sub(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env[m.group(1)], config_text(overlay))
    )


def container_env(overlay: str) -> dict[str, str]:
    env = {}
    for e in container(overlay).get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "status.podIP":
            env[e["name"]] = POD_IP
    return env


def seconds(value) -> float:
    return float(parse_duration(value))


def labels_match(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def test_both_tiers_exist():
    assert {"agent", "gateway"} <= set(OVERLAYS)
    for overlay in OVERLAYS:
        with open(os.path.join(KUSTOMIZE_ROOT, overlay, "kustomization.yaml")) as f:
            assert "../base" in yaml.safe_load(f)["resources"], f"{overlay} is not an overlay of base"


# -- schemas ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ["base", *OVERLAYS])
def test_every_rendered_object_validates_against_the_kubernetes_schemas(overlay):
    import kubernetes_validate

    docs = rendered(overlay) if overlay != "base" else kustomize(os.path.join(KUSTOMIZE_ROOT, "base"))
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{overlay}: {doc['kind']} {doc['metadata'].get('name')}: {e.message} at {list(e.path)}")


def test_schema_validation_catches_a_misspelt_field():
    """Strict validation is not vacuous: a probe under a misspelt key is an unknown field."""
    import kubernetes_validate

    sts = one("gateway", "StatefulSet")
    c = sts["spec"]["template"]["spec"]["containers"][0]
    c["readinessProb"] = c.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinessProb"):
        kubernetes_validate.validate(sts, K8S_VERSION, strict=True)


# -- the collector configs ---------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_collector_config_passes_validate(overlay, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(config_text(overlay))
    result = run_collector("validate", "--config", str(path), env=container_env(overlay))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_env_reference_is_set_by_the_container(overlay):
    used = set(re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", config_text(overlay)))
    assert "MY_POD_IP" in used
    assert used <= set(container_env(overlay)), f"not set by the pod: {used - set(container_env(overlay))}"
    (pod_ip,) = [e for e in container(overlay)["env"] if e["name"] == "MY_POD_IP"]
    assert pod_ip["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"  # the downward API


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_listeners_are_on_the_pod_ip_and_match_the_container_ports(overlay):
    cfg, c = config(overlay), container(overlay)
    ports = {p["containerPort"] for p in c["ports"]}
    endpoints = [proto["endpoint"] for proto in cfg["receivers"]["otlp"]["protocols"].values()]
    endpoints += [cfg["extensions"]["health_check"]["endpoint"], cfg["service"]["telemetry"]["metrics"]["address"]]
    for endpoint in endpoints:
        host, _, port = endpoint.rpartition(":")
        assert host == POD_IP, f"{endpoint}: not bound to ${{env:MY_POD_IP}}"
        assert int(port) in ports, f"{endpoint}: no containerPort {port}"
    annotations = workload(overlay)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == cfg["service"]["telemetry"]["metrics"]["address"].rpartition(":")[2]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ask_the_health_check_extension(overlay):
    cfg, c = config(overlay), container(overlay)
    health = cfg["extensions"]["health_check"]
    assert "health_check" in cfg["service"]["extensions"]
    assert int(health["endpoint"].rpartition(":")[2]) == HEALTH_PORT
    for probe in ("readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        assert container_port(c, get["port"]) == HEALTH_PORT, probe
        assert get["path"] == health.get("path", "/"), probe
    # the kubelet sees the 503 while the receivers still accept (within shutdown_delay); liveness
    # tolerates a slow moment
    readiness = c["readinessProbe"]
    noticed = readiness.get("periodSeconds", 10) * readiness.get("failureThreshold", 3)
    assert noticed <= seconds(health.get("shutdown_delay", 0)), "readiness fails only after the receivers stopped"
    assert c["livenessProbe"].get("failureThreshold", 3) * c["livenessProbe"].get("periodSeconds", 10) >= 20


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_period_covers_the_shutdown_delay_and_the_drain(overlay):
    cfg = config(overlay)
    delay = seconds(cfg["extensions"]["health_check"].get("shutdown_delay", 0))
    assert delay > 0, "readiness must drop before the receivers stop"
    timeouts = [seconds(e.get("timeout", "5s")) for e in cfg["exporters"].values()]
    needed = delay + DEFAULT_DRAIN_TIMEOUT + max(timeouts)
    grace = pod_spec(overlay)["terminationGracePeriodSeconds"]
    assert grace > needed, f"terminationGracePeriodSeconds {grace} <= shutdown_delay + drain + timeout = {needed}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_memory_limiter_follows_the_container_limit_first_in_every_pipeline(overlay):
    cfg, c = config(overlay), container(overlay)
    limiter = cfg["processors"]["memory_limiter"]
    assert 0 < limiter["spike_limit_percentage"] < limiter["limit_percentage"] <= 90
    assert "limit_mib" not in limiter
    for name, pipeline in cfg["service"]["pipelines"].items():
        assert pipeline["processors"][0] == "memory_limiter", name
    for key in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][key]), key


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_runs_as_the_images_non_root_user(overlay):
    with open(os.path.join(REPO, "Dockerfile")) as f:
        uid = int(re.findall(r"^USER (\d+)", f.read(), re.M)[-1])
    spec, c = pod_spec(overlay), container(overlay)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == uid != 0
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_account_without_rbac(overlay):
    """The dns resolver needs no API access (the k8s resolver, which would need EndpointSlice RBAC, is not
    supported), so each tier has its own ServiceAccount, no token, and no Role."""
    docs = rendered(overlay)
    assert not [o for o in docs if o["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")]
    sa = pod_spec(overlay)["serviceAccountName"]
    assert [o for o in objects(overlay, "ServiceAccount") if o["metadata"]["name"] == sa]
    assert pod_spec(overlay)["automountServiceAccountToken"] is False
    assert "k8s" not in str(config(overlay)["exporters"].get("loadbalancing", {}).get("resolver", {}))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_image_is_set_through_kustomize_images(overlay, tmp_path):
    assert container(overlay)["image"] == "otel-lite-collector:latest"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(os.path.join(KUSTOMIZE_ROOT, overlay), mine)],
                "images": [{"name": "otel-lite-collector", "newName": "registry.example/otel", "newTag": "1.2.3"}],
            }
        )
    )
    (w,) = [o for o in kustomize(str(mine)) if o["kind"] in ("DaemonSet", "StatefulSet")]
    assert w["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/otel:1.2.3"


# -- the agent tier ------------------------------------------------------------------------------------


def test_agent_is_a_daemonset_behind_a_node_local_service():
    ds = one("agent", "DaemonSet")
    labels = ds["spec"]["template"]["metadata"]["labels"]
    (svc,) = [s for s in objects("agent", "Service") if labels_match(s["spec"]["selector"], labels)]
    assert svc["spec"]["internalTrafficPolicy"] == "Local"
    assert {p["port"] for p in svc["spec"]["ports"]} == {4317, 4318}
    for p in svc["spec"]["ports"]:
        assert container_port(container("agent"), p["targetPort"]) == p["port"]
    # no endpoint on the node means nothing is sent there: start the new agent before stopping the old
    rolling = ds["spec"]["updateStrategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1


def test_agent_routes_traces_to_the_gateways_headless_service_with_the_dns_resolver():
    cfg = config("agent")
    assert cfg["service"]["pipelines"]["traces"]["exporters"] == ["loadbalancing"]
    lb = cfg["exporters"]["loadbalancing"]
    assert lb.get("routing_key", "traceID") == "traceID"
    assert set(lb["resolver"]) == {"dns"}
    dns = lb["resolver"]["dns"]
    headless = gateway_headless_service()
    ns = headless["metadata"]["namespace"]
    assert dns["hostname"] == f"{headless['metadata']['name']}.{ns}.svc.cluster.local"
    grpc_ports = [p["port"] for p in headless["spec"]["ports"] if p["name"] == "otlp-grpc"]
    assert int(dns["port"]) in grpc_ports
    assert seconds(dns.get("interval", "5s")) <= 10  # "lower the DNS interval" in an elastic tier
    # metrics and logs go to the gateways' ClusterIP Service
    svc = {s["metadata"]["name"]: s for s in objects("gateway", "Service")}
    for signal in ("metrics", "logs"):
        (exporter,) = cfg["service"]["pipelines"][signal]["exporters"]
        host, _, port = cfg["exporters"][exporter]["endpoint"].rpartition(":")
        name, namespace = host.split(".")[:2]
        assert svc[name]["metadata"]["namespace"] == namespace and svc[name]["spec"].get("clusterIP") != "None"
        assert int(port) in [p["port"] for p in svc[name]["spec"]["ports"]]


# -- the gateway tier ----------------------------------------------------------------------------------


def gateway_headless_service() -> dict:
    sts = one("gateway", "StatefulSet")
    (svc,) = [s for s in objects("gateway", "Service") if s["metadata"]["name"] == sts["spec"]["serviceName"]]
    return svc


def test_gateway_statefulset_is_governed_by_a_headless_service_of_ready_pods():
    sts = one("gateway", "StatefulSet")
    svc = gateway_headless_service()
    assert svc["spec"]["clusterIP"] == "None"
    assert not svc["spec"].get("publishNotReadyAddresses", False)  # a draining gateway leaves DNS
    assert labels_match(svc["spec"]["selector"], sts["spec"]["template"]["metadata"]["labels"])
    assert "replicas" not in sts["spec"], "the HPA owns the replica count"


def test_gateway_tail_samples_and_queues_on_its_own_claim():
    cfg, c = config("gateway"), container("gateway")
    sts = one("gateway", "StatefulSet")
    assert "tail_sampling" in cfg["service"]["pipelines"]["traces"]["processors"]
    storage_ids = {e["sending_queue"]["storage"] for e in cfg["exporters"].values() if "sending_queue" in e}
    assert storage_ids == {"file_storage"}
    assert "file_storage" in cfg["service"]["extensions"]
    directory = cfg["extensions"]["file_storage"]["directory"]
    claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
    (mount,) = [
        m for m in c["volumeMounts"] if directory == m["mountPath"] or directory.startswith(m["mountPath"] + "/")
    ]
    assert mount["name"] in claims and not mount.get("readOnly", False)
    assert pod_spec("gateway")["securityContext"]["fsGroup"] == pod_spec("gateway")["securityContext"]["runAsUser"]
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Retain"


def test_gateway_has_a_pod_disruption_budget():
    pdb = one("gateway", "PodDisruptionBudget")
    labels = one("gateway", "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert labels_match(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable")


def test_gateway_hpa_scales_down_slower_than_decision_wait():
    hpa = one("gateway", "HorizontalPodAutoscaler")
    sts = one("gateway", "StatefulSet")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("StatefulSet", sts["metadata"]["name"])
    decision_wait = seconds(config("gateway")["processors"]["tail_sampling"].get("decision_wait", "30s"))
    window = hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
    assert window >= decision_wait
    assert hpa["spec"]["minReplicas"] >= 2  # one gateway leaving never leaves none
    cpu = [m for m in hpa["spec"]["metrics"] if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
    assert cpu and "cpu" in container("gateway")["resources"]["requests"]  # Utilization is of the request


def test_the_guides_own_overlay_example_renders_as_it_says(tmp_path):
    """docs/deploying.md's "my-gateway" overlay: the image and the backend endpoint it sets are what render."""
    with open(os.path.join(REPO, "docs", "deploying.md")) as f:
        (block,) = [
            b for b in re.findall(r"```yaml\n(.*?)```", f.read(), re.S) if "# my-gateway/kustomization.yaml" in b
        ]
    example = yaml.safe_load(block)
    assert example["resources"] == ["../deploy/kubernetes/gateway"]  # beside a checkout of this repository
    mine = tmp_path / "my-gateway"
    mine.mkdir()
    example["resources"] = [os.path.relpath(os.path.join(KUSTOMIZE_ROOT, "gateway"), mine)]
    (mine / "kustomization.yaml").write_text(yaml.safe_dump(example))
    (sts,) = [o for o in kustomize(str(mine)) if o["kind"] == "StatefulSet"]
    c = sts["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "registry.example/otel-lite-collector:1.0"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["OTLP_BACKEND_ENDPOINT"] == "tempo-distributor.tracing.svc.cluster.local:4317"
