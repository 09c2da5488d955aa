"""A DNS responder on loopback, built with dnspython, for the network tests.

The diagnosis runs with ``--mu3e-nameserver 127.0.0.1:<port>`` pointing here, so no test ever
queries the machine's configured resolver.  It answers UDP and TCP; names it does not know get
NXDOMAIN, names mapped to no records get an empty NOERROR answer, names in ``stall`` never get an
answer (the resolver-timeout case), names in ``servfail`` get SERVFAIL, names in ``refused`` get
REFUSED.  Every query is logged so tests can assert what was (not) asked.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterable, Mapping

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class DnsResponder:
    def __init__(self, records: Mapping[str, Mapping[str, Iterable[str]]], *,
                 stall: Iterable[str] = (), servfail: Iterable[str] = (),
                 refused: Iterable[str] = (), host: str = "127.0.0.1") -> None:
        self.records = {self._key(k): {t.upper(): list(v) for t, v in rr.items()}
                        for k, rr in records.items()}
        self.stall = {self._key(n) for n in stall}
        self.servfail = {self._key(n) for n in servfail}
        self.refused = {self._key(n) for n in refused}
        self.queries: list[tuple[str, str]] = []
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((host, self.port))
        self.tcp.listen(8)
        self.address = f"{host}:{self.port}"
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]

    @staticmethod
    def _key(name: str) -> str:
        return name.rstrip(".").lower()

    def answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = self._key(question.name.to_text())
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if name in self.stall:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name in self.refused:
            response.set_rcode(dns.rcode.REFUSED)
        elif name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            values = self.records[name].get(rdtype, [])
            if values:
                response.answer.append(dns.rrset.from_text_list(
                    question.name, 60, dns.rdataclass.IN, question.rdtype, values))
        return response.to_wire()

    def _serve_udp(self) -> None:
        self.udp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                wire, peer = self.udp.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            try:
                reply = self.answer(wire)
            except Exception:  # a malformed query: ignore it, as a real server would
                continue
            if reply is not None:
                self.udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        self.tcp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(2)
                try:
                    size = struct.unpack("!H", conn.recv(2))[0]
                    reply = self.answer(conn.recv(size))
                    if reply is not None:
                        conn.sendall(struct.pack("!H", len(reply)) + reply)
                except (OSError, struct.error, Exception):
                    continue

    def __enter__(self) -> DnsResponder:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        self.udp.close()
        self.tcp.close()
