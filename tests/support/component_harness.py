"""What the tests of processors and connectors share: a next consumer that keeps what it gets, and an
OTLP/HTTP protobuf POST to a running collector's receiver."""

from __future__ import annotations

import requests


class KeepBatches:
    """A next consumer that keeps every batch handed to it."""

    def __init__(self) -> None:
        self.batches: list = []

    async def consume(self, batch) -> None:
        self.batches.append(batch)


def post_protobuf(collector, signal: str, body: bytes, **headers: str) -> requests.Response:
    """POST ``body`` to ``collector``'s OTLP/HTTP receiver at ``/v1/<signal>`` as protobuf."""
    return requests.post(
        f"http://127.0.0.1:{collector.http_port}/v1/{signal}",
        data=body,
        headers={"Content-Type": "application/x-protobuf", **headers},
        timeout=10,
    )
