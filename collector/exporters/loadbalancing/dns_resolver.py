"""The ``dns`` resolver of the ``loadbalancing`` exporter: the backends are the A and AAAA records of a name.

Modelled on the OpenTelemetry Collector's ``resolver_dns.go`` (contrib ``exporter/loadbalancingexporter``), so
that a fleet mixing Go and otel-lite agents hashes the same strings onto its ring:

- each address is written as Go's ``net.IP.String()`` does: IPv4 dotted (an IPv4-mapped IPv6 address too, as
  Go's ``To4()`` sees it), IPv6 in RFC 5952 form inside brackets (``[fd00::2]``); ``:port`` is appended only
  when ``port`` is set; the list is sorted (``sorted()`` on these ASCII strings is Go's ``sort.Strings``);
- the name is resolved once at start (a failure is logged, not fatal) and then every ``interval``, each
  lookup bounded by ``timeout``; ``on_change`` is called only when the sorted list differs from the last one;
- a failed lookup keeps the last good answer, and so does an empty one (see ``_lookup``);
- ``otelcol_loadbalancer_num_resolutions{success, resolver="dns"}`` counts every lookup.

A and AAAA are asked in parallel, as Go's resolver does; an answer for one family is used even when the other
family's query failed (Go's default, non-strict, behaviour).  Lookups go through dnspython: with no
``nameservers`` configured it reads ``/etc/resolv.conf`` (nameservers, ``search``, ``ndots``) as Go's pure-Go
resolver does; it does not read ``/etc/hosts`` (Go does), so a name only listed there does not resolve.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from ...component import ComponentConfig, ConfigError, Duration

__all__ = ["DNSResolverConfig", "DNSResolver", "format_endpoint", "parse_nameserver"]

_RESOLVER_LABEL = "dns"
_WARN_EVERY = 30.0  # seconds between two "still failing" warnings (Go warns on every failed lookup)
# /etc/resolv.conf missing or unreadable: Go's resolver then asks these (net/dnsconfig.go defaultNS)
_DEFAULT_NAMESERVERS = (("127.0.0.1", 53), ("::1", 53))


@dataclass
class DNSResolverConfig(ComponentConfig):
    """``resolver.dns`` of the loadbalancing exporter (Go's ``DNSResolver`` config, plus ``nameservers``)."""

    hostname: str = ""
    # appended to every resolved address when set; empty = no port in the endpoint strings (the exporter
    # then dials its default port, but the ring hashes the string without it, as Go does)
    port: str | int = ""
    interval: Duration = Duration(5.0)
    timeout: Duration = Duration(1.0)
    # otel-lite extension (not in Go's config): DNS servers to ask, each ``host[:port]`` (an IP address,
    # IPv6 as ``[addr]:port`` or bare ``addr``; port 53 by default). Empty = the system's resolver
    # configuration (/etc/resolv.conf). Needed to point at a DNS server on a non-standard port.
    nameservers: list[str] = field(default_factory=list)

    def validate(self) -> None:
        hostname = self.hostname.strip() if isinstance(self.hostname, str) else ""
        if not hostname:
            raise ConfigError("hostname", "no hostname specified to resolve the backends")
        if ":" in hostname and not _is_ip(hostname):
            raise ConfigError("hostname", f"{hostname!r} must be a name without a port: set the port in 'port'")
        port = str(self.port).strip()
        if port and (not port.isdigit() or not 0 < int(port) < 65536):
            raise ConfigError("port", f"invalid port {self.port!r} (expected 1-65535)")
        # Go treats 0 as "use the default" (newDNSResolver); negative durations are refused when decoding
        if self.interval < 0:
            raise ConfigError("interval", "must not be negative")
        if self.timeout < 0:
            raise ConfigError("timeout", "must not be negative")
        for i, server in enumerate(self.nameservers):
            try:
                parse_nameserver(server)
            except ValueError as e:
                raise ConfigError(f"nameservers[{i}]", str(e)) from None

    @property
    def port_text(self) -> str:
        return str(self.port).strip()

    @property
    def interval_seconds(self) -> float:
        return float(self.interval) or 5.0  # Go: 0 means the default

    @property
    def timeout_seconds(self) -> float:
        return float(self.timeout) or 1.0  # Go: 0 means the default


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_nameserver(text: str) -> tuple[str, int]:
    """``host[:port]`` → (IP address, port): ``10.0.0.2``, ``10.0.0.2:5353``, ``::1``, ``[::1]:5353``."""
    text = text.strip()
    host, port = text, "53"
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"invalid nameserver {text!r}: missing ']'")
        host, rest = text[1:close], text[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"invalid nameserver {text!r} (expected [addr]:port)")
            port = rest[1:]
    elif text.count(":") == 1:  # a:b:... with more colons is a bare IPv6 address
        host, port = text.split(":")
    if not _is_ip(host):
        raise ValueError(f"invalid nameserver {text!r}: the host must be an IP address")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid nameserver {text!r}: bad port {port!r}")
    return host, int(port)


