"""Every byte ``fix`` downloads comes through here, under one set of transport rules.

- **Schemes.** CA bundles come over HTTPS only (plain http needs ``--allow-http-repository``
  and the plan says so with a warning); CRLs may come over http as their CAs publish them,
  because each is verified against its CA before use.  Nothing but http and https.
- **Redirects** are followed by hand, at most :data:`MAX_REDIRECTS`; none may change the scheme
  (no downgrade, and no surprise upgrade either) or leave the host and port asked for.
- **A total deadline** for each download, redirects included, shared by a whole step when
  the step says so: every connect, TLS handshake, send and receive gets only the time left
  (:class:`_DeadlineSocket`), so a server that sends its headers and then one byte every ten
  seconds is cut off at the deadline, not kept alive by per-read timeouts.
- **A size cap**, enforced as the bytes arrive (a declared ``Content-Length`` above it is
  refused before reading), and for archives a cap on the unpacked bytes (:class:`Gunzip`),
  so a decompression bomb stops at the cap; :mod:`.bundles` counts tar members as they are
  read.
- **TLS** is verified with certifi's CA bundle (the one ``requests`` uses), or the file or
  directory ``REQUESTS_CA_BUNDLE`` names (a site's own CA for its mirror), and the host name.
  Proxies from the environment are not used: the peers are the repository and the CRL URLs
  themselves, nothing else.

Every refusal is a :class:`DownloadError` (a :class:`~mu3e_checks.repair.base.RepairError`)
whose message names the cause; the caller turns it into a "NOT repaired" step and writes
nothing from that download.
"""

from __future__ import annotations

import functools
import http.client
import io
import os
import socket
import ssl
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Optional
from urllib.parse import SplitResult, urljoin, urlsplit

from mu3e_checks.repair.base import RepairError
from mu3e_checks.text import clip

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)


class DownloadError(RepairError):
    """A download was refused or failed; nothing it brought is used."""


def human(n: int) -> str:
    """A byte count for a message (``4 MiB``, ``512 kiB``)."""
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n // 1024} kiB"


class Deadline:
    """An absolute point on the monotonic clock by which a download ends: ``seconds`` from
    now, or the end of the whole ``step`` when that comes first."""

    def __init__(self, seconds: float, step: Optional[Deadline] = None) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.by_step = step is not None and step.at < self.at
        if step is not None and self.by_step:
            self.at, self.seconds = step.at, step.seconds

    def left(self) -> float:
        """The seconds left; :class:`DownloadError` once there are none."""
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise self.expired()
        return remaining

    def expired(self) -> DownloadError:
        return DownloadError(f"timed out: not finished within {self.seconds:g} s"
                             + (" (the time of the whole step)" if self.by_step else ""))


class _DeadlineSocket:
    """A connected (TLS) socket whose every send and receive may take only the time left
    before the deadline: http.client reads its status line, headers and body through this,
    so no sequence of slow reads can outlast the deadline.  Closed like a socket: for real
    once the reader made from it is closed too (http.client hands the connection over to the
    response that way)."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock = sock
        self._deadline = deadline
        self._readers = 0
        self._closed = False

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._sock.settimeout(self._deadline.left())
        return self._sock.recv_into(buffer, nbytes, flags)

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(self._deadline.left())
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:  # socket.SocketIO calls it when a reader closes
        self._readers -= 1
        if self._closed and self._readers <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if self._readers <= 0:
            self._sock.close()


def tls_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    """The context every HTTPS download verifies with: ``REQUESTS_CA_BUNDLE`` (a file or a
    directory), else certifi's bundle, else the system's store; host names are checked."""
    bundle = environ.get("REQUESTS_CA_BUNDLE", "")
    if bundle:
        return _context(*((None, bundle) if os.path.isdir(bundle) else (bundle, None)))
    try:
        import certifi

        return _context(certifi.where(), None)
    except ImportError:  # pragma: no cover - requests brings certifi
        return _context(None, None)


@functools.lru_cache(maxsize=8)
def _context(cafile: Optional[str], capath: Optional[str]) -> ssl.SSLContext:
    """One context per CA location, shared by every download (a CRL refresh may make a
    hundred): loading a CA bundle costs more than a handshake."""
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise DownloadError(f"the CA bundle for HTTPS ({clip(str(cafile or capath), 120)}) "
                            f"cannot be used: {getattr(exc, 'strerror', '') or exc}") from None


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        raise DownloadError("not a valid URL (its port)") from None
    return port or (443 if parts.scheme == "https" else 80)


def check_url(url: str, *, https_only: bool) -> SplitResult:
    """The URL's parts when this module may fetch it; :class:`DownloadError` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadError(f"{clip(url, 120)} is not an http(s) URL")
    if https_only and parts.scheme != "https":
        raise DownloadError(f"{clip(url, 120)} is plain http: CA bundles are fetched over "
                            "HTTPS only (--allow-http-repository accepts plain http)")
    _port(parts)
    return parts


@contextmanager
def _named_errors(deadline: Deadline) -> Iterator[None]:
    """Turn the transport's exceptions into one :class:`DownloadError` sentence each (a socket
    timeout is the deadline: every socket operation gets only the time left)."""
    try:
        yield
    except DownloadError:
        raise
    except ssl.SSLCertVerificationError:
        raise DownloadError("its TLS certificate is not trusted (certificate verify failed); "
                            "if this server is right, put its CA in the file "
                            "REQUESTS_CA_BUNDLE names") from None
    except ssl.SSLError:
        raise DownloadError("the TLS handshake failed") from None
    except (socket.timeout, TimeoutError):
        raise deadline.expired() from None
    except http.client.IncompleteRead:
        raise DownloadError("the connection closed before the end of the file") from None
    except http.client.RemoteDisconnected:
        raise DownloadError("the server closed the connection without a reply") from None
    except http.client.HTTPException as exc:
        raise DownloadError(f"not a valid HTTP reply ({type(exc).__name__})") from None
    except OSError as exc:
        raise DownloadError(f"download failed ({exc.strerror or type(exc).__name__})") from None
    except (ValueError, UnicodeError) as exc:
        raise DownloadError(f"download failed ({type(exc).__name__})") from None


