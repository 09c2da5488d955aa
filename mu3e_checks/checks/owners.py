"""Which check owns a shared fact: a skip for a missing fact names it, as data.

Fixtures and check bodies that cannot get a fact skip with :func:`~mu3e_checks.outcome.skip_for`
and one of these IDs; the registry validates them at load time.
PYTEST_DONT_REWRITE
"""

from __future__ import annotations

from mu3e_checks.registry import owner

USER_CERT_OWNER = owner("CERT-005")
USER_KEY_OWNER = owner("CERT-006")
PROXY_FILE_OWNER = owner("PROXY-001")
PROXY_OWNER = owner("PROXY-003")
PROXY_KEY_OWNER = owner("PROXY-004")
PROXY_VALIDITY_OWNER = owner("PROXY-008")
TRUST_STORE_OWNER = owner("CA-001")


def proxy_owner(credential: object) -> str:
    """The PROXY check that reports why the proxy cannot be presented for TLS."""
    from mu3e_checks.knowledge.net.tls import CredentialProblem

    return {
        CredentialProblem.MISSING: PROXY_FILE_OWNER,
        CredentialProblem.UNREADABLE: PROXY_OWNER,
        CredentialProblem.KEY_MISMATCH: PROXY_KEY_OWNER,
        CredentialProblem.EXPIRED: PROXY_VALIDITY_OWNER,
        CredentialProblem.NOT_YET_VALID: PROXY_VALIDITY_OWNER,
    }.get(getattr(credential, "problem", None), PROXY_OWNER)