def format_endpoint(address: str, port: str) -> str:
    """One resolved address as Go's dns resolver writes it: ``10.0.0.1``, ``[fd00::1]``, plus ``:port`` if set."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # Go: ip.To4() != nil for ::ffff:a.b.c.d, printed as IPv4
    # Python's compressed form is RFC 5952, as Go's net.IP.String() (lowercase, longest zero run, no lone ::)
    text = str(ip) if ip.version == 4 else f"[{ip.compressed}]"
    return f"{text}:{port}" if port else text


class _LookupError(Exception):
    pass


class DNSResolver:
    """Resolves ``config.hostname`` every ``interval`` and reports the sorted endpoint list when it changes."""

    def __init__(self, config: DNSResolverConfig, logger: logging.Logger, telemetry: Any = None):
        self.config = config
        self.log = logger
        self._hostname = config.hostname.strip()
        self._port = config.port_text
        self._interval = config.interval_seconds
        self._timeout = config.timeout_seconds
        self._endpoints: list[str] = []
        self._on_change: Callable[[list[str]], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._failures = 0  # consecutive failed lookups
        self._last_warning = -1e9
        self._suppressed = 0
        self._m_resolutions: Any = None
        if telemetry is not None:
            counter = telemetry.counter(
                "otelcol_loadbalancer_num_resolutions",
                "Number of times the resolver has triggered new resolutions.",
                ["success", "resolver"],
            )
            self._m_resolutions = {
                ok: counter.labels("true" if ok else "false", _RESOLVER_LABEL) for ok in (True, False)
            }

    def endpoints(self) -> list[str]:
        return list(self._endpoints)

    async def start(self, on_change: Callable[[list[str]], None]) -> None:
        if self._task is not None:
            return
        self._on_change = on_change
        self._resolver = self._make_resolver()
        await self._resolve_once(first=True)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"dns-resolver {self._hostname}")
        self.log.debug(
            "DNS resolver started: hostname=%s port=%s interval=%ss timeout=%ss",
            self._hostname,
            self._port,
            self._interval,
            self._timeout,
        )

    async def shutdown(self) -> None:
        self._on_change = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _make_resolver(self) -> dns.asyncresolver.Resolver:
        if self.config.nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.search, resolver.domain = [], dns.name.root  # no search list: the name is taken as absolute
            servers = [parse_nameserver(s) for s in self.config.nameservers]
        else:
            try:
                return dns.asyncresolver.Resolver()  # /etc/resolv.conf
            except dns.exception.DNSException as e:  # no resolv.conf, or no nameserver in it
                self.log.warning("no usable system DNS configuration (%s): asking 127.0.0.1:53 and [::1]:53", e)
                resolver = dns.asyncresolver.Resolver(configure=False)  # (its domain: the host name's, as Go)
                servers = list(_DEFAULT_NAMESERVERS)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in servers]
        return resolver

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self._interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            # a ticker, as Go's: a slow lookup does not push the later ones back, a missed tick is skipped
            next_at += self._interval
            if next_at < loop.time():
                next_at = loop.time() + self._interval
            await self._resolve_once(first=False)

    async def _resolve_once(self, first: bool) -> None:
        try:
            addresses = await self._lookup()
        except _LookupError as e:
            self._count(False)
            self._failed(str(e), first)
            return
        self._count(True)
        if self._failures:
            self.log.info(
                "DNS resolution of %s succeeded again after %d failed lookups", self._hostname, self._failures
            )
        self._failures, self._suppressed = 0, 0
        backends = sorted(format_endpoint(a, self._port) for a in addresses)
        if backends == self._endpoints:
            return
        self._endpoints = backends
        callback = self._on_change
        if callback is not None:
            try:
                callback(list(backends))
            except Exception:  # the resolver keeps running whatever the exporter's callback does
                self.log.exception("the endpoint change callback failed")

    async def _lookup(self) -> list[str]:
        """The addresses of the hostname, or ``_LookupError``.

        Empty answers: Go's ``net.Resolver.LookupIPAddr`` returns an error ("no such host") both for NXDOMAIN
        and for a name with neither A nor AAAA records, and ``resolver_dns.go`` treats every error alike: it
        counts ``num_resolutions{success=false}``, logs a warning, keeps its endpoints and calls no callback.
        We do the same: an empty answer is a failed lookup and the last good answer stays (a DNS hiccup that
        returns nothing must not empty the ring and strand every trace).
        """
        if _is_ip(self._hostname):  # Go returns an IP literal as it is, without asking DNS
            return [self._hostname]
        resolver = self._resolver
        assert resolver is not None
        timeout = self._timeout
        queries = [
            resolver.resolve(self._hostname, rdtype, raise_on_no_answer=False, search=True, lifetime=timeout)
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
        ]
        try:
            # lifetime bounds each query (both run in parallel); the outer bound is a safety net only
            results = await asyncio.wait_for(asyncio.gather(*queries, return_exceptions=True), timeout * 1.5 + 0.1)
        except TimeoutError:
            raise _LookupError(f"lookup of {self._hostname} timed out after {timeout}s") from None
        addresses: list[str] = []
        errors: list[str] = []
        for result in results:
            if isinstance(result, BaseException):
                if not isinstance(result, (dns.exception.DNSException, OSError)):
                    raise result
                errors.append(_describe(result, self._hostname))
                continue
            addresses.extend(rdata.to_text() for rdata in result)
        if addresses:
            return addresses
        if errors:
            raise _LookupError("; ".join(dict.fromkeys(errors)))
        raise _LookupError(f"lookup {self._hostname}: no such host (no A or AAAA records)")

    def _count(self, success: bool) -> None:
        if self._m_resolutions is not None:
            self._m_resolutions[success].inc()

    def _failed(self, reason: str, first: bool) -> None:
        self._failures += 1
        now = time.monotonic()
        kept = f"keeping the last {len(self._endpoints)} endpoints" if self._endpoints else "no endpoints yet"
        if self._failures == 1 or now - self._last_warning >= _WARN_EVERY:
            more = f" ({self._suppressed} more failed lookups not logged)" if self._suppressed else ""
            self.log.warning(
                "failed to resolve %s%s: %s; %s%s", self._hostname, " at start" if first else "", reason, kept, more
            )
            self._last_warning, self._suppressed = now, 0
        else:
            self._suppressed += 1
            self.log.debug("failed to resolve %s: %s; %s", self._hostname, reason, kept)


def _describe(error: BaseException, hostname: str) -> str:
    if isinstance(error, dns.resolver.NXDOMAIN):
        return f"lookup {hostname}: no such host (NXDOMAIN)"
    if isinstance(error, dns.exception.Timeout):
        return f"lookup {hostname}: timed out"
    return f"lookup {hostname}: {error}"
