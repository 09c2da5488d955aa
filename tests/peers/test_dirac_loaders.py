"""DIRAC 8.0.74 and OpenSSL as oracles for malformed but loadable certificate and proxy files.

Each file is mutated the way real files go wrong (truncated, garbage around it, blocks
duplicated or reordered, DER instead of PEM, bad base64, key only, a legacy proxy, a damaged
group extension).  DIRAC's own loaders (``X509Chain.loadChainFromFile``, ``loadProxyFromFile``,
``getDIRACGroup``) run in the DIRAC venv, ``openssl x509`` on the same files; our knowledge
functions (what CERT-005, PROXY-003 and GROUP-001 use) must not pass what they refuse, and where
they accept and we refuse, the refusal is listed here with the reason we state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mu3e_checks.knowledge import files, pki, proxy
from tests.support.pki_factory import DIRAC_GROUP_OID, ia5

DIRAC_PYTHON = Path("/opt/mu3e-dirac-8.0.74/bin/python")

pytestmark = pytest.mark.skipif(not DIRAC_PYTHON.exists(), reason="no DIRAC 8.0.74 venv")

#: Run inside DIRAC's venv: every file through DIRAC's loaders, results as JSON on stdout.
ORACLE = r"""
import json, sys
from DIRAC.Core.Security.X509Chain import X509Chain

def ok(result):
    return bool(result.get("OK"))

out = {}
for kind, path in json.load(sys.stdin):
    chain = X509Chain()
    try:
        res = chain.loadChainFromFile(path) if kind == "cert" else chain.loadProxyFromFile(path)
    except Exception as exc:  # DIRAC breaking on a file means it cannot load it
        out[path] = {"load": False, "crash": repr(exc)[:200]}
        continue
    if kind == "cert":
        out[path] = {"load": ok(res)}
        continue
    entry = {"load": ok(res), "group": None}
    if ok(res):
        try:
            group = chain.getDIRACGroup(ignoreDefault=True)
            entry["group"] = group.get("Value") if ok(group) else None
        except Exception as exc:  # DIRAC breaking is an answer too: "no group"
            entry["group_error"] = repr(exc)
    out[path] = entry
print(json.dumps(out))
"""


def _b64_damage(block: bytes) -> bytes:
    """Replace one base64 character in the middle of the first PEM body with '!'."""
    lines = block.split(b"\n")
    mid = len(lines) // 2
    lines[mid] = b"!" + lines[mid][1:]
    return b"\n".join(lines)


@pytest.fixture(scope="module")
def world(grid, tmp_path_factory):
    """The mutated files: {name: (kind, path)}."""
    d = tmp_path_factory.mktemp("mutated")
    user, ca = grid.user, grid.ca
    cert = user.cert_pem()
    key = user.key_pem("pkcs1")
    p = grid.pki.proxy(user, group="mu3e.org_user")
    pf = p.proxy_file()
    certs = {
        "plain": cert,
        "truncated": cert[: len(cert) // 2],
        "garbage_after": cert + b"garbage \x00\xff tail\n",
        "bag_attributes": b"Bag Attributes\n    localKeyID: 01 02\n" + cert,
        "duplicated": cert + cert,
        "ca_first": ca.cert_pem() + cert,
        "der": user.cert_der(),
        "bad_base64": _b64_damage(cert),
        "key_only": key,
        "crlf": cert.replace(b"\n", b"\r\n"),
        "empty": b"",
    }
    legacy = grid.pki.proxy(user, kind="legacy", group="mu3e.org_user")
    damaged = grid.pki.proxy(user, extensions=[(DIRAC_GROUP_OID, b"\x16\x09mu3e")])
    utf8 = grid.pki.proxy(user, extensions=[(DIRAC_GROUP_OID, b"\x0c\x0dmu3e.org_user")])
    binary = grid.pki.proxy(user, extensions=[(DIRAC_GROUP_OID, b"\x16\x05mu3e\xff")])
    plain_ia5 = grid.pki.proxy(user, extensions=[(DIRAC_GROUP_OID, ia5("mu3e.org_user"))])
    key_block = p.key_pem("pkcs8")
    proxies = {
        "plain": pf,
        "truncated": pf[: int(len(pf) * 0.6)],
        "garbage_after": pf + b"\x00\xffgarbage\n",
        "duplicated": pf + pf,
        "key_first": key_block + pf.replace(key_block, b""),
        "der": p.cert_der(),
        "bad_base64_key": pf.replace(key_block, _b64_damage(key_block)),
        "cert_only": pf.replace(key_block, b""),
        "key_only": key_block,
        "legacy": legacy.proxy_file(),
        "group_damaged": damaged.proxy_file(),
        "group_utf8": utf8.proxy_file(),
        "group_binary": binary.proxy_file(),
        "group_plain_ia5": plain_ia5.proxy_file(),
        "no_group": grid.pki.proxy(user).proxy_file(),
        "user_cert_and_key": cert + key,
    }
    (d / "cas.pem").write_bytes(grid.root.cert_pem() + grid.ca.cert_pem())
    files: dict[str, tuple[str, Path]] = {}
    for kind, cases in (("cert", certs), ("proxy", proxies)):
        for name, data in cases.items():
            path = d / f"{kind}-{name}.pem"
            path.write_bytes(data)
            os.chmod(path, 0o600)
            files[f"{kind}:{name}"] = (kind, path)
    return files


@pytest.fixture(scope="module")
def dirac(world, tmp_path_factory) -> dict[str, dict]:
    """DIRAC's verdict on every file, from one run of its loaders."""
    root = tmp_path_factory.mktemp("dirac_root")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root),
           "DIRAC_ROOT_PATH": str(root)}
    request = json.dumps([(kind, str(path)) for kind, path in world.values()])
    done = subprocess.run([str(DIRAC_PYTHON), "-c", ORACLE], input=request, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    by_path = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: by_path[str(path)] for name, (_, path) in world.items()}


