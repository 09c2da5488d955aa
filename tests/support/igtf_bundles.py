"""IGTF CA bundles as the EGI repository serves them, honest or poisoned, for ``fix``'s tests.

An honest ``ca_<alias>-1.138.tar.gz`` has one top directory holding ``<alias>.pem``,
``.info`` (with ``sha1fp.0``), ``.signing_policy``, ``.crl_url`` and the hash names (new and
old subject hash) linking to them, as Debian's igtf-policy-classic shows the real ones.  The
test CAs are ours, so the tests point ``fix --ca-fingerprints`` at a file listing their keys
(:func:`known_keys_file`), exactly as a site mirror would.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Optional

from cryptography.hazmat.primitives import hashes

from mu3e_checks.knowledge.pki import dn_slash
from mu3e_checks.repair.bundles import key_digest
from tests.support.pki_factory import subject_hash, subject_hash_old

#: (name, bytes or None, link target or None): an extra member of a tarball.
Member = tuple[str, Optional[bytes], Optional[str]]


def info_text(cert: Any, alias: str, *, sha1: Optional[str] = None) -> bytes:
    """An IGTF ``.info`` for ``cert`` (``sha1`` overrides its ``sha1fp.0``)."""
    fp = sha1 if sha1 is not None else ":".join(
        f"{b:02X}" for b in cert.fingerprint(hashes.SHA1()))
    return (f"alias = {alias}\nstatus = accredited:classic\nversion = 1.138\n"
            f"sha1fp.0 = {fp}\nsubjectdn = \"{dn_slash(cert.subject)}\"\n").encode()


def tar_gz(members: Iterable[Member], top: str) -> bytes:
    """A gzip'd tar of ``members`` under the directory ``top``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        dir_info = tarfile.TarInfo(top)
        dir_info.type = tarfile.DIRTYPE
        tar.addfile(dir_info)
        for name, data, link in members:
            info = tarfile.TarInfo(f"{top}/{name}")
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                assert data is not None
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def igtf_members(ca: Any, alias: str, *, crl_url: str = "", pem: Optional[bytes] = None,
                 info: Optional[bytes] = None) -> list[Member]:
    """The honest members of ``alias``'s bundle (``pem``/``info`` override those files)."""
    members: list[Member] = [
        (f"{alias}.pem", pem if pem is not None else ca.cert_pem(), None),
        (f"{alias}.info", info if info is not None else info_text(ca.cert, alias), None),
        (f"{alias}.signing_policy", b"access_id_CA X509 '" + dn_slash(ca.cert.subject).encode()
         + b"'\n", None),
    ]
    if crl_url:
        members.append((f"{alias}.crl_url", crl_url.encode() + b"\n", None))
    for h in dict.fromkeys((subject_hash(ca.cert), subject_hash_old(ca.cert))):
        members.append((f"{h}.0", None, f"{alias}.pem"))
        members.append((f"{h}.signing_policy", None, f"{alias}.signing_policy"))
    return members


def igtf_tarball(ca: Any, alias: str, *, crl_url: str = "", top: str = "",
                 extra: Sequence[Member] = (), pem: Optional[bytes] = None,
                 info: Optional[bytes] = None, drop: Sequence[str] = ()) -> bytes:
    """``ca_<alias>-1.138.tar.gz`` holding ``ca``, plus ``extra`` members, minus ``drop``."""
    members = [m for m in igtf_members(ca, alias, crl_url=crl_url, pem=pem, info=info)
               if m[0] not in drop]
    return tar_gz([*members, *extra], top or f"ca_{alias}-1.138")


def known_keys_file(path: Path, pairs: Iterable[tuple[str, Any]]) -> Path:
    """A ``--ca-fingerprints`` file listing the keys of (alias, CA entity) pairs."""
    path.write_text(json.dumps({"spki_sha256": {
        alias: [key_digest(ca.cert)] for alias, ca in pairs}}))
    return path
