"""Fuzz campaign against both otlp receiver protocols (hypothesis at scale).

    python benchmarks/fuzz_receivers.py --minutes 5            # all kinds, round robin, until time is up
    python benchmarks/fuzz_receivers.py --minutes 1 --kinds deep-json,bad-ids-proto --protocols http

Runs the real collector (the otlp receiver on free loopback ports, gRPC + HTTP) in this process, with
well-behaved clients (raw gRPC, raw HTTP, the official OTLP exporters) sending all along, and feeds it
randomly generated bad input from tests/collector/fuzz_harness.py, kind after kind, in rounds of
``--examples`` cases.  A case that breaks the property (5xx / INTERNAL / UNKNOWN, no reason, an
invalid request accepted, no answer) is shrunk by hypothesis and the minimal input is written to
tests/collector/corpus/ (named after the protocol, the kind and what broke), which
tests/collector/test_receiver_bad_input.py replays.  After every round: the well-behaved clients must
have lost nothing (counted span by span at the consumer), a valid request must still be served on
both protocols, and RSS must stay bounded.  Prints a table per kind at the end; exits 1 on findings.

Runs at nice 10 on one core's worth of CPU (client and server share this process's GIL).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import given, settings

from tests.collector import fuzz_harness as fh

MIB = 1024 * 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--examples", type=int, default=300, help="cases per kind per round")
    ap.add_argument("--protocols", default="http,grpc")
    ap.add_argument("--kinds", default="", help="comma-separated kinds (default: all)")
    ap.add_argument("--rss-limit-mib", type=int, default=300, help="fail if RSS grows more than this")
    ap.add_argument("--no-corpus", action="store_true", help="do not write failing inputs to the corpus")
    args = ap.parse_args(argv)
    try:
        os.nice(10)
    except OSError:
        pass
    warnings.filterwarnings("ignore", message="Do not use the `random` module inside strategies")

    kinds = []
    for protocol in args.protocols.split(","):
        table = fh.http_kinds() if protocol == "http" else fh.grpc_kinds()
        for name, strategy in table.items():
            if not args.kinds or name in args.kinds.split(","):
                kinds.append((protocol, name, strategy))
    if not kinds:
        ap.error("no kinds selected")

    harness = fh.Harness()
    outcomes: dict = collections.defaultdict(collections.Counter)
    findings: list[tuple[str, str, str]] = []
    original_check = fh.check

    def counting_check(case, answer):
        accepted = original_check(case, answer)
        outcome = (
            "accepted" if accepted else (answer[1] if answer[0] == "http" else getattr(answer[1], "name", answer[0]))
        )
        outcomes[(case.protocol, case.kind)][str(outcome)] += 1
        return accepted

    fh.check = counting_check
    deadline = time.monotonic() + args.minutes * 60
    start_rss = harness.rss()
    peak_rss = start_rss
    rounds = 0
    try:
        with fh.GoodClients(harness, interval=0.05) as good:
            while time.monotonic() < deadline:
                rounds += 1
                for protocol, name, strategy in kinds:
                    if time.monotonic() >= deadline:
                        break
                    failure = _fuzz(harness, strategy, args.examples)
                    if failure is not None:
                        case, message = failure
                        outcomes[(protocol, name)]["VIOLATION"] += 1
                        path = "(not written)"
                        if not args.no_corpus:
                            fh.CORPUS.mkdir(exist_ok=True)
                            path = fh.CORPUS / case.file_name(message)
                            path.write_text(case.to_json(message))
                        findings.append((f"{protocol}/{name}", message, str(path)))
                        print(f"FINDING {protocol}/{name}: {message} -> {path}", flush=True)
                    _still_serving(harness)
                    peak_rss = max(peak_rss, harness.rss())
                    if peak_rss - start_rss > args.rss_limit_mib * MIB:
                        findings.append(("memory", f"RSS grew by {(peak_rss - start_rss) / MIB:.0f} MiB", ""))
                        deadline = 0
                print(
                    f"round {rounds}: {sum(sum(c.values()) for c in outcomes.values())} cases, "
                    f"{good.requests} good requests, RSS {harness.rss() / MIB:.0f} MiB",
                    flush=True,
                )
        try:
            harness.verify_consumer(good)
        except fh.Violation as e:
            findings.append(("well-behaved clients", str(e), ""))
    finally:
        fh.check = original_check
        harness.close()

    total = 0
    print(f"\n{'protocol/kind':36} {'cases':>7}  outcomes")
    for (protocol, name), counter in sorted(outcomes.items()):
        n = sum(counter.values())
        total += n
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: -kv[1]))
        print(f"{protocol + '/' + name:36} {n:>7}  {detail}")
    print(
        f"\n{total} cases in {rounds} rounds; good clients: {good.requests} requests, "
        f"{sum(good.acked.values())} spans acknowledged, all delivered exactly once"
        if not any(f[0] == "well-behaved clients" for f in findings)
        else f"\n{total} cases"
    )
    print(f"RSS: start {start_rss / MIB:.0f} MiB, peak {peak_rss / MIB:.0f} MiB")
    if findings:
        print(f"\n{len(findings)} finding(s):")
        for where, message, path in findings:
            print(f"  {where}: {message} {path}")
        return 1
    print("no findings")
    return 0


def _fuzz(harness: fh.Harness, strategy, examples: int):
    """One hypothesis run; returns (minimal failing case, message) or None."""
    last_failure = []

    @settings(settings.get_profile("fuzz"), max_examples=examples)
    @given(case=strategy)
    def prop(case):
        try:
            harness.run(case)
        except Exception as e:
            last_failure[:] = [(case, f"{type(e).__name__}: {e}")]
            raise

    try:
        prop()
    except Exception as e:  # hypothesis re-raises the minimal example last
        if last_failure:
            return last_failure[0]
        return fh.Case("unknown", "http", b""), f"{type(e).__name__}: {e}"
    return None


def _still_serving(harness: fh.Harness) -> None:
    req, _ = fh._good_request(0, 0)
    body = req.SerializeToString()
    harness.export(body, timeout=30)
    answer = fh.http_post(harness.http_port, body, "application/x-protobuf", None)
    if answer[0] != "http" or answer[1] != 200:
        raise SystemExit(f"the receiver stopped serving: {answer[:2]}")


if __name__ == "__main__":
    sys.exit(main())
