"""X.509 knowledge: reading PEM the way grid users have it, DNs, keys, validity, strength.

Grid credentials arrive in many shapes: ``openssl pkcs12`` output with "Bag Attributes"
preambles, several certificates in one file, PKCS#1 or PKCS#8 keys, encrypted or not.  These
functions accept all of that and return plain facts; deciding what is wrong is the checks' job.
Private-key material never leaves this module except as a loaded key object.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Optional, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from mu3e_checks.knowledge.der import DECODE_ERRORS
from mu3e_checks.text import clip

PROXY_CERT_INFO_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
DIRAC_GROUP_OID = x509.ObjectIdentifier("1.2.42.42")
VOMS_AC_OID = x509.ObjectIdentifier("1.3.6.1.4.1.8005.100.100.5")

#: Every PEM marker.  No back-reference and nothing that can fail after a long run (the label
#: class excludes '-', the trailing dashes are only looked at), so a scan is linear; the
#: lookahead leaves the dashes for a marker that shares them ("-----END A-----END B-----").
_MARKER_RE = re.compile(rb"-----(BEGIN|END) ([A-Z0-9 ]+)(?=-----)")

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, dsa.DSAPrivateKey,
                   ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey]


class PemError(ValueError):
    """The content is not what it should be; the message is meant for the user."""


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """(label, whole PEM block) pairs, ignoring anything between blocks (Bag Attributes...).

    A block runs from a ``-----BEGIN X-----`` line to the first ``-----END X-----`` after it;
    a BEGIN without its END is skipped.  Why not a regular expression: a back-referencing
    regex (BEGIN (label) ... END \\1) retries from every BEGIN, so a file of a million BEGIN
    lines (another user's ``/tmp/x509up_u<uid>``) took minutes.  Here every marker is found once
    and each BEGIN looks up its END by bisection: O(n log n) in the size of the file.
    """
    import bisect

    begins: list[tuple[int, int, bytes]] = []
    ends: dict[bytes, list[tuple[int, int]]] = {}
    for m in _MARKER_RE.finditer(data):
        if m.group(1) == b"BEGIN":
            begins.append((m.start(), m.end() + 5, m.group(2)))
        else:
            ends.setdefault(m.group(2), []).append((m.start(), m.end() + 5))
    blocks: list[tuple[str, bytes]] = []
    cursor = 0
    for start, stop, label in begins:
        if start < cursor or label not in ends:
            continue
        body = stop + (1 if data.startswith(b"\r", stop) else 0)
        if not data.startswith(b"\n", body):
            continue
        candidates = ends[label]
        i = bisect.bisect_left(candidates, (body + 1, -1))
        if i == len(candidates):
            continue
        blocks.append((label.decode("ascii"), data[start:candidates[i][1]]))
        cursor = candidates[i][1]
    return blocks


def _pem_body(block: bytes) -> bytes:
    """The DER inside one PEM block (its base64 lines between the markers; headers skipped)."""
    import base64
    import binascii

    lines = block.splitlines()[1:-1]
    text = b"".join(ln.strip() for ln in lines if b":" not in ln)
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return b""


def looks_like_der(data: bytes) -> bool:
    return len(data) > 2 and data[0] == 0x30 and data[1] in (0x82, 0x81, 0x83)


def load_certificates(data: bytes, what: str = "the file") -> list[x509.Certificate]:
    """Every certificate in a PEM text; :class:`PemError` when there is none or one is broken."""
    blocks = [b for label, b in pem_blocks(data) if label in ("CERTIFICATE",
                                                            "TRUSTED CERTIFICATE")]
    if not blocks:
        if not data.strip():
            raise PemError(f"{what} is empty")
        if looks_like_der(data):
            raise PemError(f"{what} is in binary DER format, not PEM; convert it with "
                           "'openssl x509 -inform der'")
        if b"-----BEGIN CERTIFICATE-----" in data:
            raise PemError(f"{what} has a certificate that starts but never ends (truncated?)")
        raise PemError(f"{what} contains no PEM certificate (no '-----BEGIN CERTIFICATE-----')")
    certs = []
    for n, block in enumerate(blocks, 1):
        name = f"certificate {n} in {what}"
        try:
            cert = x509.load_pem_x509_certificate(
                block.replace(b"TRUSTED CERTIFICATE", b"CERTIFICATE"))
        except x509.InvalidVersion as exc:
            raise PemError(_version_problem(name, exc)) from None
        except ValueError as exc:
            place = decode_place(exc)
            raise PemError(f"{name} is damaged and cannot be decoded"
                           + (f" (bad {place})" if place else "")) from None
        certs.append(usable_certificate(cert, name))
    return certs


def _version_problem(what: str, exc: x509.InvalidVersion) -> str:
    return (f"{what} claims X.509 version {exc.parsed_version + 1}, which does not exist "
            "(only versions 1 to 3 do): no CA issues such a certificate, and it cannot be "
            "read here")


def certificate_damage(cert: x509.Certificate) -> Optional[str]:
    """What in ``cert`` cannot be decoded (its extensions or validity dates), or None.

    ``cryptography`` decodes these lazily, so without this check each damaged certificate
    would break whichever function touched it first.  OpenSSL refuses such a certificate in a
    chain too ("invalid or inconsistent certificate extension", or it cannot read the time),
    so the certificate is not usable as it is.
    """
    try:
        _ = cert.extensions
    except x509.DuplicateExtension as exc:
        return (f"the extension {extension_name(exc.oid)} twice (a certificate may carry each "
                "extension once)")
    except DECODE_ERRORS:
        name = _damaged_extension(cert)
        return f"{'a ' + name if name else 'an'} extension whose value cannot be decoded"
    for which, attr in (("notBefore", "not_valid_before_utc"),
                        ("notAfter", "not_valid_after_utc")):
        try:
            getattr(cert, attr)
        except DECODE_ERRORS as exc:
            return f"a {which} date that cannot be read ({clip(first_line(exc), 80)})"
    return None


def _damaged_extension(cert: x509.Certificate) -> str:
    """The name of the first extension ``cryptography`` cannot decode on its own.

    It decodes all extensions at once and does not say which one broke, so each is decoded
    again inside a copy of the certificate that carries only that one.
    """
    from mu3e_checks.knowledge import der

    whole = cert.public_bytes(serialization.Encoding.DER)
    try:
        exts = der.tbs_extensions(cert.tbs_certificate_bytes)
    except der.DerError:
        return ""
    for ext in exts:
        try:
            _ = x509.load_der_x509_certificate(der.with_only_extension(whole, ext)).extensions
        except (der.DerError, *DECODE_ERRORS):
            try:
                return extension_name(x509.ObjectIdentifier(der.oid(der.seq(ext, "extension")[0])))
            except (der.DerError, ValueError):
                break
    return ""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), for messages."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


#: Where in a certificate or CRL ``cryptography``'s decoder stopped (the names in its
#: ParseError's location), in words; the most specific one found is used.
_DECODE_PLACES = (
    ("AttributeTypeValue", "name attribute"), ("subject", "subject name"),
    ("issuer", "issuer name"), ("not_before", "notBefore date"), ("not_after", "notAfter date"),
    ("this_update", "thisUpdate date"), ("next_update", "nextUpdate date"),
    ("revocation_date", "revocation date"), ("revoked_certificates", "revoked-certificate entry"),
    ("version", "version field"), ("serial", "serial number"), ("spki", "public key"),
    ("signature_alg", "signature algorithm"), ("extensions", "extensions"),
)


def decode_place(exc: BaseException) -> str:
    """What ``cryptography`` failed to decode in a certificate or CRL ("notBefore date"), or ''
    when its message does not say."""
    import re

    located = re.search(r"location: \[(.*?)\]", str(exc))
    if not located:
        return ""
    parts = re.findall(r'"([^"]+)"', located.group(1))
    for part in reversed(parts):
        for key, words in _DECODE_PLACES:
            if key.lower() in part.lower():
                return words
    return ""


#: Names of the extensions a grid certificate carries, for messages.
_EXTENSION_NAMES = {
    "2.5.29.19": "basicConstraints", "2.5.29.15": "keyUsage", "2.5.29.17": "subjectAltName",
    "2.5.29.37": "extendedKeyUsage", "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.35": "authorityKeyIdentifier", "2.5.29.32": "certificatePolicies",
    "2.5.29.31": "cRLDistributionPoints", "2.5.29.30": "nameConstraints",
    "1.3.6.1.5.5.7.1.14": "proxyCertInfo", "1.2.42.42": "DIRAC group",
    "1.3.6.1.4.1.8005.100.100.5": "VOMS attribute certificate", "2.5.29.20": "CRL number",
    "2.5.29.21": "CRL reason", "2.5.29.24": "invalidity date", "2.5.29.27": "delta CRL indicator",
    "2.5.29.28": "issuing distribution point",
}


def extension_name(oid: x509.ObjectIdentifier) -> str:
    """``basicConstraints (2.5.29.19)`` for the extensions grid files carry, else the OID."""
    dotted = oid.dotted_string
    name = _EXTENSION_NAMES.get(dotted)
    return f"{name} ({dotted})" if name else dotted


def usable_certificate(cert: x509.Certificate, what: str) -> x509.Certificate:
    """``cert`` when its names, extensions and dates can all be read, else :class:`PemError`.

    Every certificate the diagnosis reads from a file comes through here, so the functions
    that look at a certificate later never meet a part that cannot be decoded.
    """
    readable_names(cert, what)
    damage = certificate_damage(cert)
    if damage:
        raise PemError(f"{what} has {damage}: no CA issues such a certificate, OpenSSL "
                       "refuses most of them in a chain, and it cannot be checked further "
                       "here")
    return cert


def readable_names(cert: x509.Certificate, what: str) -> x509.Certificate:
    """``cert`` when its subject and issuer can be read as text, else :class:`PemError`.

    ``cryptography`` parses names lazily and raises on invalid UTF-8 wherever ``.subject`` is
    touched; checking once here, where the file is read, turns that into one named finding
    instead of a crash in whichever check looks first.  The name is shown with the bad bytes
    escaped, as OpenSSL shows them.  DIRAC compares DNs as text, and a CA never issues such a
    name, so the certificate is not usable as it is.
    """
    from mu3e_checks.knowledge import der

    for part in ("subject", "issuer"):
        try:
            getattr(cert, part)
        except ValueError:
            try:
                issuer, subject = der.tbs_names(cert.tbs_certificate_bytes)
                shown = " (" + der.lenient_dn(subject if part == "subject" else issuer) + ")"
            except (der.DerError, ValueError):
                shown = ""
            raise PemError(f"{what} has a {part} name{shown} with bytes that are not valid text "
                           "(invalid UTF-8 or a wrong string type); grid tools compare DNs as "
                           "text, so this certificate cannot be used as it is") from None
    return cert


def text_problem(data: bytes, what: str) -> Optional[str]:
    """Why DIRAC cannot read ``data`` as text, or None.

    DIRAC opens certificate, key and proxy files as UTF-8 text: one undecodable byte anywhere
    (garbage appended, a binary file) makes ``X509Chain.loadChainFromFile`` raise
    UnicodeDecodeError and ``loadProxyFromFile`` fail, even though the PEM blocks are fine.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (f"{what} holds bytes that are not text (invalid UTF-8 at byte {exc.start}); "
                "DIRAC reads the file as UTF-8 text and cannot load it")
    return None


def load_certificate_any(data: bytes, what: str = "the file") -> x509.Certificate:
    """One certificate, PEM or DER (CA files in trust dirs are occasionally DER)."""
    if b"-----BEGIN" in data:
        return load_certificates(data, what)[0]
    try:
        cert = x509.load_der_x509_certificate(data)
    except x509.InvalidVersion as exc:
        raise PemError(_version_problem(what, exc)) from None
    except ValueError:
        raise PemError(f"{what} is neither a PEM nor a DER certificate") from None
    return usable_certificate(cert, what)


# ----------------------------------------------------------------------------- names

_SHORT = {
    NameOID.COUNTRY_NAME: "C", NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN", NameOID.DOMAIN_COMPONENT: "DC", NameOID.EMAIL_ADDRESS:
    "emailAddress", NameOID.USER_ID: "UID", NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.GIVEN_NAME: "GN", NameOID.SURNAME: "SN", NameOID.TITLE: "title",
}


def dn_slash(name: x509.Name) -> str:
    """OpenSSL's one-line form (``/C=UK/O=eScience/.../CN=...``) that VO admins register."""
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            key = _SHORT.get(attr.oid, attr.oid.dotted_string)
            parts.append(f"{key}={attr.value}")
    return "/" + "/".join(parts) if parts else ""


def dn_rfc2253(name: x509.Name) -> str:
    """RFC 2253 / 4514 form (most specific first), as shown by cryptography and LDAP."""
    return name.rfc4514_string()


def parse_slash_dn(dn: str) -> list[tuple[str, str]]:
    """``/C=UK/O=x/CN=y`` → [("C","UK"), ("O","x"), ("CN","y")]; tolerant of '/' in values."""
    out: list[tuple[str, str]] = []
    for piece in re.split(r"/(?=[A-Za-z][A-Za-z0-9.]*=)", dn.strip()):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        out.append((key, value))
    return out


#: Spellings of the e-mail attribute in slash DNs (OpenSSL, Globus, old VOMS files).
_EMAIL_KEYS = {"EMAIL": "EMAILADDRESS", "E": "EMAILADDRESS"}


def dn_key(slash: str) -> tuple[tuple[str, str], ...]:
    """A slash-form DN as a comparable key: what :func:`same_dn` compares (attribute names
    case-insensitive, the e-mail attribute's spellings alike, values exact), usable to index
    many DNs once."""
    out = []
    for k, v in parse_slash_dn(slash):
        key = k.upper()
        out.append((_EMAIL_KEYS.get(key, key), v))
    return tuple(out)


def same_dn(name: x509.Name, slash: str) -> bool:
    """True when ``name`` is the DN written in slash form (case-insensitive keys)."""
    return dn_key(dn_slash(name)) == dn_key(slash)


# ----------------------------------------------------------------------------- certificates


def not_before(cert: x509.Certificate) -> _dt.datetime:
    return cert.not_valid_before_utc


def not_after(cert: x509.Certificate) -> _dt.datetime:
    return cert.not_valid_after_utc


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> Optional[x509.Extension]:
    """The extension ``oid`` of ``cert``, or None when it has none.

    The one place extensions are looked up.  A certificate whose extensions cannot be decoded
    is refused where it is read (:func:`usable_certificate` names the damage), so one from
    another source (a TLS peer, an attribute certificate) that is damaged counts as having none.
    """
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None
    except DECODE_ERRORS:
        return None


def is_ca(cert: x509.Certificate) -> bool:
    """True for basicConstraints CA:TRUE; False when absent."""
    ext = extension(cert, ExtensionOID.BASIC_CONSTRAINTS)
    return ext is not None and bool(getattr(ext.value, "ca", False))


def proxy_kind(cert: x509.Certificate) -> Optional[str]:
    """``rfc3820`` for a proxyCertInfo proxy, ``legacy`` for a Globus CN=proxy one, else None."""
    if extension(cert, PROXY_CERT_INFO_OID) is not None:
        return "rfc3820"
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if cns and cns[-1].value in ("proxy", "limited proxy"):
        subj = list(cert.subject.rdns)
        if list(cert.issuer.rdns) == subj[:-1]:
            return "legacy"
    return None


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


@dataclass
class UserCertFile:
    """What ``usercert.pem`` holds: the user's certificate and anything else found with it."""

    cert: x509.Certificate
    others: list[x509.Certificate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def subject_slash(self) -> str:
        return dn_slash(self.cert.subject)

    @property
    def subject_rfc2253(self) -> str:
        return dn_rfc2253(self.cert.subject)

    @property
    def issuer_slash(self) -> str:
        return dn_slash(self.cert.issuer)


def pick_user_certificate(data: bytes, what: str = "usercert.pem") -> UserCertFile:
    """The one end-entity certificate in the file, or :class:`PemError` saying why there is none.

    ``openssl pkcs12 -clcerts`` gives one certificate; exports without ``-clcerts`` add the CA
    chain.  The user certificate is the one that is neither a CA nor a proxy; extra ones are
    reported as notes so the check can warn.
    """
    certs = load_certificates(data, what)
    problem = text_problem(data, what)
    if problem:
        raise PemError(problem)
    # The same certificate twice (a file appended to itself) is one certificate: DIRAC and
    # OpenSSL load such a file, so it is a note below, not "two personal certificates".
    users = list({c.fingerprint(hashes.SHA256()): c for c in certs if not is_ca(c)
                  and proxy_kind(c) is None and not is_self_signed(c)}.values())
    if not users:
        if any(proxy_kind(c) for c in certs):
            raise PemError(f"{what} holds a proxy certificate, not your user certificate; "
                           "copy the certificate from your .p12 export instead")
        raise PemError(f"{what} holds only CA certificates, not your user certificate")
    if len(users) > 1:
        raise PemError(f"{what} holds {len(users)} different personal certificates; keep only "
                       "yours: " + ", ".join(dn_slash(c.subject) for c in users))
    user = users[0]
    others = [c for c in certs if c != user]
    copies = len(certs) - len(others) - 1
    notes = []
    if copies:
        notes.append(f"{what} holds your certificate {copies + 1} times; one copy is enough")
    if others:
        notes.append(f"{what} also holds {len(others)} other certificate(s) ("
                     + ", ".join(dn_slash(c.subject) for c in others)
                     + "); DIRAC uses the first one, which "
                     + ("is" if certs[0] == user else "is NOT") + " yours")
    return UserCertFile(cert=user, others=others, notes=notes)


# ----------------------------------------------------------------------------- private keys


@dataclass
class KeyFile:
    """What a private-key file is, without the key material unless it could be loaded."""

    format: str  # "PKCS#1", "PKCS#8", "EC", "OpenSSH" ...
    encrypted: bool
    key: Optional[PrivateKey] = None  # None when encrypted and no pass phrase was given

    @property
    def algorithm(self) -> str:
        """``RSA``, ``EC secp256r1``, ... of the loaded key; '' while it is still encrypted."""
        return key_algorithm(self.key) if self.key is not None else ""

    def describe(self) -> str:
        algo = f" ({self.algorithm})" if self.key is not None else ""
        return f"{'encrypted ' if self.encrypted else ''}{self.format} private key{algo}"


_KEY_LABELS = {
    "RSA PRIVATE KEY": "PKCS#1",
    "PRIVATE KEY": "PKCS#8",
    "ENCRYPTED PRIVATE KEY": "PKCS#8",
    "EC PRIVATE KEY": "EC",
    "DSA PRIVATE KEY": "DSA",
}


def key_algorithm(key: object) -> str:
    """A short name of a key's algorithm, for messages (never key material)."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RSA"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return f"EC {key.curve.name}"
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "Ed25519"
    if isinstance(key, (ed448.Ed448PrivateKey, ed448.Ed448PublicKey)):
        return "Ed448"
    if isinstance(key, (dsa.DSAPrivateKey, dsa.DSAPublicKey)):
        return "DSA"
    name = type(key).__name__
    for suffix in ("PrivateKey", "PublicKey"):
        name = name.removesuffix(suffix)
    return name or "unknown"


def key_type_problem(key: object, what: str = "userkey.pem") -> Optional[str]:
    """Why a private key of this type cannot sign a grid proxy, or None (RSA and EC can).

    DIRAC 8 makes proxies with M2Crypto: RSA and EC issuer keys work, but with an Ed25519 key
    ``dirac-proxy-init`` breaks inside M2Crypto; DSA is refused by grid services; X25519/X448
    keys cannot sign at all.
    """
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return None
    algo = key_algorithm(key)
    if isinstance(key, dsa.DSAPrivateKey):
        why = "grid services no longer accept DSA"
    elif isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        why = "DIRAC 8 (M2Crypto) cannot sign a proxy with it"
    else:
        why = "it cannot sign anything, so no proxy can be made with it"
    return (f"{what} holds an {algo} private key, where a grid key must be RSA (or EC): "
            f"{why}")


def load_private_key(data: bytes, passphrase: Optional[bytes] = None,
                     what: str = "userkey.pem") -> KeyFile:
    """Identify and, when possible, load the private key in ``data``.

    An encrypted key without a pass phrase is reported, not loaded: the checks never prompt.
    Every key we cannot use (unknown algorithm, a type that cannot sign a proxy, damaged) is a
    :class:`PemError` with a sentence; error messages never include key bytes.
    """
    blocks = [(label, b) for label, b in pem_blocks(data) if label.endswith("PRIVATE KEY")]
    if not blocks:
        if not data.strip():
            raise PemError(f"{what} is empty")
        if b"PRIVATE KEY-----" in data:
            raise PemError(f"{what} has a private key that starts but never ends (truncated?)")
        if b"BEGIN CERTIFICATE" in data:
            raise PemError(f"{what} holds a certificate, not a private key")
        if looks_like_der(data):
            raise PemError(f"{what} is in binary DER format, not PEM; grid tools read a PEM key")
        raise PemError(f"{what} contains no PEM private key")
    problem = text_problem(data, what)
    if problem:
        raise PemError(problem)
    label, block = blocks[0]
    fmt = _KEY_LABELS.get(label, clip(label.title(), 40))
    encrypted = label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in block
    if label == "OPENSSH PRIVATE KEY":
        raise PemError(f"{what} is an SSH key, not a grid certificate key")
    if encrypted and not passphrase:
        return KeyFile(format=fmt, encrypted=True)
    if label == "ENCRYPTED PRIVATE KEY":  # PKCS#8 names its own PBKDF2/scrypt cost: bound it
        from mu3e_checks.knowledge.pkcs12_cost import key_cost_problem

        costly = key_cost_problem(_pem_body(block))
        if costly:
            raise PemError(f"{what} is not decrypted: {costly}")
    try:
        # OpenSSL's RSA check tests p and q for primality (~40 ms a key); the arithmetic in
        # rsa_key_consistent() catches a damaged key file just as well, for a fraction of that.
        key = serialization.load_pem_private_key(block, password=passphrase if encrypted
                                                 else None,
                                                 unsafe_skip_rsa_key_validation=True)
        if isinstance(key, rsa.RSAPrivateKey) and not rsa_key_consistent(key):
            raise ValueError("inconsistent RSA key")
    except UnsupportedAlgorithm:
        # An algorithm OID this OpenSSL does not know, or an encryption it cannot undo.
        how = "encrypted with a cipher" if encrypted else "of a key type"
        raise PemError(f"{what} holds a {fmt} private key {how} that cannot be read here "
                       "(unsupported algorithm)") from None
    except TypeError:
        raise PemError(f"{what} could not be read: pass phrase problem") from None
    except (ValueError, IndexError, OverflowError) as exc:
        if encrypted:
            raise PemError(f"{what} could not be decrypted: wrong pass phrase or damaged "
                           "file") from None
        # cryptography's messages do not contain key bytes, but keep ours generic anyway.
        kind = "unsupported key type" if "unsupported" in str(exc).lower() else "damaged"
        raise PemError(f"{what} holds a {fmt} private key that cannot be decoded ({kind})") \
            from None
    problem = key_type_problem(key, what)
    if problem:
        raise PemError(problem)
    return KeyFile(format=fmt, encrypted=encrypted, key=key)  # type: ignore[arg-type]


def rsa_key_consistent(key: rsa.RSAPrivateKey) -> bool:
    """The RSA private numbers fit together (n = p*q, d inverts e, the CRT values match).

    A bit flipped anywhere in a stored key breaks one of these identities; it is what a
    damaged ``userkey.pem`` or proxy looks like, and grid tools then fail with "bad decrypt" or
    a key mismatch far from the cause.
    """
    import math

    nums = key.private_numbers()
    n, e = nums.public_numbers.n, nums.public_numbers.e
    p, q, d = nums.p, nums.q, nums.d
    if p < 2 or q < 2 or p * q != n:
        return False
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    return ((d * e) % lam == 1 and nums.dmp1 == d % (p - 1) and nums.dmq1 == d % (q - 1)
            and (nums.iqmp * q) % p == 1)


def public_key(cert: x509.Certificate) -> Optional[object]:
    """The certificate's public key, or None when its algorithm cannot be read here.

    ``cryptography`` raises UnsupportedAlgorithm (or ValueError for a damaged key) from
    ``public_key()``; callers name that instead of breaking.
    """
    try:
        return cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return None


def public_key_oid(cert: x509.Certificate) -> str:
    """The dotted OID of the certificate's public-key algorithm, for messages ('' if unknown)."""
    try:
        return cert.public_key_algorithm_oid.dotted_string
    except (UnsupportedAlgorithm, ValueError, AttributeError):
        return ""


def public_bytes(obj: object) -> bytes:
    """SubjectPublicKeyInfo DER of a certificate, public key or private key.

    For a certificate whose key algorithm cannot be loaded, the raw SubjectPublicKeyInfo
    bytes are compared instead, so a key match stays decidable.
    """
    if isinstance(obj, x509.Certificate):
        pub = public_key(obj)
        if pub is None:
            return _raw_spki(obj)
    elif hasattr(obj, "public_key"):
        pub = obj.public_key()  # type: ignore[union-attr]
    else:
        pub = obj
    return pub.public_bytes(serialization.Encoding.DER,  # type: ignore[union-attr]
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _raw_spki(cert: x509.Certificate) -> bytes:
    from mu3e_checks.knowledge import der

    try:
        fields = der.seq(der.parse(cert.tbs_certificate_bytes), "TBSCertificate")
        if fields and fields[0].context_number == 0:
            fields = fields[1:]
        return fields[5].raw
    except (der.DerError, IndexError):
        return b""


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> Optional[bool]:
    """Whether ``issuer`` issued ``cert``: its name is ``cert``'s issuer and its key made the
    signature.  None when that cannot be checked here (a key or signature algorithm
    ``cryptography`` cannot use): no verdict, rather than a wrong one.
    """
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def key_matches(cert: x509.Certificate, key: PrivateKey) -> bool:
    return public_bytes(cert) == public_bytes(key)


# ----------------------------------------------------------------------------- judgments


#: Public-key algorithms by OID, to tell a damaged key of a known kind from an unknown kind.
_KEY_ALGORITHMS = {"1.2.840.113549.1.1.1": "RSA", "1.2.840.10045.2.1": "EC",
                   "1.3.101.112": "Ed25519", "1.3.101.113": "Ed448", "1.2.840.10040.4.1": "DSA",
                   "1.2.840.113549.1.1.10": "RSA-PSS"}


def unreadable_key(cert: x509.Certificate) -> str:
    """What is wrong with a public key :func:`public_key` cannot load, for a message."""
    oid = public_key_oid(cert)
    kind = _KEY_ALGORITHMS.get(oid)
    if kind:
        return (f"an {kind} public key that cannot be decoded (damaged, or parameters not "
                "known here)")
    return f"a public key of an algorithm not known here{f' ({oid})' if oid else ''}"


def key_description(cert: x509.Certificate) -> str:
    pub = public_key(cert)
    if pub is None:
        oid = public_key_oid(cert)
        return f"unreadable public key{f' ({_KEY_ALGORITHMS.get(oid, oid)})' if oid else ''}"
    if isinstance(pub, rsa.RSAPublicKey):
        return f"RSA {pub.key_size} bits"
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return f"EC {pub.curve.name}"
    return key_algorithm(pub)


def signature_hash(cert: x509.Certificate) -> Optional[hashes.HashAlgorithm]:
    """The signature's hash; None for Ed25519/Ed448 and for algorithms not known here."""
    try:
        return cert.signature_hash_algorithm
    except (UnsupportedAlgorithm, ValueError):
        return None


#: Ed25519 and Ed448 signatures have no separate hash; cryptography reports None for them.
_HASHLESS = ("1.3.101.112", "1.3.101.113")


def _hashless_signature(cert: x509.Certificate) -> bool:
    return cert.signature_algorithm_oid.dotted_string in _HASHLESS


def strength_problems(cert: x509.Certificate) -> list[str]:
    """Why the key or signature is too weak (or unknown) for grid services today, or []."""
    problems = []
    pub = public_key(cert)
    if pub is None:
        problems.append(f"the certificate has {unreadable_key(cert)}; grid services use RSA "
                        "(or EC) keys")
    elif isinstance(pub, rsa.RSAPublicKey) and pub.key_size < 2048:
        problems.append(f"the RSA key has only {pub.key_size} bits; grid services need at least "
                        "2048 ('ee key too small')")
    elif isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.key_size < 256:
        problems.append(f"the EC key uses {pub.curve.name}; at least P-256 is needed")
    elif isinstance(pub, dsa.DSAPublicKey):
        problems.append("the key is DSA, which grid services no longer accept")
    algo = signature_hash(cert)
    if algo is None and not _hashless_signature(cert):
        oid = cert.signature_algorithm_oid.dotted_string
        problems.append(f"the certificate is signed with an algorithm ({oid}) that cannot be "
                        "checked here; grid services use RSA or ECDSA with SHA-2")
    if isinstance(algo, (hashes.MD5, hashes.SHA1)):
        problems.append(f"the certificate is signed with {algo.name.upper()}, which OpenSSL "
                        "rejects at its default security level")
    return problems


@dataclass(frozen=True)
class Validity:
    state: str  # "valid" | "expired" | "not-yet-valid"
    not_before: _dt.datetime
    not_after: _dt.datetime
    left: _dt.timedelta


def validity(cert: x509.Certificate, now: Optional[_dt.datetime] = None) -> Validity:
    now = now or utcnow()
    nb, na = not_before(cert), not_after(cert)
    state = "expired" if now > na else "not-yet-valid" if now < nb else "valid"
    return Validity(state, nb, na, na - now)


def fmt_time(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")
