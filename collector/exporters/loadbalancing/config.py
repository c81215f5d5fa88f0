"""The ``loadbalancing`` exporter's config, with the Go exporter's names.

``protocol.otlp`` is a whole ``otlp_grpc`` exporter config used as a template
for every backend (its ``endpoint`` is replaced); ``resolver`` names exactly one
source of backends.  Top-level ``timeout`` / ``retry_on_failure`` /
``sending_queue`` apply to the exporter as a whole: routing happens when a
batch leaves that queue, so there are no per-backend queues (the template's
``sending_queue`` and ``retry_on_failure`` are not used).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...component import ComponentConfig, ConfigError
from ..helper import ExporterConfig
from ..otlp_grpc import OTLPGrpcExporterConfig
from .dns_resolver import DNSResolverConfig
from .resolvers import StaticResolverConfig
from .ring import RING_VERSIONS
from .routing import ROUTING_KEYS

__all__ = ["BackendTemplateConfig", "ProtocolConfig", "ResolverConfig", "LoadBalancingExporterConfig"]


@dataclass
class BackendTemplateConfig(OTLPGrpcExporterConfig):
    """``protocol.otlp``: an ``otlp_grpc`` config whose endpoint the resolver fills in."""

    def validate(self) -> None:
        endpoint, self.endpoint = self.endpoint, self.endpoint or "backend:4317"
        try:
            super().validate()
        finally:
            self.endpoint = endpoint


@dataclass
class ProtocolConfig(ComponentConfig):
    otlp: BackendTemplateConfig = field(default_factory=BackendTemplateConfig)


@dataclass
class ResolverConfig(ComponentConfig):
    static: StaticResolverConfig | None = None
    dns: DNSResolverConfig | None = None
    k8s: dict[str, Any] | None = None
    aws_cloud_map: dict[str, Any] | None = None

    def validate(self) -> None:
        given = [name for name in ("static", "dns", "k8s", "aws_cloud_map") if getattr(self, name) is not None]
        if not given:
            raise ConfigError(
                "", "no resolver: configure exactly one of static, dns (k8s and aws_cloud_map are not supported yet)"
            )
        if len(given) > 1:
            raise ConfigError("", f"{' and '.join(given)} are both configured: use exactly one resolver")
        if given[0] in ("k8s", "aws_cloud_map"):
            raise ConfigError(
                given[0],
                f"the {given[0]} resolver is not supported yet: use dns with a headless "
                "Service (hostname: <service>.<namespace>.svc.cluster.local) or static",
            )


@dataclass
class LoadBalancingExporterConfig(ExporterConfig):
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    resolver: ResolverConfig = field(default_factory=ResolverConfig)
    routing_key: str = "traceID"
    routing_attributes: list[str] = field(default_factory=list)
    ring_version: str = "go-v2"  # ours: go-v1 | go-v2 | native (see ring.py)

    def validate(self) -> None:
        if self.routing_key not in ROUTING_KEYS:
            known = ", ".join(ROUTING_KEYS)
            why = (
                " (a metrics routing key)"
                if self.routing_key in ("resource", "metric", "streamID")
                else " (not supported yet)"
                if self.routing_key == "attributes"
                else ""
            )
            raise ConfigError("routing_key", f"{self.routing_key!r}{why}: traces route by one of {known}")
        if self.ring_version not in RING_VERSIONS:
            raise ConfigError(
                "ring_version", f"unknown ring {self.ring_version!r}: use one of " + ", ".join(RING_VERSIONS)
            )
