"""How much work a ``.p12`` asks for before it can be opened, read without opening it.

A PKCS#12 file names its own key-derivation cost: the MAC's iteration count, and the PBE or
PBES2 (PBKDF2, scrypt) parameters of each encrypted container and of each shrouded private key.
OpenSSL pays whatever the file asks: a MAC with 2·10⁹ iterations costs about 140 s of CPU per
pass-phrase try, before the pass phrase is even known to be wrong.  So the counts are read from
the file's structure first (:func:`work`), and a file that asks for more than
:data:`MAX_ITERATIONS` anywhere is refused (:func:`cost_problem`) before any derivation runs.

The reader is a small BER walker of its own (definite and indefinite lengths, constructed
OCTET STRINGs, as exporters write them), bounded in depth and in the number of elements, so a
crafted structure costs at most a linear pass over at most the file's bytes.  What it cannot
see: a shrouded key hidden *inside* an encrypted container (no exporter writes one; OpenSSL,
browsers, Windows and Java keep the key in a plain container); its cost is only known after
decrypting that container, whose own count is bounded here.
"""

from __future__ import annotations

from dataclasses import dataclass

from mu3e_checks.knowledge import der as _der

#: The most iterations one key derivation may ask for.  OpenSSL's ``pkcs12 -export`` writes
#: 2048, Java and NSS about 10 000, and OWASP's 2023 advice for PBKDF2-HMAC-SHA1 is 1.3
#: million: 2 million stays above every honest export and costs well under a second.
MAX_ITERATIONS = 2_000_000
#: scrypt's work is N·r·p block mixes (OpenSSL's ``-scrypt`` default: 16384·8·1).
MAX_SCRYPT_WORK = 1 << 22
#: Bounds of the structure walk: nesting depth and elements visited.
_MAX_DEPTH = 32
_MAX_NODES = 50_000

PKCS7_DATA = "1.2.840.113549.1.7.1"
PKCS7_ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
_SAFE_CONTENTS_BAG = "1.2.840.113549.1.12.10.1.6"
_PKCS12_PBE = "1.2.840.113549.1.12.1."  # pbeWithSHAAnd3-KeyTripleDES-CBC, ...40BitRC2-CBC...
_PBES1 = {f"1.2.840.113549.1.5.{n}" for n in (1, 3, 4, 6, 10, 11)}
PBES2 = "1.2.840.113549.1.5.13"
_PBKDF2 = "1.2.840.113549.1.5.12"
_SCRYPT = "1.3.6.1.4.1.11591.4.11"


class CostError(ValueError):
    """The bytes are not a PKCS#12 structure this reader can measure; the message says where."""


@dataclass(frozen=True)
class Work:
    """One key derivation the file asks for: what it protects, and its cost."""

    what: str  # "the MAC", "an encrypted container", "the private key"
    iterations: int
    kdf: str = "iterations"  # or "scrypt N·r·p"

    @property
    def limit(self) -> int:
        return MAX_SCRYPT_WORK if self.kdf != "iterations" else MAX_ITERATIONS


@dataclass
class _Node:
    tag: int
    content: bytes = b""
    children: tuple[_Node, ...] = ()

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def child(self, n: int, what: str) -> _Node:
        if not self.constructed or n >= len(self.children):
            raise CostError(f"{what} is missing")
        return self.children[n]


