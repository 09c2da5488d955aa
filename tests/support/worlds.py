"""Whole test worlds that look like a Mu3e user's, shared by the end-to-end tests."""

from __future__ import annotations

from mu3e_checks.settings import DEFAULT_REQUIRED_CAS
from tests.support.diracos_trees import build_diracos
from tests.support.pki_factory import (
    PKI,
    crls_for,
    dn,
    voms_ac,
    voms_extension,
    write_credentials,
    write_proxy,
    write_trust_dir,
)

UK_2B, UK_ROOT = DEFAULT_REQUIRED_CAS


class UKGrid:
    """Test doubles of the UK e-Science CAs (real DNs, our keys) and a user under CA 2B."""

    def __init__(self) -> None:
        self.pki = PKI()
        self.root = self.pki.ca(subject=dn(UK_ROOT))
        self.ca = self.pki.ca(subject=dn(UK_2B), parent=self.root)
        self.user = self.pki.user(self.ca, subject=dn(
            "/C=UK/O=eScience/OU=Imperial/L=Physics/CN=jane physicist"))
        self.other = self.pki.ca("Unrelated Grid CA")

    @property
    def cas(self):
        return [self.root, self.ca, self.other]

    def home(self, base, *, user=None, cas=None, crls=None, **kw):
        home = base / "home"
        write_credentials(home / ".globus", user or self.user)
        cas = self.cas if cas is None else cas
        write_trust_dir(self.cadir(home), cas, crls_for(self.pki, cas) if crls is None else crls,
                        old_hash=True, **kw)
        return home

    @staticmethod
    def cadir(home):
        return home / "dirac_ui/diracos/etc/grid-security/certificates"


def complete_setup(uk: UKGrid, tmp_path, *, crls=None):
    """A home set up exactly as the guide says; returns (home, environment of that shell)."""
    home = uk.home(tmp_path, crls=crls)
    tree = build_diracos(home)
    voms_server = uk.pki.host(uk.ca, "voms.example.org")
    dirac_proxy = uk.pki.proxy(uk.user, group="mu3e.org_user")
    voms_proxy = uk.pki.proxy(dirac_proxy, extensions=[
        voms_extension(voms_ac(uk.user, voms_server))])
    proxy = write_proxy(tmp_path / "x509up_u1000", voms_proxy)
    return home, tree.env(X509_USER_PROXY=str(proxy))
