"""The malformed-certificate corpus of issue 19: well-signed files with one malformed field each.

The fuzz corpus (test_fuzz_corpus.py) breaks files as *bytes*; this one breaks them as *X.509*.
Every input is a real certificate or CRL from the test grid, cut open with DER surgery
(tests/support/malformed.py), one field replaced, and signed again with the right key, so the only
thing wrong with it is the malformed field: a duplicate extension, a basicConstraints, keyUsage,
subjectAltName, authorityKeyIdentifier or nameConstraints that is not what its type says, an
unknown critical extension, version 5, a public key of an unknown algorithm or a damaged one,
dates and names that cannot be read, an unknown signature algorithm; for CRLs also damaged
revoked entries and CRL extensions.  Each family is put where the diagnosis reads it: the user's
certificate, the proxy, the VOMS server certificate inside the proxy's attribute certificate, the
user's issuing CA, an unrelated CA, and the issuing CA's CRL.

For every run: no crash, no broken check, typed skips only (tests/support/runner.py's
invariants), a check and a fix on every failure (tests/support/hostile.py).  For every input,
``openssl verify`` (the real command, real-peers.md) is the oracle: where it refuses the setup,
the diagnosis is NOT READY and a failing check names the input's file or CA; where it accepts,
any check that fails still names a file of its row (the tool may be stricter, never silent).

Inputs that do not interfere share a run (``A``: the user certificate and an unrelated CA; ``B``:
the proxy; ``C``: the issuing CA; ``D``: the issuing CA's CRL and the VOMS server certificate).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support import malformed as M
from tests.support.hostile import DiagnosisPool, Job, Outcome, problems_of
from tests.support.pki_factory import (
    subject_hash,
    subject_hash_old,
    voms_ac,
    voms_extension,
    write_proxy,
)
from tests.support.runner import RunResult, invariant_violations, parse_junit
from tests.support.worlds import UKGrid, complete_setup

pytestmark = pytest.mark.peer  # openssl verify is the oracle

#: A single run ends within this, or it counts as a hang.
RUN_TIMEOUT = 30.0
#: What the whole corpus may take on two cores.
BUDGET = 150.0
TARGETS = ("usercert", "other-ca", "proxy", "user-ca", "crl", "voms")
MUTATIONS = tuple(M.CERTIFICATE_MUTATIONS)


@dataclass(frozen=True)
class Input:
    target: str
    mutation: str

    @property
    def id(self) -> str:
        return f"{self.target}:{self.mutation}"


def _crl_names() -> list[str]:
    grid = UKGrid()
    return list(M.crl_mutations(grid.pki.crl(grid.ca), grid.ca.key))


CRL_MUTATIONS = tuple(_crl_names())

#: What a message naming each input's *problem* says (beside its file): the cause, not only
#: that something failed.
_DECODE = r"cannot be decoded|cannot be read|damaged|cannot be loaded"
PROBLEMS: dict[str, str] = {
    "dup-key-usage": r"twice", "dup-any-extension": r"twice",
    "version-5": r"version 5", "version-huge": r"version",
    "basic-constraints-not-der": r"basicConstraints", "basic-constraints-trailing":
    r"basicConstraints", "key-usage-empty": r"keyUsage", "san-garbage": r"subjectAltName",
    "san-unknown-name-type": r"subjectAltName", "aki-wrong-type": r"authorityKeyIdentifier",
    "name-constraints-critical-garbage": r"nameConstraints",
    "unknown-critical-extension": r"critical extension",
    "key-unknown-algorithm": r"public key", "key-rsa-garbage": r"public key",
    "key-ec-unknown-curve": r"public key", "validity-year-0": r"notBefore|date",
    "validity-not-a-time": r"notBefore|date", "signature-algorithm-unknown": r"algorithm",
    "subject-bmp-odd-length": r"name",
    "crl-version-5": r"version 5", "crl-duplicate-number": r"CRL number.{0,20}twice",
    "crl-number-garbage": _DECODE, "crl-unknown-critical": r"critical CRL extension",
    "crl-delta": r"no revocation list|CRL", "crl-entry-reason-garbage": _DECODE,
    "crl-entry-invalidity-date-garbage": _DECODE, "crl-entry-date-garbage": r"revocation date",
    "crl-entry-unknown-critical": r"critical CRL extension",
    "crl-this-update-garbage": r"thisUpdate", "crl-next-update-year-0": r"nextUpdate",
    "crl-signature-algorithm-unknown": r"not signed|signature", "crl-issuer-not-text":
    r"issuer name",
}


def _rows() -> list[tuple[str, tuple[Input, ...]]]:
    def zipped(prefix: str, *groups: tuple[str, tuple[str, ...]]):
        width = max(len(names) for _, names in groups)
        return [(f"{prefix}{i:02d}", tuple(Input(t, names[i]) for t, names in groups
                                          if i < len(names))) for i in range(width)]

    return (zipped("A", ("usercert", MUTATIONS), ("other-ca", MUTATIONS))
            + zipped("B", ("proxy", MUTATIONS))
            + zipped("C", ("user-ca", MUTATIONS))
            + zipped("D", ("crl", CRL_MUTATIONS), ("voms", MUTATIONS)))


ROWS = _rows()


# ------------------------------------------------------------------------- building inputs


@dataclass
class Row:
    """One run's home, as complete_setup laid it out, and the files the inputs go into."""

    home: Path
    env: dict[str, str]
    cadir: Path
    proxy: Path

    @classmethod
    def made(cls, uk: UKGrid, base: Path) -> Row:
        home, env = complete_setup(uk, base)
        return cls(home, dict(env), UKGrid.cadir(home), Path(env["X509_USER_PROXY"]))


