"""Fixes for the proxy: a new one, or what stands in the way of its chain first."""

from __future__ import annotations

from pathlib import Path

from mu3e_checks import commands
from mu3e_checks.knowledge.trust import X509_V_ERR_CERT_REVOKED, ChainVerdict
from mu3e_checks.remedy import Remedy, join, say


def init_command(group: str) -> Remedy:
    """The guide's command that makes (and uploads) a Mu3e proxy, for fixes."""
    return commands.proxy_init(group)


def writes_ca_dir(verdict: ChainVerdict) -> bool:
    """Whether :func:`chain_fix` for ``verdict`` writes into the CA directory (fetch-crl, or a
    CA to install): where the user cannot write there, the own-directory fix replaces it."""
    return bool(verdict.missing_issuer_dn
                or (verdict.lookup_name and verdict.lookup_name.endswith(".r0")))


def chain_fix(verdict: ChainVerdict, ca_dir: Path, group: str) -> Remedy:
    """The fix for a proxy chain OpenSSL rejected, chosen by OpenSSL's error code.

    CRL problems are fixed by fetch-crl, a missing CA by installing it, a revoked certificate
    only by the CA; anything else in the proxy itself by making a new one.  The DNs come from
    the certificates (outside text): they are shown on comment lines, never run.
    """
    if verdict.lookup_name and verdict.lookup_name.endswith(".r0"):
        return commands.fetch_crl(ca_dir, merlin7=False)
    if verdict.missing_issuer_dn:
        return join(say("install the CA '{dn}' into {ca_dir} (its IGTF ca_*.tar.gz, as in the "
                        "guide's CA step), then:", dn=verdict.missing_issuer_dn, ca_dir=ca_dir),
                    commands.fetch_crl(ca_dir, merlin7=False))
    if verdict.code == X509_V_ERR_CERT_REVOKED:
        return say("{who} is revoked: ask your CA for a new certificate, then make a new proxy",
                   who=verdict.failing_dn or "a certificate in the chain")
    return init_command(group)