class Body:
    """The body of one answer, read under the deadline and the size cap."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
                 max_bytes: int, url: str, deadline: Deadline) -> None:
        self._conn, self._resp, self._max = conn, resp, max_bytes
        self._deadline = deadline
        self.url = url  # the URL that answered (after redirects on the same host)
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        n = _CHUNK if n is None or n < 0 else min(n, _CHUNK * 4)
        with _named_errors(self._deadline):
            data = self._resp.read(n)
        self.size += len(data)
        if self.size > self._max:
            raise DownloadError(f"larger than {human(self._max)}")
        return data

    def read_all(self) -> bytes:
        chunks = []
        while True:
            chunk = self.read(_CHUNK)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def close(self) -> None:
        _close(self._conn, self._resp)


def _close(conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
    """Close an answer and its connection (the answer holds the socket once the server said
    ``Connection: close``)."""
    try:
        resp.close()
    finally:
        conn.close()


def _request(parts: SplitResult, deadline: Deadline, tls: Optional[ssl.SSLContext]
             ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    host, port = parts.hostname or "", _port(parts)
    conn: http.client.HTTPConnection
    with _named_errors(deadline):
        raw = socket.create_connection((host, port), timeout=deadline.left())
        try:
            if parts.scheme == "https":
                assert tls is not None
                raw.settimeout(deadline.left())
                raw = tls.wrap_socket(raw, server_hostname=host)
                conn = http.client.HTTPSConnection(host, port, context=tls)
            else:
                conn = http.client.HTTPConnection(host, port)
        except BaseException:
            raw.close()
            raise
        conn.sock = _DeadlineSocket(raw, deadline)  # type: ignore[assignment]
        try:
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            conn.request("GET", target, headers={
                "User-Agent": "mu3e-checks-fix", "Accept-Encoding": "identity",
                "Connection": "close"})
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise


@contextmanager
def opened(url: str, *, deadline: Deadline, max_bytes: int, https_only: bool,
           environ: Mapping[str, str]) -> Iterator[Body]:
    """The body at ``url`` under the transport rules (see the module's docstring): redirects
    on the same scheme and host only, ``200`` at the end, the deadline over everything."""
    start = check_url(url, https_only=https_only)
    tls = tls_context(environ) if start.scheme == "https" else None
    current, parts = url, start
    for _hop in range(MAX_REDIRECTS + 1):
        conn, resp = _request(parts, deadline, tls)
        status = resp.status
        if status in _REDIRECTS:
            location = resp.getheader("Location") or ""
            _close(conn, resp)
            if not location:
                raise DownloadError(f"HTTP {status} without a Location")
            nxt = urljoin(current, location)
            np = urlsplit(nxt)
            if np.scheme != start.scheme:
                raise DownloadError(f"redirected to {clip(nxt, 120)}: a redirect may not change "
                                    f"the scheme ({start.scheme} -> {np.scheme or '?'})")
            if (np.hostname, _port(np)) != (start.hostname, _port(start)):
                raise DownloadError(f"redirected to {clip(nxt, 120)}: a redirect may not leave "
                                    f"{start.hostname}:{_port(start)}")
            current, parts = nxt, np
            continue
        if status != 200:
            _close(conn, resp)
            raise DownloadError(f"HTTP {status}")
        declared = resp.getheader("Content-Length") or ""
        if declared.strip().isdigit() and int(declared) > max_bytes:
            _close(conn, resp)
            raise DownloadError(f"larger than {human(max_bytes)} ({int(declared)} bytes "
                                "announced)")
        body = Body(conn, resp, max_bytes, current, deadline)
        try:
            yield body
        finally:
            body.close()
        return
    raise DownloadError(f"more than {MAX_REDIRECTS} redirects")


def fetch(url: str, *, deadline: Deadline, max_bytes: int, https_only: bool,
          environ: Mapping[str, str]) -> bytes:
    """The whole body at ``url`` (see :func:`opened`)."""
    with opened(url, deadline=deadline, max_bytes=max_bytes, https_only=https_only,
                environ=environ) as body:
        return body.read_all()


class Gunzip:
    """A gzip stream unpacked as it is read, never beyond ``limit`` bytes: a small download
    that inflates to gigabytes stops at the limit, as a :class:`DownloadError`."""

    def __init__(self, raw: Any, limit: int) -> None:
        self._raw, self._limit = raw, limit
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._buf = bytearray()
        self._total = 0
        self._done = False

    def read(self, n: int = -1) -> bytes:
        want = n if n is not None and n >= 0 else self._limit + 1
        while len(self._buf) < want and not self._done:
            src = self._z.unconsumed_tail
            if not src:
                if self._z.eof:
                    self._done = True
                    break
                src = self._raw.read(_CHUNK)
                if not src:
                    raise DownloadError("the gzip data ends early (truncated)")
            try:  # only what was asked for: the rest waits in unconsumed_tail
                out = self._z.decompress(src, max(1, min(want - len(self._buf),
                                                         self._limit - self._total + 1)))
            except zlib.error:
                raise DownloadError("not gzip data") from None
            self._total += len(out)
            if self._total > self._limit:
                raise DownloadError(f"unpacks to more than {human(self._limit)}")
            self._buf += out
            self._done = self._z.eof
        data = bytes(self._buf[:want])
        del self._buf[:want]
        return data
