"""The ``resourcedetection`` processor with Go's ``env`` and ``system`` detectors: the collector's host
found once, at start, and set on the resource of every trace, metric and log passing through (over what
the sender said when ``override``, Go's default; only where missing otherwise).

``env`` reads ``OTEL_RESOURCE_ATTRIBUTES`` (``key=value`` pairs, values percent-decoded) from the
collector's environment; ``system`` gives ``host.name`` (``hostname_sources``: ``dns``, the fully
qualified name, then ``os``, the kernel's) and ``os.type``, and on request (``resource_attributes``)
``host.arch``, ``host.id`` (``/etc/machine-id``), ``os.description`` and ``host.mac`` (``host.ip`` is not
offered: the standard library cannot list interface addresses).
Go's cloud and platform detectors (``ec2``, ``gcp``, ``azure``, ``eks``, ``docker``, ``k8snode``, ...)
are refused by name.  The edits are the ``resource`` processor's (``upsert`` or ``insert`` per attribute).
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ..attribute_actions import AttributeAction, compile_actions
from ..component import ComponentConfig, ConfigError, Duration, Factory
from ..consumer import SIGNALS
from .resource import ResourceProcessor

__all__ = ["FACTORY", "ResourceDetectionConfig", "ResourceDetectionProcessor", "detect"]

log = logging.getLogger("otel_lite.collector.processor.resourcedetection")

_DETECTORS = ("env", "system")
_SYSTEM_ATTRIBUTES = {  # Go's system detector: name -> enabled by default
    "host.name": True,
    "os.type": True,
    "host.arch": False,
    "host.id": False,
    "os.description": False,
    "host.mac": False,
}
_HOSTNAME_SOURCES = ("dns", "os")


@dataclass
class AttributeSwitch(ComponentConfig):
    enabled: bool = True


@dataclass
class SystemDetectorConfig(ComponentConfig):
    hostname_sources: list[str] = field(default_factory=lambda: list(_HOSTNAME_SOURCES))  # tried in order
    resource_attributes: dict[str, AttributeSwitch] = field(default_factory=dict)  # turn attributes on or off

    def validate(self) -> None:
        for i, source in enumerate(self.hostname_sources):
            if source not in _HOSTNAME_SOURCES:
                raise ConfigError(f"hostname_sources[{i}]", f"must be dns or os (got {source!r})")
        for key in self.resource_attributes:
            if key == "host.ip" and self.resource_attributes[key].enabled:
                raise ConfigError(f"resource_attributes.{key}", "not available here (no interface addresses)")
            if key not in _SYSTEM_ATTRIBUTES:
                raise ConfigError(f"resource_attributes.{key}", f"not one of {', '.join(_SYSTEM_ATTRIBUTES)}")


@dataclass
class ResourceDetectionConfig(ComponentConfig):
    detectors: list[str] = field(default_factory=list)  # env and/or system, in order (a later one wins)
    override: bool = True  # replace what the sender set (Go's default); false: only add what is missing
    timeout: Duration = Duration(5.0)  # the longest detection may take at start
    system: SystemDetectorConfig = field(default_factory=SystemDetectorConfig)
    attributes: list[str] = field(default_factory=list)  # deprecated in Go: keep only these detected keys

    def validate(self) -> None:
        if not self.detectors:
            raise ConfigError("detectors", "name at least one of env, system")
        for i, name in enumerate(self.detectors):
            if name not in _DETECTORS:
                raise ConfigError(
                    f"detectors[{i}]",
                    f"detector {name!r} is not available here (env and system are): cloud and platform "
                    "detectors need their metadata services; set those attributes in the SDK or with the "
                    "resource processor",
                )
        if self.timeout <= 0:
            raise ConfigError("timeout", "must be positive")


def _env_attributes(environ) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            out[unquote(key.strip())] = unquote(value.strip())
    return out


def _hostname(sources: list[str]) -> str:
    for source in sources:
        name = socket.getfqdn() if source == "dns" else socket.gethostname()
        if name and name != "localhost":
            return name
    return socket.gethostname()


def _system_attributes(cfg: SystemDetectorConfig) -> dict[str, str]:
    enabled = {
        k: (cfg.resource_attributes[k].enabled if k in cfg.resource_attributes else on)
        for k, on in _SYSTEM_ATTRIBUTES.items()
    }
    out: dict[str, Any] = {}
    if enabled["host.name"]:
        out["host.name"] = _hostname(cfg.hostname_sources)
    if enabled["os.type"]:
        out["os.type"] = platform.system().lower()  # Go's runtime.GOOS: linux, darwin, windows
    if enabled["host.arch"]:
        machine = platform.machine().lower()
        out["host.arch"] = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    if enabled["host.id"]:
        for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
            try:
                with open(path) as f:
                    out["host.id"] = f.read().strip()
                break
            except OSError:
                continue
    if enabled["os.description"]:
        out["os.description"] = f"{platform.system()} {platform.release()} {platform.version()}".strip()
    if enabled["host.mac"]:
        out["host.mac"] = _macs()
    return out


def _macs() -> list[str]:
    """The host's interfaces' MAC addresses but the loopback's, in the IEEE RA form Go writes (AA-BB-...)."""
    macs: list[str] = []
    try:
        names = sorted(os.listdir("/sys/class/net"))
    except OSError:
        return macs
    for name in names:
        try:
            with open(f"/sys/class/net/{name}/address") as f:
                mac = f.read().strip().upper().replace(":", "-")
        except OSError:
            continue
        if mac and mac != "00-00-00-00-00-00" and mac not in macs:
            macs.append(mac)
    return macs


def detect(config: ResourceDetectionConfig, environ=None) -> dict[str, Any]:
    """What the detectors find, in their order (a later detector's value wins, as Go merges them)."""
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for name in config.detectors:
        found.update(_env_attributes(environ) if name == "env" else _system_attributes(config.system))
    if config.attributes:
        found = {k: v for k, v in found.items() if k in config.attributes}
    return found


class ResourceDetectionProcessor(ResourceProcessor):
    """The resource processor, its actions made at start from what was detected."""

    def __init__(self, settings, config: ResourceDetectionConfig, next_consumer):
        self._next = next_consumer
        self._config = config
        self._apply = compile_actions([])
        self.detected: dict[str, Any] = {}

    async def start(self, host) -> None:
        try:
            detected = await asyncio.wait_for(asyncio.to_thread(detect, self._config), float(self._config.timeout))
        except TimeoutError:
            raise OSError(
                f"resourcedetection: detection took longer than timeout ({self._config.timeout:g}s)"
            ) from None
        self.detected = detected
        action = "upsert" if self._config.override else "insert"
        self._apply = compile_actions(
            [AttributeAction.from_mapping({"key": k, "value": v, "action": action}) for k, v in detected.items()]
        )
        log.info(
            "detected resource attributes", extra={"attributes": ",".join(f"{k}={v}" for k, v in detected.items())}
        )


def _create(settings, config: ResourceDetectionConfig, next_consumer) -> ResourceDetectionProcessor:
    return ResourceDetectionProcessor(settings, config, next_consumer)


FACTORY = Factory(
    kind="processor", type="resourcedetection", config_class=ResourceDetectionConfig, create=_create, signals=SIGNALS
)