def _ca_files(row: Row, cert) -> list[Path]:
    return [row.cadir / f"{h}.0" for h in (subject_hash(cert), subject_hash_old(cert))]


def _replace_ca(row: Row, cert, bad) -> None:
    """Both hash names of ``cert``'s file now hold ``bad`` (as IGTF links them to one file)."""
    first, *links = _ca_files(row, cert)
    for path in (first, *links):
        if path.is_symlink() or path.exists():
            path.unlink()
    first.write_bytes(M.cert_pem(bad))
    for link in links:
        link.symlink_to(first.name)


def apply(uk: UKGrid, row: Row, item: Input) -> None:
    mutate = M.CERTIFICATE_MUTATIONS.get(item.mutation)
    pki = uk.pki
    if item.target == "usercert":
        bad = mutate(uk.user.cert, uk.ca.key)
        (row.home / ".globus" / "usercert.pem").write_bytes(M.cert_pem(bad))
    elif item.target == "proxy":
        px = pki.proxy(uk.user, group="mu3e.org_user")
        bad = mutate(px.cert, uk.user.key)
        row.proxy.write_bytes(M.cert_pem(bad) + px.key_pem() + uk.user.cert_pem())
    elif item.target == "user-ca":
        _replace_ca(row, uk.ca.cert, mutate(uk.ca.cert, uk.root.key))
    elif item.target == "other-ca":
        _replace_ca(row, uk.other.cert, mutate(uk.other.cert, uk.other.key))
    elif item.target == "crl":
        data = M.crl_mutations(pki.crl(uk.ca, [uk.other]), uk.ca.key)[item.mutation]
        for h in (subject_hash(uk.ca.cert), subject_hash_old(uk.ca.cert)):
            (row.cadir / f"{h}.r0").write_bytes(M.crl_pem(data))
    elif item.target == "voms":
        server = pki.host(uk.ca, "voms.example.org")
        bad = mutate(server.cert, uk.ca.key)
        # The AC carries the damaged server certificate in place of the real one.
        original = server.cert_der
        server.cert_der = lambda: M.cert_der(bad)  # type: ignore[method-assign]
        try:
            ac = voms_ac(uk.user, server)
        finally:
            server.cert_der = original  # type: ignore[method-assign]
        dirac = pki.proxy(uk.user, group="mu3e.org_user")
        write_proxy(row.proxy, pki.proxy(dirac, extensions=[voms_extension(ac)]))
    else:  # pragma: no cover - TARGETS lists them all
        raise AssertionError(item.target)


