"""Per-span CPU of the processors and connectors that edit or read items, against the floor of
passing the same request through untouched, in one run.

    python benchmarks/processor_bench.py              # 1000-span requests, 200 requests x 5 rounds
    python benchmarks/processor_bench.py -s 100 -n 2000

Each case is one component built through its factory, handed the same OTLP/protobuf request (1,000
spans, each with a 64-byte attribute, as ``tests/support/reliability.build_request`` makes them) by
``consume`` in a loop on one event loop, its next consumer doing nothing.  The floor is the same loop
with a component that passes the batch on, so the table shows what each component adds per span; a
reference row parses and re-encodes the whole request, the least an edit costs without partial views.
There is no peer here: the Go Collector's processors run in another runtime (see the collector
benchmark for end-to-end comparisons).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import alternate_rounds, calibration_line, fmt_time, markdown_table, median

from otel_lite.collector.component import ComponentID, CreateSettings
from otel_lite.collector.consumer import Traces
from otel_lite.collector.registry import lookup
from otel_lite.collector.telemetry import Telemetry
from tests.support.reliability import build_request

CASES = {
    "resource: upsert one attribute": (
        "processor",
        "resource",
        {"attributes": [{"key": "deployment.environment", "value": "prod", "action": "upsert"}]},
    ),
    "attributes: insert one": (
        "processor",
        "attributes",
        {"actions": [{"key": "env", "value": "prod", "action": "insert"}]},
    ),
    "attributes: delete one": ("processor", "attributes", {"actions": [{"key": "payload", "action": "delete"}]}),
    "filter: OTTL condition, nothing dropped": (
        "processor",
        "filter",
        {"traces": {"span": ['attributes["http.route"] == "/health"']}},
    ),
    "filter: span_names, nothing dropped": (
        "processor",
        "filter",
        {"spans": {"exclude": {"match_type": "strict", "span_names": ["GET /health"]}}},
    ),
    "transform: two statements": (
        "processor",
        "transform",
        {
            "trace_statements": [
                {
                    "context": "span",
                    "statements": ['set(attributes["env"], "prod")', 'delete_key(attributes, "payload")'],
                }
            ]
        },
    ),
    "spanmetrics: aggregate (flush not timed)": ("connector", "spanmetrics", {}),
}


class _Null:
    async def consume(self, batch) -> None:
        return None


class _PassOn:
    def __init__(self, nxt):
        self.next = nxt

    async def consume(self, batch) -> None:
        await self.next.consume(batch)


class _FullReencode(_PassOn):
    """What an edit costs at least when it parses the whole request: parse, re-encode, pass on."""

    async def consume(self, batch) -> None:
        await self.next.consume(Traces(None, batch.message.SerializeToString(), batch.item_count))


def _component(kind: str, type_name: str, config: dict):
    factory = lookup(kind, type_name)
    cfg = factory.config_class.from_mapping(config)
    settings = CreateSettings(ComponentID(type_name), kind, Telemetry(), signal="traces")
    return factory.create(settings, cfg, _Null())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-s", "--spans", type=int, default=1000, help="spans per request")
    parser.add_argument("-n", "--requests", type=int, default=200, help="requests per round")
    parser.add_argument("-r", "--rounds", type=int, default=5)
    args = parser.parse_args()
    raw = build_request(range(args.spans), payload=64)
    loop = asyncio.new_event_loop()

    def round_of(component):
        def run(n: int) -> int:
            async def go() -> None:
                for _ in range(n):
                    await component.consume(Traces.from_bytes(raw, args.spans))

            t0 = time.perf_counter_ns()
            loop.run_until_complete(go())
            return time.perf_counter_ns() - t0

        return run

    floor_label = "floor: passed on untouched"
    rounds = {
        floor_label: round_of(_PassOn(_Null())),
        "reference: full parse + re-encode": round_of(_FullReencode(_Null())),
    }
    for label, (kind, type_name, config) in CASES.items():
        rounds[label] = round_of(_component(kind, type_name, config))
    costs = alternate_rounds(rounds, args.requests, args.rounds, max(5, args.requests // 10))
    floor = median(costs[floor_label]) / args.spans
    print(calibration_line())
    print(f"{args.spans}-span requests, {args.requests} requests per round, {args.rounds} rounds, medians per span\n")
    rows = []
    for label, values in costs.items():
        per_span = median(values) / args.spans
        low, high = min(values) / args.spans, max(values) / args.spans
        added = fmt_time(per_span - floor) if label != floor_label else "—"
        rows.append([label, fmt_time(per_span), f"{fmt_time(low)}–{fmt_time(high)}", added])
    print(markdown_table(["case", "per span", "spread", "added per span"], rows))
    loop.close()


if __name__ == "__main__":
    main()
