"""A real DNS server for tests (dnslib) on a free loopback port, UDP and TCP, answering A and AAAA
from a table the test changes while its clients run; it can also answer SERVFAIL, stay silent (a
lost query), or be stopped."""

from __future__ import annotations

import threading

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger
from dnslib.server import DNSServer as _LibServer

__all__ = ["DNSServer", "Records"]


class Records(BaseResolver):
    """name -> addresses (v4 and v6 mixed); ``mode``: ok | servfail | silent."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records: dict[str, list[str]] = {}
        self.mode = "ok"
        self.queries = 0

    def set(self, name: str, addresses: list[str]) -> None:
        with self.lock:
            self.records[name.rstrip(".").lower()] = list(addresses)

    def resolve(self, request: DNSRecord, handler) -> DNSRecord:
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        with self.lock:
            self.queries += 1
            mode = self.mode
            addresses = self.records.get(qname)
        if mode == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if addresses is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for address in addresses:
            if ":" in address and request.q.qtype == QTYPE.AAAA:
                reply.add_answer(RR(request.q.qname, QTYPE.AAAA, rdata=AAAA(address), ttl=0))
            elif ":" not in address and request.q.qtype == QTYPE.A:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=0))
        return reply  # NOERROR, possibly with no answer (the name exists without records of that type)


class _Handler(DNSHandler):
    def handle(self):
        if self.server.resolver.mode == "silent":  # the query is lost: no reply at all
            with self.server.resolver.lock:
                self.server.resolver.queries += 1
            return
        super().handle()


class DNSServer:
    """A DNS server on 127.0.0.1, UDP and TCP on the same free port."""

    def __init__(self):
        self.records = Records()
        self.servers: list[_LibServer] = []
        self.port = 0

    def start(self) -> None:
        quiet = DNSLogger(logf=lambda *_: None)
        for _ in range(20):  # the UDP port is free, the same TCP port may not be: pick again
            udp = _LibServer(self.records, address="127.0.0.1", port=0, logger=quiet, handler=_Handler)
            port = udp.server.server_address[1]
            try:
                tcp = _LibServer(self.records, address="127.0.0.1", port=port, tcp=True, logger=quiet, handler=_Handler)
            except OSError:
                udp.server.server_close()
                continue
            self.servers, self.port = [udp, tcp], port
            break
        else:  # pragma: no cover - the machine is out of ports
            raise RuntimeError("no free UDP+TCP port pair")
        for server in self.servers:  # as DNSServer.start_thread, with a short poll so stop() is quick
            server.thread = threading.Thread(
                target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-dns-server", daemon=True
            )
            server.thread.start()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()  # shutdown() of the serve_forever loop
            server.server.server_close()
            server.thread.join(5)
        self.servers = []

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> DNSServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
