"""Guide: "Install User Certificates" — usercert.pem and userkey.pem in ~/.globus, key chmod 600.

PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from mu3e_checks import commands
from mu3e_checks.knowledge import files, pki
from mu3e_checks.knowledge.credentials import (
    empty_file,
    export_needs_legacy,
    find_pkcs12,
    needs_legacy,
)
from mu3e_checks.outcome import fail, note, skip_for, skip_selected, warn
from mu3e_checks.registry import check
from mu3e_checks.remedy import Field

STEP = "certificate"
#: The guide's extraction from the export on disk, and what to do without one.
EXTRACT, NO_EXPORT = commands.pkcs12_extract, commands.no_pkcs12_export


@check("CERT-001", "usercert.pem and userkey.pem are where DIRAC looks for them", step=STEP,
       fix=EXTRACT, also=(commands.bring_pkcs12,))
def test_credentials_present(credentials, settings):
    """DIRAC signs every proxy with usercert.pem and userkey.pem from ~/.globus (or
    $X509_USER_CERT/$X509_USER_KEY when they name files), so nothing works without them.
    Fails when either is missing; when a .p12/.pfx export lies in ~/.globus or the home
    directory, the fix is the guide's two openssl pkcs12 commands for that file.
    """
    missing = [p for p in (credentials.cert, credentials.key) if not files.is_file(p)]
    if not missing:
        return
    what = " and ".join(str(p) for p in missing)
    exports = find_pkcs12(settings.globus, settings.home)
    if exports:
        fail(f"{what} not found, but {exports[0]} is there: extract the certificate and key "
             "from it", **_extraction(exports[0], credentials))
    fail(f"{what} not found, and no .p12/.pfx export lies in {settings.globus} or "
         f"{settings.home}", fix=commands.bring_pkcs12, globus=settings.globus)


@check("CERT-002", "~/.globus is your own directory and only you can change it", step=STEP,
       fix=commands.chmod.bind("go-w", path=Field("globus")),
       also=(commands.replace_with_dir, commands.chown_to_you))
def test_globus_dir_private(settings, uid):
    """Whoever can write to ~/.globus can swap your certificate or key for their own.
    Fails when it is not a directory, not yours (fix: chown) or writable by group or others
    (fix: chmod go-w); skipped when it does not exist (CERT-001 reports that).
    """
    globus = settings.globus
    try:
        mode = files.file_mode(globus)
    except files.Unreadable as exc:
        skip_for("CERT-001", f"{exc}; CERT-001 reports missing credentials")
    if not mode.is_dir:
        fail(f"{globus} is not a directory", fix=commands.replace_with_dir, globus=globus)
    problem = files.not_writable_by_others_problem(globus, uid)
    if problem and mode.uid != uid:
        fail(problem, fix=commands.chown_to_you, globus=globus)
    if problem:
        fail(problem, globus=globus)


@check("CERT-003", "userkey.pem is private (mode 600 or 400, owned by you)", step=STEP,
       fix=commands.chmod.bind("600", path=Field("key")), requires=("CERT-001",))
def test_key_permissions(credentials, uid):
    """Grid tools refuse a private key that others can read ("bad file system permissions"),
    and a readable key is a stolen identity.  Passes for mode 600 or 400 owned by you; any
    group/world bit or another owner fails, with the chmod 600 that fixes it.
    """
    problem = files.private_key_problem(credentials.key, uid)
    if problem:
        fail(problem, key=credentials.key)


@check("CERT-004", "usercert.pem cannot be changed by other users", step=STEP,
       fix=commands.chmod.bind("644", path=Field("cert")), requires=("CERT-001",))
def test_cert_permissions(credentials, uid):
    """The certificate is public, but whoever can replace it decides whom DIRAC says you are.
    Fails when another user can write it (fix: chmod 644).
    """
    problem = files.not_writable_by_others_problem(credentials.cert, uid)
    if problem:
        fail(problem, cert=credentials.cert)


@check("CERT-005", "usercert.pem holds your user certificate (PEM)", step=STEP,
       fix=EXTRACT, also=(NO_EXPORT, commands.first_certificate), requires=("CERT-001",))
def test_cert_parses(user_cert_fact, credentials, settings):
    """usercert.pem must be your user certificate in PEM, as openssl pkcs12 -clcerts writes
    it: DIRAC cannot load DER or a file without a certificate.  Fails when it does not parse;
    warns when it holds other certificates too (DIRAC uses the first one); notes your DN.
    """
    if user_cert_fact.error:
        _extract_again(user_cert_fact.error + _why_empty(credentials.cert, settings),
                       credentials, settings)
    found = user_cert_fact.value
    for text in found.notes:
        warn(text, fix=commands.first_certificate, cert=credentials.cert)
    note(f"your DN: {found.subject_slash}")


@check("CERT-006", "userkey.pem holds a readable private key", step=STEP,
       fix=EXTRACT, also=(NO_EXPORT,), requires=("CERT-001",))
def test_key_parses(user_key_fact, credentials, settings):
    """userkey.pem must hold a private key DIRAC can load (PKCS#8 or PKCS#1, encrypted or
    not), or no proxy can be signed.  Fails when it cannot be read or parsed, with the openssl
    pkcs12 command that extracts it again; notes the key's format.
    """
    if user_key_fact.error:
        _extract_again(user_key_fact.error + _why_empty(credentials.key, settings),
                       credentials, settings)
    note(f"{credentials.key}: {user_key_fact.value.describe()}")


@check("CERT-007", "userkey.pem belongs to usercert.pem", step=STEP,
       fix=EXTRACT, also=(NO_EXPORT, commands.passphrase_file),
       requires=("CERT-005", "CERT-006"))
def test_key_matches(user_cert, user_key_fact, credentials, settings):
    """A key from another export makes every proxy unusable ("key does not match").
    Fails when userkey.pem is not the key of usercert.pem; skipped for an encrypted key
    without a pass phrase, because the checks never prompt.
    """
    keyfile = user_key_fact.get()
    if keyfile.key is None and settings.passphrase_problem():
        fail(f"the pass-phrase file cannot be used: {settings.passphrase_problem()}",
             fix=commands.passphrase_file)
    if keyfile.key is None:
        skip_selected("userkey.pem is encrypted and no pass phrase was given (set "
                      "MU3E_KEY_PASSPHRASE or --mu3e-passphrase-file to compare it); the checks "
                      "never prompt")
    if not pki.key_matches(user_cert.cert, keyfile.key):
        _extract_again(f"{credentials.key} is not the private key of the certificate in "
                       f"{credentials.cert} ({user_cert.subject_slash}); they come from "
                       "different exports", credentials, settings)


@check("CERT-008", "The user certificate is valid now and not about to expire", step=STEP,
       fix=commands.renew_certificate, also=(commands.check_clock,), requires=("CERT-005",))
def test_cert_validity(user_cert, settings):
    """An expired certificate signs only proxies that every service refuses.  Fails when it
    has expired or is not valid yet (then check the clock), warns when it expires within
    --mu3e-cert-warn-days, so there is time to renew it with the CA.
    """
    v = pki.validity(user_cert.cert)
    fixargs = {"globus": settings.globus}
    if v.state == "expired":
        fail(f"your certificate expired on {pki.fmt_time(v.not_after)}", **fixargs)
    if v.state == "not-yet-valid":
        fail(f"your certificate is valid only from {pki.fmt_time(v.not_before)}; if it was just "
             "issued, check this machine's clock (date -u)",
             fix=commands.check_clock)
    days = v.left.days
    if days < settings.cert_warn_days:
        warn(f"your certificate expires in {days} days, on {pki.fmt_time(v.not_after)}",
             **fixargs)
    note(f"valid until {pki.fmt_time(v.not_after)}")


@check("CERT-009", "The certificate's key and signature are strong enough", step=STEP,
       fix=commands.stronger_certificate, requires=("CERT-005",))
def test_cert_strength(user_cert, credentials):
    """Grid services refuse weak keys and signatures (RSA under 2048 bits, MD5/SHA-1).
    Fails naming what is too weak; only the CA can issue a stronger certificate.
    """
    problems = pki.strength_problems(user_cert.cert)
    if problems:
        fail(f"{credentials.cert}: " + "; ".join(problems))
    note(pki.key_description(user_cert.cert))


def _why_empty(path: Path, settings) -> str:
    """For an empty PEM file next to an old export: the cause, which the file cannot say."""
    exports = find_pkcs12(settings.globus, settings.home)
    if not exports or not empty_file(path):
        return ""
    legacy = needs_legacy(exports[0])
    if legacy is False:
        return ""
    what = "is" if legacy else "is probably"
    return (f"; {exports[0]} {what} an old export (RC2/RC4/DES) that OpenSSL 3 reads only with "
            "'openssl pkcs12 -legacy': without it, the guide's commands fail "
            "('unsupported ... RC2-40-CBC') and leave empty files behind")


def _extraction(p12: Path, credentials) -> dict:
    """The values of the guide's extraction from ``p12`` (with ``-legacy`` for an old export,
    or after the empty files its refused extraction leaves)."""
    return dict(p12=p12, cert=credentials.cert, key=credentials.key,
                legacy=export_needs_legacy(p12, credentials))


def _extract_again(message: str, credentials, settings) -> NoReturn:
    """Fail: both files again from one export, the one on disk, or what to do without one."""
    exports = find_pkcs12(settings.globus, settings.home)
    if exports:
        fail(message, **_extraction(exports[0], credentials))
    fail(message, fix=NO_EXPORT, globus=credentials.cert.parent)