class _Reader:
    """BER, bounded: every call of :meth:`parse` counts against the node budget."""

    def __init__(self) -> None:
        self.nodes = 0

    def parse(self, data: bytes, pos: int = 0, depth: int = 0,
              limit: int = -1) -> tuple[_Node, int]:
        """The element at ``pos`` (ending by ``limit``, the end of its parent) and the offset
        after it.  Bounds are passed down, never sliced: the walk stays linear."""
        limit = len(data) if limit < 0 else limit
        self.nodes += 1
        if self.nodes > _MAX_NODES or depth > _MAX_DEPTH:
            raise CostError("too many or too deeply nested elements")
        if pos + 2 > limit:
            raise CostError("truncated")
        tag, first, head = data[pos], data[pos + 1], pos + 2
        if tag & 0x1F == 0x1F:
            raise CostError("a high tag number, which PKCS#12 does not use")
        constructed = bool(tag & 0x20)
        if first == 0x80:  # indefinite length: children up to the end-of-contents marker
            if not constructed:
                raise CostError("an indefinite length on a primitive element")
            kids, p = [], head
            while not (p + 2 <= limit and data[p] == 0 and data[p + 1] == 0):
                if p >= limit:
                    raise CostError("an indefinite length without its end")
                kid, p = self.parse(data, p, depth + 1, limit)
                kids.append(kid)
            return _Node(tag, children=tuple(kids)), p + 2
        if first & 0x80:
            n = first & 0x7F
            if n > 4 or head + n > limit:
                raise CostError("an oversized length field")
            length = int.from_bytes(data[head:head + n], "big")
            head += n
        else:
            length = first
        end = head + length
        if end > limit:
            raise CostError("an element runs past the end")
        if not constructed:
            return _Node(tag, data[head:end]), end
        kids, p = [], head
        while p < end:
            kid, p = self.parse(data, p, depth + 1, end)
            kids.append(kid)
        return _Node(tag, children=tuple(kids)), end

    def octets(self, node: _Node) -> bytes:
        """An OCTET STRING's value, primitive or constructed (BER splits long ones)."""
        if node.tag == 0x04:
            return node.content
        if node.tag == 0x24:
            return b"".join(self.octets(k) for k in node.children)
        raise CostError(f"an OCTET STRING was expected (tag 0x{node.tag:02x})")


def _oid(node: _Node) -> str:
    try:
        return _der.oid(_der.Tlv(node.tag, node.content, b""))
    except _der.DerError:
        raise CostError("an object identifier was expected") from None


def _int(node: _Node) -> int:
    try:
        return _der.integer(_der.Tlv(node.tag, node.content, b""))
    except _der.DerError:
        raise CostError("an integer was expected") from None


def _algorithm(alg: _Node, what: str) -> list[Work]:
    """The derivation cost of one AlgorithmIdentifier (PKCS#12 PBE, PBES1 or PBES2)."""
    oid = _oid(alg.child(0, f"the algorithm of {what}"))
    if oid.startswith(_PKCS12_PBE) or oid in _PBES1:
        params = alg.child(1, f"the PBE parameters of {what}")
        return [Work(what, _int(params.child(1, f"the iteration count of {what}")))]
    if oid != PBES2:
        return []  # not password-based, or unknown to OpenSSL too: it derives nothing
    kdf = alg.child(1, f"the PBES2 parameters of {what}").child(0, f"the KDF of {what}")
    kdf_oid = _oid(kdf.child(0, f"the KDF of {what}"))
    params = kdf.child(1, f"the KDF parameters of {what}")
    if kdf_oid == _PBKDF2:
        return [Work(what, _int(params.child(1, f"the PBKDF2 iteration count of {what}")))]
    if kdf_oid == _SCRYPT:
        n, r, p = (_int(params.child(i, f"the scrypt parameters of {what}")) for i in (1, 2, 3))
        return [Work(what, max(n, 0) * max(r, 0) * max(p, 0), "scrypt N·r·p")]
    return []


def _bags(reader: _Reader, safe: _Node, depth: int = 0) -> list[Work]:
    """The shrouded keys of a SafeContents (and of the SafeContents nested in it)."""
    out: list[Work] = []
    for bag in safe.children if safe.constructed else ():
        bag_id = _oid(bag.child(0, "a bag's type"))
        if bag_id == SHROUDED_KEY_BAG:
            epki = bag.child(1, "a key bag's value").child(0, "a shrouded key")
            out += _algorithm(epki.child(0, "the key's algorithm"), "the private key")
        elif bag_id == _SAFE_CONTENTS_BAG and depth < 4:
            out += _bags(reader, bag.child(1, "a nested bag").child(0, "nested bags"), depth + 1)
    return out


