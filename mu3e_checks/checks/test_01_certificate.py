"""Guide: "Install User Certificates" — usercert.pem and userkey.pem in ~/.globus, key chmod 600.

PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

from mu3e_checks.knowledge import files, pki
from mu3e_checks.knowledge.credentials import find_pkcs12, pkcs12_fix, q
from mu3e_checks.outcome import fail, note, skip, warn
from mu3e_checks.registry import check

STEP = "certificate"


@check("CERT-001", "usercert.pem and userkey.pem are where DIRAC looks for them", step=STEP,
       fix="openssl pkcs12 -in {p12} -clcerts -nokeys -out {cert}\n"
           "openssl pkcs12 -in {p12} -nocerts -nodes -out {key}\nchmod 600 {key}")
def test_credentials_present(credentials, settings):
    missing = [p for p in (credentials.cert, credentials.key) if not files.is_file(p)]
    if not missing:
        return
    what = " and ".join(str(p) for p in missing)
    exports = find_pkcs12(settings.globus, settings.home)
    if exports:
        fail(f"{what} not found, but {exports[0]} is there: extract the certificate and key "
             "from it", fix=pkcs12_fix(exports[0], credentials))
    fail(f"{what} not found, and no .p12/.pfx export lies in {settings.globus} or "
         f"{settings.home}",
         fix=f"mkdir -p {q(settings.globus)}\n# copy your grid certificate export (.p12) "
             f"into {q(settings.globus)} and run this diagnosis again")


@check("CERT-002", "~/.globus is your own directory and only you can change it", step=STEP,
       fix="chmod go-w {globus}")
def test_globus_dir_private(settings, uid):
    globus = settings.globus
    try:
        mode = files.file_mode(globus)
    except files.Unreadable as exc:
        skip(f"{exc}; CERT-001 reports missing credentials")
    if not mode.is_dir:
        fail(f"{globus} is not a directory", fix=f"mv {q(globus)} {q(globus)}.bak && "
                                                 f"mkdir -m 700 {q(globus)}")
    problem = files.not_writable_by_others_problem(globus, uid)
    if problem and mode.uid != uid:
        fail(problem, fix=f"sudo chown $(id -un) {q(globus)}")
    if problem:
        fail(problem, globus=q(globus))


@check("CERT-003", "userkey.pem is private (mode 600 or 400, owned by you)", step=STEP,
       fix="chmod 600 {key}", requires=("CERT-001",))
def test_key_permissions(credentials, uid):
    problem = files.private_key_problem(credentials.key, uid)
    if problem:
        fail(problem, key=q(credentials.key))


@check("CERT-004", "usercert.pem cannot be changed by other users", step=STEP,
       fix="chmod 644 {cert}", requires=("CERT-001",))
def test_cert_permissions(credentials, uid):
    problem = files.not_writable_by_others_problem(credentials.cert, uid)
    if problem:
        fail(problem, cert=q(credentials.cert))


@check("CERT-005", "usercert.pem holds your user certificate (PEM)", step=STEP,
       fix="openssl pkcs12 -in <your .p12> -clcerts -nokeys -out {cert}",
       requires=("CERT-001",))
def test_cert_parses(user_cert_fact, credentials):
    if user_cert_fact.error:
        fail(user_cert_fact.error, cert=q(credentials.cert))
    found = user_cert_fact.value
    for text in found.notes:
        warn(text, fix=f"openssl x509 -in {q(credentials.cert)} -out {q(credentials.cert)}.new"
                       f"   # then check it is yours and move it over {q(credentials.cert)}")
    note(f"your DN: {found.subject_slash}")


@check("CERT-006", "userkey.pem holds a readable private key", step=STEP,
       fix="openssl pkcs12 -in <your .p12> -nocerts -nodes -out {key}\nchmod 600 {key}",
       requires=("CERT-001",))
def test_key_parses(user_key_fact, credentials):
    if user_key_fact.error:
        fail(user_key_fact.error, key=q(credentials.key))
    note(f"{credentials.key}: {user_key_fact.value.describe()}")


@check("CERT-007", "userkey.pem belongs to usercert.pem", step=STEP,
       fix="# extract both files again from the same .p12 export:\n"
           "openssl pkcs12 -in <your .p12> -clcerts -nokeys -out {cert}\n"
           "openssl pkcs12 -in <your .p12> -nocerts -nodes -out {key}",
       requires=("CERT-005", "CERT-006"))
def test_key_matches(user_cert, user_key_fact, credentials):
    keyfile = user_key_fact.get()
    if keyfile.key is None:
        skip("userkey.pem is encrypted and no pass phrase was given (set MU3E_KEY_PASSPHRASE "
             "or --mu3e-passphrase-file to compare it); the checks never prompt")
    if not pki.key_matches(user_cert.cert, keyfile.key):
        fail(f"{credentials.key} is not the private key of the certificate in "
             f"{credentials.cert} ({user_cert.subject_slash}); they come from different exports",
             cert=q(credentials.cert), key=q(credentials.key))


@check("CERT-008", "The user certificate is valid now and not about to expire", step=STEP,
       fix="# renew your grid certificate with your CA, then export it again into {globus}",
       requires=("CERT-005",))
def test_cert_validity(user_cert, settings):
    v = pki.validity(user_cert.cert)
    fixargs = {"globus": q(settings.globus)}
    if v.state == "expired":
        fail(f"your certificate expired on {pki.fmt_time(v.not_after)}", **fixargs)
    if v.state == "not-yet-valid":
        fail(f"your certificate is valid only from {pki.fmt_time(v.not_before)}; if it was just "
             "issued, check this machine's clock (date -u)",
             fix="date -u   # compare with the real UTC time; ask your admin to fix NTP")
    days = v.left.days
    if days < settings.cert_warn_days:
        warn(f"your certificate expires in {days} days, on {pki.fmt_time(v.not_after)}",
             **fixargs)
    note(f"valid until {pki.fmt_time(v.not_after)}")


@check("CERT-009", "The certificate's key and signature are strong enough", step=STEP,
       fix="# ask your CA for a new certificate with an RSA key of at least 2048 bits",
       requires=("CERT-005",))
def test_cert_strength(user_cert):
    problems = pki.strength_problems(user_cert.cert)
    if problems:
        fail("; ".join(problems))
    note(pki.key_description(user_cert.cert))