def needles(uk: UKGrid, row: Row, item: Input) -> list[str]:
    """What a message naming this input contains: its file's name, or its CA's name."""
    if item.target == "usercert":
        return ["usercert.pem", "CN=jane physicist"]  # the file, or the certificate's DN
    if item.target in ("proxy", "voms"):
        return [row.proxy.name]
    if item.target == "crl":
        return [f"{subject_hash(uk.ca.cert)}.r0", f"{subject_hash_old(uk.ca.cert)}.r0",
                "revocation list", "CRL"]
    cert = uk.ca.cert if item.target == "user-ca" else uk.other.cert
    return [p.name for p in _ca_files(row, cert)] + [
        "UK e-Science CA 2B" if item.target == "user-ca" else "Unrelated Grid CA"]


def openssl_refuses(row: Row, item: Input, good_cert: Path, clean_cadir: Path) -> str:
    """``openssl verify``'s refusal of this input's setup ('' when it accepts): the input's
    file with everything else as it should be (a CA or CRL input in the row's CA directory,
    checked with the good user certificate; a certificate or proxy against a clean one)."""
    in_dir = item.target in ("user-ca", "other-ca", "crl")
    argv = ["openssl", "verify", "-CApath", str(row.cadir if in_dir else clean_cadir),
            "-crl_check_all"]
    if item.target in ("proxy", "voms"):
        argv += ["-allow_proxy_certs", "-untrusted", str(row.proxy), str(row.proxy)]
    elif item.target == "usercert":
        argv.append(str(row.home / ".globus" / "usercert.pem"))
    else:
        argv.append(str(good_cert))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    if proc.returncode == 0:
        return ""
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return next((ln for ln in lines if re.match(r"error \d+ at", ln)), lines[-1] if lines else "?")


@dataclass
class Corpus:
    outcomes: dict[str, Outcome]
    refusals: dict[str, str]  # input id -> openssl's refusal ('' = accepts)
    needles: dict[str, list[str]]
    seconds: float


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    assert shutil.which("openssl"), "openssl is the oracle here: apt-get install openssl"
    uk = UKGrid()
    root = tmp_path_factory.mktemp("malformed")
    good_cert = root / "good-usercert.pem"
    good_cert.write_bytes(uk.user.cert_pem())
    clean_home, _ = complete_setup(uk, root / "clean")
    jobs, refusals, found = [], {}, {}
    for rid, items in ROWS:
        row = Row.made(uk, root / rid)
        for item in items:
            apply(uk, row, item)
        for item in items:
            refusals[f"{rid}/{item.id}"] = openssl_refuses(row, item, good_cert,
                                                           UKGrid.cadir(clean_home))
            found[f"{rid}/{item.id}"] = needles(uk, row, item)
        jobs.append(Job(rid, row.home, [], row.env, timeout=RUN_TIMEOUT))
    started = time.monotonic()
    outcomes = DiagnosisPool(root / "pool", width=2).run(jobs, deadline=900)
    run = Corpus(outcomes, refusals, found, time.monotonic() - started)
    yield run
    shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------------- the tests


def test_the_corpus_covers_every_family_and_place():
    assert {item.target for _, items in ROWS for item in items} == set(TARGETS)
    assert set(PROBLEMS) == set(MUTATIONS) | set(CRL_MUTATIONS)
    assert sum(len(items) for _, items in ROWS) >= 100
    # The families issue 19 names.
    for needed in ("dup-key-usage", "version-5", "basic-constraints-not-der", "key-usage-empty",
                   "san-garbage", "key-unknown-algorithm", "key-rsa-garbage"):
        assert needed in MUTATIONS
    assert "crl-version-5" in CRL_MUTATIONS