def work(data: bytes) -> list[Work]:
    """Every key derivation the PFX in ``data`` asks for before its key can be read, from its
    structure alone; :class:`CostError` when it is not a password-protected PKCS#12 file."""
    reader = _Reader()
    pfx, end = reader.parse(data)
    if end != len(data) or not pfx.constructed:
        raise CostError("not one PKCS#12 structure")
    out: list[Work] = []
    if len(pfx.children) >= 3:  # MacData ::= SEQUENCE { mac, macSalt, iterations DEFAULT 1 }
        mac = pfx.children[2]
        out.append(Work("the MAC", _int(mac.children[2]) if len(mac.children) > 2 else 1))
    auth_safe = pfx.child(1, "the authenticated safe")
    if _oid(auth_safe.child(0, "the safe's type")) != PKCS7_DATA:
        raise CostError("not a password-protected PKCS#12 file (public-key integrity mode)")
    inner = reader.octets(auth_safe.child(1, "the safe's content").child(0, "the safe's data"))
    safes, _ = reader.parse(inner)
    for info in safes.children if safes.constructed else ():
        kind = _oid(info.child(0, "a container's type"))
        body = info.child(1, "a container's content").child(0, "a container's content")
        if kind == PKCS7_DATA:
            contents, _ = reader.parse(reader.octets(body))
            out += _bags(reader, contents)
        elif kind == PKCS7_ENCRYPTED_DATA:
            eci = body.child(1, "an encrypted container's content info")
            out += _algorithm(eci.child(1, "a container's algorithm"), "an encrypted container")
    return out


def pkcs8_work(der: bytes) -> list[Work]:
    """The key derivation an encrypted PKCS#8 key (``BEGIN ENCRYPTED PRIVATE KEY``) asks for
    before it can be decrypted: its EncryptedPrivateKeyInfo's algorithm, PBES1 or PBES2, read
    from the structure alone; :class:`CostError` when it is not that structure."""
    reader = _Reader()
    info, end = reader.parse(der)
    if end != len(der) or not info.constructed:
        raise CostError("not one EncryptedPrivateKeyInfo structure")
    return _algorithm(info.child(0, "the key's algorithm"), "the private key")


def key_cost_problem(der: bytes) -> str:
    """Why decrypting this encrypted PKCS#8 key would cost too much (or cannot be measured),
    or '': a key file can ask OpenSSL for billions of PBKDF2 rounds as well as a ``.p12``."""
    try:
        found = pkcs8_work(der)
    except CostError as exc:
        return f"its encryption cannot be read ({exc})"
    return _too_costly(found, "encrypt the key again with the usual settings "
                              "(openssl pkcs8 -topk8 -v2 aes256 uses 2048 iterations)")


def cost_problem(data: bytes) -> str:
    """Why opening this ``.p12`` would cost too much (or cannot be measured), or ''."""
    try:
        found = work(data)
    except CostError as exc:
        return f"it cannot be read as a PKCS#12 file ({exc})"
    return _too_costly(found, "export it again with the usual settings (openssl pkcs12 "
                              "-export uses 2048)")


def _too_costly(found: list[Work], remedy: str) -> str:
    """Why these derivations together cost too much, or ''."""
    for w in found:
        if w.iterations > w.limit:
            return (f"{w.what} asks for {w.iterations:,} {w.kdf} (more than {w.limit:,}, far "
                    "beyond any exporter's): each pass-phrase try would pay that in CPU time; "
                    f"{remedy}")
    total = sum(w.iterations for w in found if w.kdf == "iterations")
    if total > 3 * MAX_ITERATIONS:
        return (f"it asks for {total:,} iterations in all (more than {3 * MAX_ITERATIONS:,}); "
                f"{remedy}")
    return ""
