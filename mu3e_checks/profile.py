"""Profiles: whose setup a run judges, a physicist's (``user``) or a site image's (``site``).

A site image (a container, a cluster module) provides DIRACOS, DIRAC, the CAs, a CRL updater
and dirac.cfg, but no person's certificate or proxy.  Under ``--mu3e-profile site`` the checks
of a person's credentials are not run: each is skipped with :data:`NOT_A_SITE_CHECK`, one
reason, worded once, naming the selection that caused it (never a failure, and never a skip that
could hide a finding about the site): a *selection* skip, like ``--mu3e-offline``, decided in
one place, :func:`skip_reason`.  The checks that only make sense for a site (the CRL updater)
are not part of a physicist's diagnosis at all: :func:`excluded` leaves them out of a ``user``
run, as ``--mu3e-ignore`` would, so a user's report never lists a check that is not theirs.
"""

from __future__ import annotations

from mu3e_checks.settings import PROFILES, id_matches

USER, SITE = PROFILES

#: The checks that judge a person's credentials or need them to ask a server anything: the
#: certificate and key, the proxy and its group and VOMS attributes, the user's CA chain and its
#: revocation check, and every Configuration Server call after the TLS handshake.  A real DIRAC
#: 8.0.74 service requires a client certificate (its TLS context sets verify_peer |
#: verify_fail_if_no_peer_cert), so without a proxy it answers no DISET call at all, not even
#: ping: the site profile stops the CS at TLS (NET-003) and every listed server at TLS (NET-007).
USER_CREDENTIAL_CHECKS = (
    "CERT", "PROXY", "GROUP", "VOMS", "CA-006", "CRL-004",
    "NET-004", "NET-005", "NET-006", "NET-008", "NET-009", "NET-010", "NET-011", "NET-012",
    "NET-013",
)
#: Checks of what only a site provides (a CRL updater that keeps the CA directory fresh).
SITE_ONLY_CHECKS = ("CRL-005",)

#: The skip reason of every user-credential check in a site run: the same words everywhere.
NOT_A_SITE_CHECK = ("not part of a site check (--mu3e-profile site): it needs a person's "
                    "certificate or proxy, which a site image does not hold")


def skip_reason(profile: str, check_id: str) -> str:
    """Why ``check_id`` is not run in ``profile`` (the user's selection), or '' to run it."""
    if profile == SITE and id_matches(check_id, USER_CREDENTIAL_CHECKS):
        return NOT_A_SITE_CHECK
    return ""


def excluded(profile: str, check_id: str) -> bool:
    """Whether ``check_id`` is no part of a ``profile`` run (a site-only check for a user: a
    person's own CA directory is kept fresh by running fetch-crl, as the guide shows)."""
    return profile != SITE and id_matches(check_id, SITE_ONLY_CHECKS)


def uses_credentials(profile: str) -> bool:
    """Whether network probes may present the proxy: never in a site run, where a proxy lying
    around (a robot's, a builder's) is not the site's and must not decide its verdict."""
    return profile != SITE


def scope(check_id: str) -> str:
    """Which runs a check belongs to, in words, for the check reference ('' for both)."""
    if excluded(USER, check_id):
        return "only part of a site check (--mu3e-profile site)"
    if skip_reason(SITE, check_id):
        return "not part of a site check (--mu3e-profile site)"
    return ""
