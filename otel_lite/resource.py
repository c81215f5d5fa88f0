"""Resource: the attributes describing the entity that produces telemetry."""

from __future__ import annotations

import logging
import os
import platform
import socket
import sys
import uuid
from collections.abc import Mapping
from types import MappingProxyType

from ._fork import after_fork_in_child
from .config import env_str, parse_key_values
from .version import __version__

_log = logging.getLogger("otel_lite.resource")

SERVICE_NAME = "service.name"


class Resource:
    """Immutable attributes + schema URL.  Instances are compared and hashed by
    content so spans from equal resources group together on export."""

    __slots__ = ("_attributes", "_schema_url", "_hash")

    def __init__(self, attributes: Mapping | None = None, schema_url: str | None = None):
        self._attributes = MappingProxyType(dict(attributes or {}))
        self._schema_url = schema_url or ""
        self._hash: int | None = None

    @property
    def attributes(self) -> Mapping:
        return self._attributes

    @property
    def schema_url(self) -> str:
        return self._schema_url

    @staticmethod
    def get_empty() -> Resource:
        return _EMPTY

    @staticmethod
    def create(attributes: Mapping | None = None, schema_url: str | None = None) -> Resource:
        """Defaults (telemetry.sdk.*, process, host) merged with the environment
        (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME) and then ``attributes``."""
        resource = _default_resource().merge(_env_resource()).merge(Resource(attributes, schema_url))
        if not resource.attributes.get(SERVICE_NAME):
            exe = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
            resource = resource.merge(Resource({SERVICE_NAME: f"unknown_service:{exe}"}))
        return resource

    def merge(self, other: Resource) -> Resource:
        """The spec's merge: ``other`` wins on conflicting keys; conflicting
        non-empty schema URLs keep this resource (logged)."""
        if self._schema_url and other._schema_url and self._schema_url != other._schema_url:
            _log.error(
                "cannot merge resources with different schema URLs %r and %r", self._schema_url, other._schema_url
            )
            return self
        merged = dict(self._attributes)
        merged.update(other._attributes)
        return Resource(merged, self._schema_url or other._schema_url)

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Resource)
            and self._schema_url == other._schema_url
            and self._attributes == other._attributes
        )

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash((self._schema_url, tuple(sorted((k, repr(v)) for k, v in self._attributes.items()))))
        return self._hash

    def __repr__(self) -> str:
        return f"Resource({dict(self._attributes)!r}, schema_url={self._schema_url!r})"

    def to_json(self, indent: int | None = 4) -> str:
        import json

        return json.dumps({"attributes": dict(self._attributes), "schema_url": self._schema_url}, indent=indent)


_EMPTY = Resource()
_INSTANCE_ID = str(uuid.uuid4())
_INSTANCE_PID = os.getpid()  # the process _INSTANCE_ID belongs to
_PARENT_INSTANCE_ID: str | None = None  # in a forked child: the instance id of the process it was forked from


def _regenerate_instance_id() -> None:
    """A forked child is another instance of the service (once per process: two hooks may call this)."""
    global _INSTANCE_ID, _INSTANCE_PID, _PARENT_INSTANCE_ID
    if _INSTANCE_PID == os.getpid():
        return
    _PARENT_INSTANCE_ID, _INSTANCE_ID, _INSTANCE_PID = _INSTANCE_ID, str(uuid.uuid4()), os.getpid()


def after_fork(resource, parent_pid: int):
    """``resource`` as a forked child should report it: the process-dependent attributes that were the
    parent's (``process.pid``, the generated ``service.instance.id``) become the child's, as
    opentelemetry-sdk does after a fork; values the user set stay.  Another class is returned as is."""
    if not isinstance(resource, Resource):
        return resource
    attributes = resource.attributes
    update: dict = {}
    if attributes.get("process.pid") == parent_pid:
        update["process.pid"] = os.getpid()
    if _PARENT_INSTANCE_ID is not None and attributes.get("service.instance.id") == _PARENT_INSTANCE_ID:
        update["service.instance.id"] = _INSTANCE_ID
    return resource.merge(Resource(update)) if update else resource


after_fork_in_child(_regenerate_instance_id)


def _default_resource() -> Resource:
    return Resource(
        {
            "telemetry.sdk.name": "otel-lite",
            "telemetry.sdk.language": "python",
            "telemetry.sdk.version": __version__,
            "service.instance.id": _INSTANCE_ID,
            "process.pid": os.getpid(),
            "process.runtime.name": sys.implementation.name,
            "process.runtime.version": platform.python_version(),
            "host.name": socket.gethostname(),
            "os.type": sys.platform,
        }
    )


def _env_resource() -> Resource:
    attributes: dict = parse_key_values(env_str("OTEL_RESOURCE_ATTRIBUTES"), "OTEL_RESOURCE_ATTRIBUTES")
    service_name = env_str("OTEL_SERVICE_NAME")
    if service_name:
        attributes[SERVICE_NAME] = service_name
    return Resource(attributes)


def as_resource(resource):
    """Accept our Resource, an opentelemetry-sdk Resource (kept as it is: ``span.resource is resource``,
    ``==`` and ``isinstance`` hold, as with opentelemetry-sdk), or a mapping."""
    if resource is None:
        return Resource.create()
    if isinstance(resource, Resource):
        return resource
    if isinstance(resource, Mapping):
        return Resource.create(resource)
    if isinstance(getattr(resource, "attributes", None), Mapping):
        return resource  # what the exporters read: .attributes and .schema_url
    return Resource(getattr(resource, "attributes", None) or {}, getattr(resource, "schema_url", ""))