def _openssl_x509(path: Path) -> bool:
    done = subprocess.run(["openssl", "x509", "-noout", "-in", str(path)],
                          capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def _openssl_verify(path: Path) -> bool:
    """``openssl verify`` of the file's first certificate against the test CAs."""
    done = subprocess.run(["openssl", "verify", "-allow_proxy_certs", "-CAfile",
                           str(path.parent / "cas.pem"), str(path)],
                          capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def _ours_cert(path: Path) -> tuple[bool, str]:
    try:
        pki.pick_user_certificate(path.read_bytes(), str(path))
    except pki.PemError as exc:
        return False, str(exc)
    return True, ""


def _ours_proxy(path: Path) -> tuple[bool, str, proxy.GroupFinding | None]:
    try:
        found = proxy.read_proxy(path)
    except (pki.PemError, files.Unreadable) as exc:
        return False, str(exc), None
    if found.identity is None:  # PROXY-003 fails this way too (test_05_local_proxy.py)
        return False, f"{path} holds only proxy certificates", None
    return True, "", proxy.find_group(found.certs)


#: Files DIRAC loads that we refuse, each with the reason our message must state.
CERT_STRICTER: dict[str, str] = {}
PROXY_STRICTER = {
    # DIRAC loads any chain plus key; a plain certificate with its key is no proxy.
    "proxy:user_cert_and_key": "is not a proxy certificate",
    # The user certificate was cut off: DIRAC loads the proxy alone, no service validates it.
    "proxy:truncated": "holds only proxy certificates",
    # Proxy, user, CA, proxy, user, CA: DIRAC loads it but its chain check then says "not a
    # proxy" (getDIRACGroup fails); we say so at once.
    "proxy:duplicated": "are not a chain",
}


def test_certificates_dirac_or_openssl_refuse_do_not_pass(world, dirac):
    wrong = []
    for name, (kind, path) in world.items():
        if kind != "cert":
            continue
        ours, why = _ours_cert(path)
        theirs = dirac[name]["load"] and _openssl_x509(path)
        if ours and not theirs:
            wrong.append(f"{name}: we pass, DIRAC load={dirac[name]['load']}")
        if ours and not _openssl_verify(path):
            wrong.append(f"{name}: we pass, openssl verify rejects its first certificate")
        if theirs and not ours and CERT_STRICTER.get(name, "\0") not in why:
            wrong.append(f"{name}: DIRAC and OpenSSL load it, we refuse: {why}")
        if not ours:
            assert why and str(path) in why, f"{name}: the reason must name the file: {why}"
    assert wrong == []


def test_proxies_dirac_cannot_load_do_not_pass(world, dirac):
    wrong = []
    for name, (kind, path) in world.items():
        if kind != "proxy":
            continue
        ours, why, _ = _ours_proxy(path)
        theirs = dirac[name]["load"]
        if ours and not theirs:
            wrong.append(f"{name}: we pass PROXY-003, DIRAC cannot load it")
        if ours and not _openssl_x509(path):
            wrong.append(f"{name}: we pass PROXY-003, openssl x509 cannot read it")
        if theirs and not ours:
            expected = PROXY_STRICTER.get(name)
            if expected is None or expected not in why:
                wrong.append(f"{name}: DIRAC loads it, we refuse: {why}")
    assert wrong == []


def test_group_is_the_one_dirac_reads_or_a_stated_problem(world, dirac):
    wrong = []
    for name, (kind, path) in world.items():
        if kind != "proxy" or not dirac[name]["load"]:
            continue
        ours, _, finding = _ours_proxy(path)
        if not ours or finding is None:
            continue
        theirs = dirac[name].get("group")
        if finding.group is not None and finding.group != theirs:
            wrong.append(f"{name}: GROUP-001 passes with {finding.group!r}, DIRAC reads "
                         f"{theirs!r}")
        if finding.group is None and theirs and not finding.errors:
            wrong.append(f"{name}: DIRAC reads group {theirs!r}, we find none and say nothing")
    assert wrong == []


def test_the_oracle_is_not_vacuous(dirac):
    # The plain files load and carry the group; the broken ones do not: the comparisons above
    # then mean something.
    assert dirac["cert:plain"]["load"] and dirac["proxy:plain"]["load"]
    assert dirac["proxy:plain"]["group"] == "mu3e.org_user"
    assert not dirac["cert:der"]["load"] and not dirac["proxy:cert_only"]["load"]


if __name__ == "__main__":  # pragma: no cover - run by hand: python -m pytest this file
    sys.exit(pytest.main([__file__, "-q"]))