def test_the_inputs_are_what_they_claim():
    """DER surgery keeps the signature valid and changes only the field it names."""
    from cryptography import x509

    uk = UKGrid()
    dup = M.CERTIFICATE_MUTATIONS["dup-key-usage"](uk.user.cert, uk.ca.key)
    with pytest.raises(x509.DuplicateExtension):
        _ = dup.extensions
    dup.verify_directly_issued_by(uk.ca.cert)  # still signed by the CA
    v5 = M.CERTIFICATE_MUTATIONS["version-5"](uk.user.cert, uk.ca.key)
    assert isinstance(v5, M.Unloadable)
    with pytest.raises(x509.InvalidVersion):
        x509.load_der_x509_certificate(v5.der)
    crl = M.crl_mutations(uk.pki.crl(uk.ca), uk.ca.key)["crl-duplicate-number"]
    parsed = x509.load_der_x509_crl(crl)
    with pytest.raises(x509.DuplicateExtension):
        _ = parsed.extensions
    assert parsed.is_signature_valid(uk.ca.key.public_key())
    # Cut open and signed again unchanged, a certificate is byte for byte what it was (RSA
    # PKCS#1 v1.5 signatures are deterministic): the surgery itself changes nothing.
    good = uk.user.cert.public_bytes(serialization.Encoding.DER)
    assert M.cert_der(M.rebuild(uk.user.cert, uk.ca.key)) == good


@pytest.mark.parametrize("row", [rid for rid, _ in ROWS])
def test_malformed_x509_ends_in_a_named_verdict(corpus, row):
    outcome = corpus.outcomes[row]
    junit = corpus_pool_path(outcome) / "junit.xml"
    found = problems_of(outcome, fragments=frozenset())
    cases = parse_junit(junit) if junit.is_file() else {}
    result = RunResult(outcome.rc if outcome.rc is not None else -1, outcome.stdout,
                       outcome.stderr, cases, junit)
    found += invariant_violations(result)
    items = dict(ROWS)[row]
    told = {cid: c.message + "\n" + c.properties.get("warning", "")
            for cid, c in cases.items() if c.outcome in ("failed", "warned")}
    failing = {cid: c.message for cid, c in cases.items() if c.outcome == "failed"}
    all_needles = [n for item in items for n in corpus.needles[f"{row}/{item.id}"]]
    for item in items:
        key = f"{row}/{item.id}"
        refusal = corpus.refusals[key]
        named = [cid for cid, text in failing.items()
                 if any(n in text for n in corpus.needles[key])
                 and re.search(PROBLEMS[item.mutation], text, re.I | re.S)]
        if refusal and (outcome.rc != 1 or not named):
            found.append(f"{item.id}: openssl refuses ({refusal}), but the diagnosis "
                         + ("is READY" if outcome.rc == 0 else "names it and its problem "
                            f"(/{PROBLEMS[item.mutation]}/) in no failing check"))
    for cid, text in told.items():
        if not any(n in text for n in all_needles):
            found.append(f"{cid} reports something that names none of this row's inputs: "
                         f"{text[:300]}")
    inputs = ", ".join(item.id for item in items)
    assert found == [], (f"inputs [{inputs}] ({outcome.seconds:.1f} s):\n" + "\n".join(found)
                         + "\n--- stdout tail ---\n" + outcome.stdout[-2500:])


def corpus_pool_path(outcome: Outcome) -> Path:
    """The pool's directory of one run (where its JUnit XML is)."""
    return Path(outcome.job.home).parent.parent / "pool" / outcome.job.id


def test_the_corpus_runs_within_its_budget(corpus):
    hung = [rid for rid, o in corpus.outcomes.items() if o.timed_out]
    assert hung == []
    assert corpus.seconds < BUDGET, f"{len(ROWS)} runs took {corpus.seconds:.0f} s"
