"""Consistent-hash rings mapping a routing key to one backend endpoint.

``go-v1`` and ``go-v2`` reproduce the OpenTelemetry Collector's loadbalancing
exporter (contrib ``consistent_hashing.go``) bit for bit, so a fleet mixing Go
agents and ours sends each trace to the same gateway: CRC-32/IEEE, 100 points
per endpoint on 36000 slots, endpoints in sorted order.  They differ in how a
point is derived and how a collision is handled:

- go-v1: point i of endpoint e is ``crc32(e + bytes([i])) % 36000``; a point
  whose slot is taken is skipped.
- go-v2 (contrib PR #41271, July 2025): point i is ``crc32(e + i as 4
  little-endian bytes) % 36000``; a taken slot moves on to slot+1, +2, ...
  and the point is given up after 10 probes.

``native`` is ours: 1000 points per endpoint (BLAKE2b) on a 2**32 ring, for a
tighter spread when no Go agent shares the tier.

Lookup (all rings): ``crc32(key) % slots``, then the first point at or above
it, wrapping around to the first point.
"""

from __future__ import annotations

import bisect
import hashlib
import zlib
from collections.abc import Sequence

__all__ = ["HashRing", "RING_VERSIONS", "DEFAULT_RING_VERSION", "build_ring"]

_GO_SLOTS = 36000
_GO_POINTS = 100
_GO_V2_PROBES = 10
_NATIVE_POINTS = 1000
_NATIVE_SLOTS = 1 << 32


class HashRing:
    """An immutable ring: sorted slots and the endpoint owning each."""

    __slots__ = ("endpoints", "slots", "owners", "size")

    def __init__(self, endpoints: Sequence[str], points: list[tuple[int, str]], size: int):
        self.endpoints = tuple(endpoints)
        points.sort()
        self.slots = [slot for slot, _ in points]
        self.owners = [owner for _, owner in points]
        self.size = size

    def endpoint_for(self, key: bytes) -> str:
        if not self.slots:
            raise LookupError("no backends")
        i = bisect.bisect_left(self.slots, zlib.crc32(key) % self.size)
        return self.owners[i if i < len(self.slots) else 0]

    def __len__(self) -> int:
        return len(self.endpoints)


def _go_v1(endpoints: Sequence[str], points_per_endpoint: int = _GO_POINTS) -> HashRing:
    taken: dict[int, str] = {}
    for endpoint in endpoints:
        e = endpoint.encode()
        for i in range(points_per_endpoint):
            slot = zlib.crc32(e + bytes((i & 0xFF,))) % _GO_SLOTS
            if slot not in taken:
                taken[slot] = endpoint
    return HashRing(endpoints, list(taken.items()), _GO_SLOTS)


def _go_v2(endpoints: Sequence[str], points_per_endpoint: int = _GO_POINTS) -> HashRing:
    taken: dict[int, str] = {}
    for endpoint in endpoints:
        e = endpoint.encode()
        for i in range(points_per_endpoint):
            slot = zlib.crc32(e + i.to_bytes(4, "little")) % _GO_SLOTS
            probes = 0
            while slot in taken:
                probes += 1
                if probes >= _GO_V2_PROBES:  # given up on the 10th probe, free or not (as Go)
                    slot = -1
                    break
                slot = (slot + 1) % _GO_SLOTS
            if slot >= 0:
                taken[slot] = endpoint
    return HashRing(endpoints, list(taken.items()), _GO_SLOTS)


def _native(endpoints: Sequence[str], points_per_endpoint: int = _NATIVE_POINTS) -> HashRing:
    taken: dict[int, str] = {}
    for endpoint in endpoints:
        e = endpoint.encode()
        for i in range(points_per_endpoint):
            # built once per endpoint change, so a well-mixed hash costs nothing where it matters
            slot = int.from_bytes(hashlib.blake2b(e + i.to_bytes(4, "big"), digest_size=4).digest(), "big")
            taken.setdefault(slot, endpoint)
    return HashRing(endpoints, list(taken.items()), _NATIVE_SLOTS)


RING_VERSIONS = {"go-v1": _go_v1, "go-v2": _go_v2, "native": _native}
# go-v2 is what the Go exporter has built since July 2025 (v0.131); a later v3 ring exists upstream, but
# its exact tie-break was not verified here, so it is not offered.
DEFAULT_RING_VERSION = "go-v2"


def build_ring(
    endpoints: Sequence[str], version: str = DEFAULT_RING_VERSION, points_per_endpoint: int | None = None
) -> HashRing:
    """The ring of ``version`` over ``endpoints`` (sorted here, as Go sorts its resolvers' answers)."""
    make = RING_VERSIONS[version]
    ordered = sorted(set(endpoints))
    return make(ordered) if points_per_endpoint is None else make(ordered, points_per_endpoint)
