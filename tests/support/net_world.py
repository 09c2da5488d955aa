"""The PKI and files the network tests share: a host CA, server certificates, proxies, trust.

Built on the ``grid`` fixture's root CA and user: the host CA sits under the same root, the
trust dir holds root, user CA and host CA, and proxies carry DIRAC's group extension.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.pki_factory import DAY, Entity, pem, write_trust_dir

GROUP = "mu3e.org_user"
TEST_HOST = "cs.mu3e.test"


class NetWorld:
    def __init__(self, grid, base: Path) -> None:
        self.grid = grid
        pki = grid.pki
        self.base = base
        self.host_ca = pki.ca("Mu3e Test Host CA", parent=grid.root)
        self.localhost = pki.host(self.host_ca, "localhost", sans=["localhost", "127.0.0.1"])
        self.named = pki.host(self.host_ca, TEST_HOST)
        self.other_name = pki.host(self.host_ca, "elsewhere.mu3e.test")
        self.expired = pki.host(self.host_ca, "localhost", expired=True)
        self.rogue_ca = pki.ca("Rogue Interception CA")
        self.rogue = pki.host(self.rogue_ca, "localhost")
        self.trust = write_trust_dir(base / "trust", [grid.root, grid.ca, self.host_ca])
        self.proxy = self.write_proxy("proxy.pem", pki.proxy(grid.user, group=GROUP))
        self.user_dn = "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane Physicist"

    @property
    def client_cas(self) -> list[Entity]:
        return [self.grid.root, self.grid.ca]

    def write_proxy(self, name: str, proxy: Entity) -> Path:
        path = self.base / name
        path.write_bytes(proxy.proxy_file())
        os.chmod(path, 0o600)
        return path

    def write_cert_only(self, name: str) -> Path:
        """A file holding the user's certificate and long-term key (not a proxy)."""
        path = self.base / name
        path.write_bytes(pem(self.grid.user) + self.grid.user.key_pem())
        os.chmod(path, 0o600)
        return path

    def registry(self, groups=(GROUP,)) -> dict:
        return {self.user_dn: ("jane", list(groups))}

    def diset(self, cert: Entity | None = None, **kw):
        """Our DISET test server with ``cert`` (default: cs.mu3e.test), knowing the user."""
        from tests.support.diset_server import DisetServer

        kw.setdefault("registry", self.registry())
        return DisetServer(cert or self.named, kw.pop("client_cas", self.client_cas), **kw)


__all__ = ["NetWorld", "GROUP", "TEST_HOST", "DAY"]
