"""The loadbalancing exporter's dns resolver against a real DNS server (dnslib) on a free loopback port.

The server answers A and AAAA from a table the test changes while the resolver runs; it can also answer
SERVFAIL, stay silent (a lost query), or be stopped.  Waits poll with deadlines: nothing asserts a timing
except that a lookup against a silent server gives up within its timeout, far below dnspython's own 5 s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from otel_lite.collector.component import ConfigError
from otel_lite.collector.exporters.loadbalancing.dns_resolver import (
    DNSResolver,
    DNSResolverConfig,
    format_endpoint,
    parse_nameserver,
)
from otel_lite.collector.telemetry import Telemetry
from tests.support.dns_server import DNSServer

NAME = "gateways.otel.test"
LOG = logging.getLogger("test.loadbalancing.dns")


@pytest.fixture
def dns_server():
    server = DNSServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class _Changes:
    def __init__(self):
        self.lists: list[list[str]] = []

    def __call__(self, endpoints: list[str]) -> None:
        self.lists.append(endpoints)


def _config(server: DNSServer, **kw) -> DNSResolverConfig:
    values = {"hostname": NAME, "port": "4317", "interval": 0.1, "timeout": 0.5, "nameservers": [server.nameserver]}
    values.update(kw)
    return DNSResolverConfig.from_mapping(values)


async def _until(predicate: Callable[[], bool], deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


def _resolutions(telemetry: Telemetry, success: bool) -> float:
    value = telemetry.registry.get_sample_value(
        "otelcol_loadbalancer_num_resolutions_total", {"success": "true" if success else "false", "resolver": "dns"}
    )
    return value or 0.0


def test_first_resolution_a_and_aaaa_with_port(dns_server):
    dns_server.records.set(NAME, ["127.0.0.3", "::1", "127.0.0.2", "fd00:0:0:0:0:0:0:2"])
    telemetry = Telemetry(CollectorRegistry())

    async def main():
        changes = _Changes()
        resolver = DNSResolver(_config(dns_server, interval="1h"), LOG, telemetry)
        await resolver.start(changes)
        try:
            expected = ["127.0.0.2:4317", "127.0.0.3:4317", "[::1]:4317", "[fd00::2]:4317"]
            assert resolver.endpoints() == expected  # resolved before start returns
            assert changes.lists == [expected]
        finally:
            await resolver.shutdown()
        await resolver.shutdown()  # twice is fine

    asyncio.run(main())
    assert _resolutions(telemetry, True) == 1
    assert _resolutions(telemetry, False) == 0


def test_no_port_means_no_port_in_the_strings(dns_server):
    dns_server.records.set(NAME, ["127.0.0.2", "::1"])

    async def main():
        changes = _Changes()
        resolver = DNSResolver(_config(dns_server, port=""), LOG)  # no telemetry
        await resolver.start(changes)
        try:
            assert resolver.endpoints() == ["127.0.0.2", "[::1]"]
        finally:
            await resolver.shutdown()

    asyncio.run(main())


def test_short_name_is_asked_as_it_is_with_configured_nameservers(dns_server):
    dns_server.records.set("gateways", ["127.0.0.2"])  # no search suffix (e.g. the machine's domain) added

    async def main():
        resolver = DNSResolver(_config(dns_server, hostname="gateways"), LOG)
        await resolver.start(_Changes())
        try:
            assert resolver.endpoints() == ["127.0.0.2:4317"]
        finally:
            await resolver.shutdown()

    asyncio.run(main())


def test_integer_port_and_aaaa_only(dns_server):
    dns_server.records.set(NAME, ["::2", "::1"])  # NOERROR without A records: the AAAA answer is used

    async def main():
        resolver = DNSResolver(_config(dns_server, port=55690), LOG)
        await resolver.start(_Changes())
        try:
            assert resolver.endpoints() == ["[::1]:55690", "[::2]:55690"]
        finally:
            await resolver.shutdown()

    asyncio.run(main())


def test_records_change_3_4_2_call_on_change_with_each_sorted_list(dns_server):
    dns_server.records.set(NAME, ["127.0.0.4", "127.0.0.2", "127.0.0.3"])
    telemetry = Telemetry(CollectorRegistry())

    async def main():
        changes = _Changes()
        resolver = DNSResolver(_config(dns_server), LOG, telemetry)
        await resolver.start(changes)
        try:
            three = ["127.0.0.2:4317", "127.0.0.3:4317", "127.0.0.4:4317"]
            assert changes.lists == [three]
            # several unchanged resolutions call nothing
            done = _resolutions(telemetry, True)
            await _until(lambda: _resolutions(telemetry, True) >= done + 3)
            assert changes.lists == [three]

            dns_server.records.set(NAME, ["127.0.0.5", "127.0.0.3", "127.0.0.10", "127.0.0.2"])
            four = ["127.0.0.10:4317", "127.0.0.2:4317", "127.0.0.3:4317", "127.0.0.5:4317"]  # string order
            await _until(lambda: len(changes.lists) == 2)
            assert changes.lists[1] == four
            assert resolver.endpoints() == four

            dns_server.records.set(NAME, ["127.0.0.5", "127.0.0.2"])
            two = ["127.0.0.2:4317", "127.0.0.5:4317"]
            await _until(lambda: len(changes.lists) == 3)
            assert changes.lists[2] == two
            done = _resolutions(telemetry, True)
            await _until(lambda: _resolutions(telemetry, True) >= done + 3)
            assert changes.lists == [three, four, two]  # each change reported once
        finally:
            await resolver.shutdown()
        after = len(changes.lists)
        dns_server.records.set(NAME, ["127.0.0.9"])
        await asyncio.sleep(0.3)  # no resolution, no callback after shutdown
        assert len(changes.lists) == after

    asyncio.run(main())


@pytest.mark.parametrize("failure", ["servfail", "stopped", "nxdomain", "no records"])
def test_a_failed_or_empty_lookup_keeps_the_last_good_answer(dns_server, failure):
    dns_server.records.set(NAME, ["127.0.0.2", "127.0.0.3"])
    telemetry = Telemetry(CollectorRegistry())
    expected = ["127.0.0.2:4317", "127.0.0.3:4317"]

    async def main():
        changes = _Changes()
        resolver = DNSResolver(_config(dns_server, timeout=0.2), LOG, telemetry)
        await resolver.start(changes)
        try:
            assert resolver.endpoints() == expected
            if failure == "servfail":
                dns_server.records.mode = "servfail"
            elif failure == "stopped":
                dns_server.stop()
            elif failure == "nxdomain":
                with dns_server.records.lock:
                    del dns_server.records.records[NAME]
            else:
                dns_server.records.set(NAME, [])
            await _until(lambda: _resolutions(telemetry, False) >= 3)
            assert resolver.endpoints() == expected
            assert changes.lists == [expected]
            if failure == "servfail":  # and it follows the records again once the server answers
                dns_server.records.set(NAME, ["127.0.0.7"])
                dns_server.records.mode = "ok"
                await _until(lambda: len(changes.lists) == 2)
                assert changes.lists[1] == ["127.0.0.7:4317"]
        finally:
            await resolver.shutdown()

    asyncio.run(main())


def test_failure_at_start_is_not_fatal_and_later_success_reports(dns_server, caplog):
    telemetry = Telemetry(CollectorRegistry())

    async def main():
        changes = _Changes()
        resolver = DNSResolver(_config(dns_server), LOG, telemetry)
        caplog.set_level(logging.WARNING, logger=LOG.name)
        await resolver.start(changes)  # NXDOMAIN: logged, not raised
        try:
            assert resolver.endpoints() == []
            assert changes.lists == []
            assert any("failed to resolve" in r.getMessage() for r in caplog.records)
            await _until(lambda: _resolutions(telemetry, False) >= 5)
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1  # rate-limited: one warning, not one per lookup
            dns_server.records.set(NAME, ["127.0.0.2"])
            await _until(lambda: len(changes.lists) == 1)
            assert changes.lists == [["127.0.0.2:4317"]]
        finally:
            await resolver.shutdown()

    asyncio.run(main())


def test_timeout_is_honoured_against_a_silent_server(dns_server):
    dns_server.records.set(NAME, ["127.0.0.2"])
    dns_server.records.mode = "silent"
    telemetry = Telemetry(CollectorRegistry())

    async def main():
        resolver = DNSResolver(_config(dns_server, timeout="200ms", interval="1h"), LOG, telemetry)
        began = time.monotonic()
        await resolver.start(_Changes())
        elapsed = time.monotonic() - began
        await resolver.shutdown()
        return elapsed

    elapsed = asyncio.run(main())
    assert dns_server.records.queries >= 1  # the server was asked
    assert _resolutions(telemetry, False) == 1
    # gave up on its own 200 ms timeout, not on dnspython's 5 s default lifetime (generous for a noisy machine)
    assert elapsed < 3.0


def test_callback_errors_do_not_stop_the_resolver(dns_server):
    dns_server.records.set(NAME, ["127.0.0.2"])
    seen: list[list[str]] = []

    def on_change(endpoints):
        seen.append(endpoints)
        raise RuntimeError("exporter bug")

    async def main():
        resolver = DNSResolver(_config(dns_server), logging.getLogger("test.loadbalancing.dns.quiet"))
        await resolver.start(on_change)
        try:
            dns_server.records.set(NAME, ["127.0.0.3"])
            await _until(lambda: len(seen) == 2)
            assert resolver.endpoints() == ["127.0.0.3:4317"]
        finally:
            await resolver.shutdown()

    asyncio.run(main())


def test_shutdown_without_start():
    async def main():
        resolver = DNSResolver(DNSResolverConfig(hostname=NAME), LOG)
        await resolver.shutdown()
        assert resolver.endpoints() == []

    asyncio.run(main())


def test_ip_literal_hostname_is_not_looked_up():
    async def main():
        changes = _Changes()
        resolver = DNSResolver(DNSResolverConfig(hostname="::1", port="4317", nameservers=["127.0.0.1:9"]), LOG)
        await resolver.start(changes)
        await resolver.shutdown()
        return changes.lists

    assert asyncio.run(main()) == [["[::1]:4317"]]


def test_config_defaults_and_decoding():
    cfg = DNSResolverConfig.from_mapping({"hostname": "gw.observability.svc.cluster.local"})
    assert (cfg.port, cfg.interval, cfg.timeout, cfg.nameservers) == ("", 5.0, 1.0, [])
    cfg = DNSResolverConfig.from_mapping(
        {"hostname": "gw", "port": 4317, "interval": "250ms", "nameservers": ["[::1]:5353", "10.0.0.2"]}
    )
    assert (cfg.port_text, cfg.interval) == ("4317", 0.25)
    # Go: a zero interval or timeout means the default
    cfg = DNSResolverConfig.from_mapping({"hostname": "gw", "interval": "0", "timeout": 0})
    assert (cfg.interval_seconds, cfg.timeout_seconds) == (5.0, 1.0)


@pytest.mark.parametrize(
    ("mapping", "path"),
    [
        ({}, "hostname"),
        ({"hostname": "  "}, "hostname"),
        ({"hostname": "gw:4317"}, "hostname"),
        ({"hostname": "gw", "interval": "fast"}, "interval"),
        ({"hostname": "gw", "interval": -1}, "interval"),
        ({"hostname": "gw", "timeout": "1 second"}, "timeout"),
        ({"hostname": "gw", "port": "otlp"}, "port"),
        ({"hostname": "gw", "port": 70000}, "port"),
        ({"hostname": "gw", "nameservers": ["dns.example:53"]}, "nameservers[0]"),
        ({"hostname": "gw", "nameservers": ["127.0.0.1", "[::1]:x"]}, "nameservers[1]"),
        ({"hostname": "gw", "unknown": 1}, "unknown"),
    ],
)
def test_config_validation_errors(mapping, path):
    with pytest.raises(ConfigError) as info:
        DNSResolverConfig.from_mapping(mapping)
    assert info.value.path == path


def test_endpoint_strings_match_go():
    assert format_endpoint("10.0.0.1", "") == "10.0.0.1"
    assert format_endpoint("10.0.0.1", "4317") == "10.0.0.1:4317"
    assert format_endpoint("2001:DB8:0:0:1:0:0:1", "4317") == "[2001:db8::1:0:0:1]:4317"  # RFC 5952, as Go
    assert format_endpoint("2001:db8:0:1:1:1:1:1", "") == "[2001:db8:0:1:1:1:1:1]"  # a lone zero stays
    assert format_endpoint("::ffff:10.0.0.1", "4317") == "10.0.0.1:4317"  # Go's To4() of a mapped address
    assert parse_nameserver("[::1]:5353") == ("::1", 5353)
    assert parse_nameserver("::1") == ("::1", 53)
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)


def test_tcp_listener_answers_too(dns_server):
    """The test server speaks TCP on the same port (dnspython falls back to it on truncated answers)."""
    import dns.message
    import dns.query

    dns_server.records.set(NAME, ["127.0.0.2"])
    answer = dns.query.tcp(dns.message.make_query(NAME, "A"), "127.0.0.1", port=dns_server.port, timeout=5)
    assert [r.to_text() for r in answer.answer[0]] == ["127.0.0.2"]
