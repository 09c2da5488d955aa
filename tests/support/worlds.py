"""The one test-world builder: a CA hierarchy, a user, and a home laid out as the guide says.

``World()`` is a neutral test grid (the ``grid`` fixture); ``UKGrid()`` uses the real UK
e-Science DNs (our keys) that the required-CA checks look for, plus an unrelated CA.  Both make
homes the same way; :func:`complete_setup` adds DIRACOS and a Mu3e proxy on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from mu3e_checks.settings import DEFAULT_GROUP, DEFAULT_REQUIRED_CAS
from tests.support.diracos_trees import build_diracos
from tests.support.pki_factory import (
    PKI,
    Entity,
    crls_for,
    dn,
    voms_ac,
    voms_extension,
    write_credentials,
    write_proxy,
    write_trust_dir,
)

UK_2B, UK_ROOT = DEFAULT_REQUIRED_CAS
CADIR = "dirac_ui/diracos/etc/grid-security/certificates"


class World:
    """A root CA, an issuing CA under it, a user, and any other CAs the trust dir should hold."""

    def __init__(self, *, root: Optional[str] = None, ca: Optional[str] = None,
                 user: Optional[str] = None, others: tuple[str, ...] = (),
                 old_hash: bool = False) -> None:
        self.pki = PKI()
        self.root = (self.pki.ca(subject=dn(root)) if root else
                     self.pki.ca("Mu3e Test Root CA"))
        self.ca = (self.pki.ca(subject=dn(ca), parent=self.root) if ca else
                   self.pki.ca("Mu3e Test User CA", parent=self.root))
        self.user = self.pki.user(self.ca, subject=dn(user)) if user else self.pki.user(self.ca)
        self.others = [self.pki.ca(name) for name in others]
        self.old_hash = old_hash

    @property
    def other(self) -> Entity:
        return self.others[0]

    @property
    def cas(self) -> list[Entity]:
        return [self.root, self.ca, *self.others]

    @staticmethod
    def cadir(home: Path) -> Path:
        return home / CADIR

    def home(self, base: Path, *, user: Optional[Entity] = None, trust: bool = True,
             cas: Optional[list[Entity]] = None, crls=None, old_hash: Optional[bool] = None,
             crl_der: bool = False, **cred_kw) -> Path:
        """``base/home`` with ~/.globus credentials (``cred_kw``: modes, key format, pass
        phrase, extra certs) and, by default, the DIRACOS trust dir holding this world's CAs and
        a fresh CRL for each (or ``cas``/``crls``)."""
        home = base / "home"
        write_credentials(home / ".globus", user or self.user, **cred_kw)
        if trust:
            self.trust_dir(self.cadir(home), cas=cas, crls=crls, crl_der=crl_der,
                           **({} if old_hash is None else {"old_hash": old_hash}))
        return home

    def trust_dir(self, directory: Path, *, cas: Optional[list[Entity]] = None, crls=None,
                  **kw) -> Path:
        cas = self.cas if cas is None else cas
        kw.setdefault("old_hash", self.old_hash)
        return write_trust_dir(directory, cas, crls_for(self.pki, cas) if crls is None else crls,
                               **kw)


def complete_setup(world: World, tmp_path: Path, *, crls=None):
    """A home set up exactly as the guide says; returns (home, environment of that shell)."""
    home = world.home(tmp_path, crls=crls)
    tree = build_diracos(home)
    voms_server = world.pki.host(world.ca, "voms.example.org")
    dirac_proxy = world.pki.proxy(world.user, group=DEFAULT_GROUP)
    voms_proxy = world.pki.proxy(dirac_proxy, extensions=[
        voms_extension(voms_ac(world.user, voms_server))])
    proxy = write_proxy(tmp_path / "x509up_u1000", voms_proxy)
    return home, tree.env(X509_USER_PROXY=str(proxy))


class UKGrid(World):
    """Test doubles of the UK e-Science CAs (real DNs, our keys) and a user under CA 2B."""

    def __init__(self) -> None:
        super().__init__(root=UK_ROOT, ca=UK_2B,
                         user="/C=UK/O=eScience/OU=Imperial/L=Physics/CN=jane physicist",
                         others=("Unrelated Grid CA",), old_hash=True)


Grid = World  # the neutral world, as the ``grid`` fixture and the benchmarks call it
