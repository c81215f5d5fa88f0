"""The ``loadbalancing`` exporter: a tier of collectors, every span of a trace to the same one."""

from .exporter import FACTORY, LoadBalancingExporter

__all__ = ["FACTORY", "LoadBalancingExporter"]
