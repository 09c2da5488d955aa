"""Whole test worlds that look like a Mu3e user's, shared by the end-to-end tests."""

from __future__ import annotations

from mu3e_checks.settings import DEFAULT_REQUIRED_CAS
from tests.pki import PKI, crls_for, dn, write_credentials, write_trust_dir

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
