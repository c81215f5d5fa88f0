"""Where the backends come from: the resolver protocol and the ``static`` resolver.

A resolver yields the endpoint strings the ring hashes, exactly as Go's
resolvers emit them (sorted; a port only when one is written or configured),
and calls ``on_change`` with the new sorted list whenever it changes.  The
``dns`` resolver is in ``dns_resolver``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ...component import ComponentConfig, ConfigError

__all__ = ["Resolver", "StaticResolverConfig", "StaticResolver"]


class Resolver(Protocol):
    async def start(self, on_change: Callable[[list[str]], None]) -> None:
        """Resolve once (a failure is logged, not fatal) and keep ``on_change`` informed."""
        ...

    async def shutdown(self) -> None: ...

    def endpoints(self) -> list[str]:
        """The current endpoints, sorted."""
        ...


@dataclass
class StaticResolverConfig(ComponentConfig):
    hostnames: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if not self.hostnames:
            raise ConfigError("hostnames", "list at least one backend (host or host:port)")
        for i, host in enumerate(self.hostnames):
            if not host.strip() or "://" in host:
                raise ConfigError(f"hostnames[{i}]", f"expected host or host:port, got {host!r}")


class StaticResolver:
    """The configured hostnames, as written (Go hashes them verbatim: ``a`` and
    ``a:4317`` route differently even though both dial port 4317)."""

    def __init__(self, config: StaticResolverConfig):
        self._endpoints = sorted(set(config.hostnames))

    async def start(self, on_change: Callable[[list[str]], None]) -> None:
        on_change(list(self._endpoints))

    async def shutdown(self) -> None:
        return None

    def endpoints(self) -> list[str]:
        return list(self._endpoints)
