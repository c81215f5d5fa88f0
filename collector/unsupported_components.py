"""Component types of the Go Collector (core and contrib) that this collector does not have, with
what each is and what to do instead, so ``validate`` can say more than "unknown type".

Keyed by (kind, type); the advice names an equivalent we have where there is one.
"""

from __future__ import annotations

__all__ = ["UNSUPPORTED", "explain"]

_REMOVE = "remove it from the config"
_METRICS = "remove it; the collector's own metrics are Prometheus at service.telemetry.metrics"

UNSUPPORTED: dict[tuple[str, str], tuple[str, str]] = {
    # extensions
    ("extension", "pprof"): ("the Go runtime's profiler endpoint", _REMOVE + " (there is no Go runtime to profile)"),
    ("extension", "zpages"): ("Go's in-process debug pages", _METRICS),
    ("extension", "memory_ballast"): ("a Go heap ballast (deprecated by Go itself)", _REMOVE),
    ("extension", "oidc"): (
        "OIDC token authentication for receivers",
        "use bearertokenauth or mutual TLS (tls.client_ca_file)",
    ),
    ("extension", "oauth2client"): (
        "OAuth2 client credentials for exporters",
        "use bearertokenauth with a token file (filename:, re-read on change)",
    ),
    ("extension", "basicauth"): ("HTTP basic authentication", "use bearertokenauth or mutual TLS"),
    ("extension", "headers_setter"): (
        "headers from request context on exporters",
        "set static exporter headers: (headers:)",
    ),
    ("extension", "opamp"): ("the OpAMP agent-management client", _REMOVE + " (manage the config file instead)"),
    ("extension", "k8s_observer"): ("Kubernetes endpoint discovery for receiver_creator", _REMOVE),
    ("extension", "docker_observer"): ("Docker endpoint discovery for receiver_creator", _REMOVE),
    ("extension", "sigv4auth"): ("AWS SigV4 request signing", _REMOVE),
    ("extension", "storage"): ("a storage extension", "use file_storage"),
    # receivers
    ("receiver", "prometheus"): (
        "a Prometheus scraper",
        "scrape with Prometheus or an agent that sends OTLP metrics here",
    ),
    ("receiver", "hostmetrics"): (
        "host CPU/memory/disk metrics",
        "run node-exporter or an agent that sends OTLP metrics here",
    ),
    ("receiver", "filelog"): ("log-file tailing", "have the application or a log shipper send OTLP logs here"),
    ("receiver", "kafka"): ("a Kafka consumer", _REMOVE),
    ("receiver", "k8s_cluster"): ("Kubernetes cluster metrics", _REMOVE),
    ("receiver", "kubeletstats"): ("kubelet metrics", _REMOVE),
    ("receiver", "k8s_events"): ("Kubernetes events as logs", _REMOVE),
    ("receiver", "k8sobjects"): ("Kubernetes objects as logs", _REMOVE),
    ("receiver", "receiver_creator"): ("receivers started by discovery", _REMOVE),
    ("receiver", "syslog"): ("syslog input", _REMOVE),
    ("receiver", "fluentforward"): ("Fluent Forward input", _REMOVE),
    ("receiver", "statsd"): ("StatsD input", _REMOVE),
    ("receiver", "journald"): ("journald input", _REMOVE),
    ("receiver", "httpcheck"): ("HTTP endpoint checks", _REMOVE),
    # processors
    ("processor", "k8sattributes"): (
        "Kubernetes pod metadata on telemetry",
        _REMOVE + " (set k8s.* via OTEL_RESOURCE_ATTRIBUTES from the downward API)",
    ),
    ("processor", "span"): ("span renaming", _REMOVE),
    ("processor", "groupbytrace"): ("grouping spans by trace", "tail_sampling groups spans by trace itself"),
    ("processor", "groupbyattrs"): ("regrouping by attributes", _REMOVE),
    ("processor", "redaction"): ("attribute redaction", _REMOVE),
    ("processor", "cumulativetodelta"): ("metric temporality conversion", _REMOVE),
    ("processor", "metricstransform"): ("metric renaming", _REMOVE),
    # exporters
    ("exporter", "prometheus"): (
        "a Prometheus scrape endpoint for metrics",
        "export OTLP (otlp / otlp_http) to a backend that accepts it",
    ),
    ("exporter", "prometheusremotewrite"): (
        "Prometheus remote write",
        "export OTLP (otlp_http) to Prometheus's OTLP endpoint (/api/v1/otlp)",
    ),
    ("exporter", "jaeger"): (
        "the Jaeger gRPC exporter (removed from Go too)",
        "use otlp: Jaeger accepts OTLP on 4317/4318",
    ),
    ("exporter", "zipkin"): ("the Zipkin exporter", "use otlp if the backend accepts OTLP"),
    ("exporter", "kafka"): ("a Kafka producer", _REMOVE),
    ("exporter", "loki"): ("the Loki exporter (removed from Go too)", "use otlp_http: Loki accepts OTLP logs"),
    ("exporter", "elasticsearch"): ("the Elasticsearch exporter", "use otlp if the backend accepts OTLP"),
    ("exporter", "awsxray"): ("AWS X-Ray", _REMOVE),
    ("exporter", "googlecloud"): ("Google Cloud", "use otlp with Google's OTLP endpoint"),
    ("exporter", "datadog"): ("Datadog", "use otlp to a Datadog agent's OTLP receiver"),
    # connectors
    ("connector", "servicegraph"): ("a service graph from spans", _REMOVE),
}


def explain(kind: str, type_name: str) -> str | None:
    """``"<what it is>: this collector does not have it; <what to do>"``, or None for a name we don't know."""
    known = UNSUPPORTED.get((kind, type_name))
    if known is None:
        other = next((k for (k, t) in UNSUPPORTED if t == type_name and k != kind), None)
        if other is not None:  # e.g. pprof listed under exporters
            article = "an" if kind[0] in "aeiou" else "a"
            what, advice = UNSUPPORTED[(other, type_name)]
            return f"{type_name!r} is {what}, a Go {other}, not {article} {kind}: we do not have it; {advice}"
        return None
    what, advice = known
    return f"{kind} type {type_name!r} is {what}: otel-lite-collector does not have it; {advice}"
