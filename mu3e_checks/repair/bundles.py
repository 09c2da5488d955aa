"""The guide's CA bundles (``INSTALL_CA_BUNDLES``): IGTF tarballs, checked before anything is
installed, since these files decide whom the user trusts.

A bundle is fetched over HTTPS (:mod:`.download`) and read as it streams in: members are
counted and capped as they arrive, and the unpacked bytes are capped too.  It is installed
only when all of these hold (:func:`check_bundle`, :func:`conflicts`):

- it holds only the requested CA's own files: ``<alias>.*``, and hash names (``<hash>.0``,
  ``<hash>.signing_policy``...) of that CA's subject hash (new or old) that link to, or are
  byte-identical copies of, the matching ``<alias>.*`` file.  A file for any other subject is
  refused and named, and the whole bundle with it;
- ``<alias>.pem`` is exactly one CA certificate, ``<hash>.0`` names its subject hash, and it is
  the certificate the bundle's own ``.info`` names (``sha1fp.0``, alias, subject DN);
- for the guide's four CAs, the DN is the one the guide means and the key is one of the known
  keys of ``mu3e_checks/data/ca-fingerprints.json`` (``--ca-fingerprints FILE`` points
  elsewhere, for a site mirror or a test): only this ties a download to the real CA, since the
  ``.info`` comes from the same tarball as the certificate;
- no CA already trusted in the directory has the same DN, or sits under a name the bundle
  would write, with another key: an existing trust anchor is never replaced by a different
  one; both fingerprints are shown.

Installing is ``tar --strip-components=1`` done one file at a time, each written new and
renamed into place, a replaced file kept in :data:`~.base.REPLACED_DIR`; if anything fails,
every file already put in place is taken back, so nothing half-installed stays.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from mu3e_checks import outputs
from mu3e_checks.remedy import Action
from mu3e_checks.repair import download
from mu3e_checks.repair.base import (
    REPLACED_DIR,
    Context,
    RepairError,
    Step,
    ca_dir_problem,
    replaced_slot,
)
from mu3e_checks.text import clip, visible

#: The largest CA tarball fetched (IGTF ones are a few kB), what it may unpack to, the largest
#: member, and the most members read before the bundle is refused.
TGZ_MAX_BYTES = 1024 * 1024
UNPACKED_MAX_BYTES = 4 * 1024 * 1024
MEMBER_MAX_BYTES = 256 * 1024
TGZ_MAX_MEMBERS = 64
_MEMBER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_HASH_NAME = re.compile(r"([0-9a-f]{8})\.([A-Za-z0-9_]+)")
_SUFFIX = re.compile(r"[A-Za-z0-9_]+")
#: Hash names a bundle never carries: a second CA slot (``.1``...) or a CRL (``.r0``...), which
#: would be installed unverified.
_NOT_IN_BUNDLES = re.compile(r"[1-9][0-9]*|r[0-9]+")
#: The packaged known keys; ``MU3E_CA_FINGERPRINTS`` or ``--ca-fingerprints`` replace it.
FINGERPRINTS_ENV = "MU3E_CA_FINGERPRINTS"


def repository(ctx: Context) -> str:
    """The base URL of the CA tarballs: ``--mu3e-ca-repository`` (whose default, in the options
    table, is the guide's EGI repository)."""
    from mu3e_checks import commands

    return commands.repository_base(ctx.ca_repository)


def cert_fingerprint(cert: Any) -> str:
    """SHA-256 of the certificate as ``openssl x509 -fingerprint -sha256`` shows it."""
    from cryptography.hazmat.primitives import hashes

    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def key_digest(cert: Any) -> str:
    """SHA-256 (hex) of the certificate's SubjectPublicKeyInfo: what the known keys list."""
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


@dataclass(frozen=True)
class KnownKeys:
    """The known keys of CA aliases (SPKI SHA-256, hex), and the file they were read from."""

    source: str
    keys: Mapping[str, frozenset[str]] = field(default_factory=dict)


def known_keys(path: Optional[Path] = None) -> KnownKeys:
    """The known keys from ``path``, or from the packaged ``data/ca-fingerprints.json``;
    :class:`RepairError` when the file cannot be used (no bundle is then installed)."""
    from mu3e_checks.knowledge.files import Unreadable, read_bytes

    try:
        if path is not None:
            source, raw = str(path), read_bytes(Path(path), limit=1024 * 1024)
        else:
            from importlib import resources

            source = "mu3e_checks/data/ca-fingerprints.json"
            raw = (resources.files("mu3e_checks") / "data" / "ca-fingerprints.json").read_bytes()
        data = json.loads(raw)
        keys = {str(alias): frozenset(str(k).lower() for k in digests)
                for alias, digests in data["spki_sha256"].items()}
    except Unreadable as exc:
        raise RepairError(f"the CA fingerprint file cannot be used: {exc}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise RepairError(f"the CA fingerprint file {visible(path or 'in the package')} is not "
                          "the expected JSON ({\"spki_sha256\": {alias: [hex, ...]}})") from None
    return KnownKeys(visible(source), keys)


@dataclass(frozen=True)
class Bundle:
    """A checked CA tarball: its files (name -> bytes) and links (name -> target), stripped
    of the top directory as ``tar --strip-components=1`` does, and its CA certificate."""

    alias: str
    files: dict[str, bytes]
    links: dict[str, str]
    cert: Any = None
    notes: tuple[str, ...] = ()


def unpack(stream: Any, alias: str) -> tuple[dict[str, bytes], dict[str, str]]:
    """The members of the gzip'd tar ``stream`` (files, links), read as they arrive: one top
    directory, plain names, files and links only, each member and the whole capped, and no
    more than :data:`TGZ_MAX_MEMBERS` members (the next one is never read)."""
    import tarfile

    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    tops: set[str] = set()
    try:
        tar = tarfile.open(fileobj=download.Gunzip(stream, UNPACKED_MAX_BYTES), mode="r|")
        for n, m in enumerate(tar, 1):
            if n > TGZ_MAX_MEMBERS:
                raise RepairError(f"more than {TGZ_MAX_MEMBERS} entries: not an IGTF CA bundle")
            parts = m.name.strip("/").split("/")
            tops.add(parts[0])
            if len(tops) > 1:
                raise RepairError("more than one top directory, where IGTF bundles have one")
            if m.isdir() and len(parts) == 1:
                continue
            if len(parts) != 2 or not _MEMBER_NAME.fullmatch(parts[1]):
                raise RepairError(f"unexpected entry {clip(m.name, 120)}")
            name = parts[1]
            if name in files or name in links:
                raise RepairError(f"{visible(name)} appears twice")
            if m.issym():
                if not _MEMBER_NAME.fullmatch(m.linkname):
                    raise RepairError(f"{visible(name)} links outside the bundle")
                links[name] = m.linkname
            elif m.isfile():
                if m.size > MEMBER_MAX_BYTES:
                    raise RepairError(f"{visible(name)} is {m.size} bytes: not an IGTF file")
                fh = tar.extractfile(m)
                files[name] = fh.read(MEMBER_MAX_BYTES + 1) if fh else b""
            else:
                raise RepairError(f"{visible(name)} is not a file or a link")
    except (tarfile.TarError, EOFError, ValueError):
        raise RepairError("not a readable .tar.gz") from None
    if not files and not links:
        raise RepairError("an empty archive")
    return files, links


def _holds(data: Optional[bytes]) -> str:
    """' (holds <DN>)' when ``data`` is a PEM certificate, else ''."""
    from cryptography import x509

    from mu3e_checks.knowledge.pki import dn_slash, pem_blocks

    for label, block in pem_blocks(data or b"")[:1]:
        if label == "CERTIFICATE":
            try:
                return f" (holds {clip(dn_slash(x509.load_pem_x509_certificate(block).subject))})"
            except ValueError:
                return " (a damaged certificate)"
    return ""


def check_members(files: dict[str, bytes], links: dict[str, str], alias: str,
                  keys: Optional[KnownKeys] = None) -> Bundle:
    """The bundle when its members are ``alias``'s own and its certificate is the one its
    ``.info`` and the known keys name (see the module's docstring); else :class:`RepairError`
    naming every file that is not the CA's own, or what does not match."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from mu3e_checks.knowledge.pki import dn_slash, is_ca, pem_blocks, same_dn
    from mu3e_checks.knowledge.trust import KNOWN_BUNDLES, parse_info, subject_hash
    from mu3e_checks.knowledge.trust.scan import subject_hash_old

    pem = files.get(f"{alias}.pem")
    if pem is None:
        raise RepairError(f"no {visible(alias)}.pem: not the bundle of {visible(alias)}")
    blocks = pem_blocks(pem)
    if len(blocks) != 1 or blocks[0][0] != "CERTIFICATE":
        raise RepairError(f"{visible(alias)}.pem holds {len(blocks)} PEM blocks, where it must "
                          "hold exactly one certificate (OpenSSL trusts every certificate in it)")
    try:
        cert = x509.load_pem_x509_certificate(blocks[0][1])
    except ValueError:
        raise RepairError(f"{visible(alias)}.pem is not a PEM certificate") from None
    subject = dn_slash(cert.subject)
    if not is_ca(cert):
        raise RepairError(f"{visible(alias)}.pem ({visible(subject)}) is not a CA certificate")
    hashes_ = (subject_hash(cert), subject_hash_old(cert))
    foreign = []
    for name in sorted(set(files) | set(links)):
        if name.startswith(f"{alias}.") and _SUFFIX.fullmatch(name[len(alias) + 1:]):
            if name in links:
                foreign.append(f"{name} (a link to {links[name]}, where the CA's own files are "
                               "plain files)")
            continue
        m = _HASH_NAME.fullmatch(name)
        if m and m.group(1) in hashes_ and not _NOT_IN_BUNDLES.fullmatch(m.group(2)):
            twin = f"{alias}.pem" if m.group(2) == "0" else f"{alias}.{m.group(2)}"
            if twin not in files:
                foreign.append(f"{name} (no {twin} it could stand for)")
            elif name in links and links[name] != twin:
                foreign.append(f"{name} (a link to {links[name]}, not to {twin})")
            elif name in files and files[name] != files[twin]:
                foreign.append(f"{name} (not the same as {twin}){_holds(files[name])}")
            continue
        target = links.get(name)
        foreign.append(f"{name}" + (f" (a link to {target})" if target else "")
                       + _holds(files.get(name) or files.get(target or "")))
    if foreign:
        shown = "; ".join(visible(f) for f in foreign[:6])
        more = f"; and {len(foreign) - 6} more" if len(foreign) > 6 else ""
        raise RepairError(f"it carries files that are not {visible(alias)}'s own ({subject}, "
                          f"subject hash {hashes_[0]}): {shown}{more}; refused whole")
    if f"{hashes_[0]}.0" not in files and f"{hashes_[0]}.0" not in links:
        raise RepairError(f"no {hashes_[0]}.0 (the subject hash name of {visible(alias)}.pem), "
                          "the name OpenSSL looks the CA up under")
    info = files.get(f"{alias}.info")
    if info is None:
        raise RepairError(f"no {visible(alias)}.info, whose sha1fp.0 names the certificate")
    parsed = parse_info(info)
    info_dn, info_alias = parsed.dn, parsed.alias
    if info_alias and info_alias != alias:
        raise RepairError(f"its .info is for {clip(info_alias)}, not {visible(alias)}")
    if info_dn and not same_dn(cert.subject, info_dn):
        raise RepairError(f"its .info names {clip(info_dn)}, but {visible(alias)}.pem holds "
                          f"{visible(subject)}")
    actual = cert.fingerprint(hashes.SHA1()).hex().upper()  # IGTF names it by SHA-1
    if not parsed.fingerprints:
        raise RepairError(f"its .info has no sha1fp.0 to check {visible(alias)}.pem against")
    if actual not in parsed.fingerprints:
        named = ", ".join(sorted(parsed.fingerprints))
        raise RepairError(f"{visible(alias)}.pem is not the certificate its .info names "
                          f"(sha1fp {clip(named, 60)}, the certificate's {actual})")
    wanted = {a: dn for dn, a in KNOWN_BUNDLES.items()}.get(alias)
    if wanted and not same_dn(cert.subject, wanted):
        raise RepairError(f"it holds another CA ({visible(subject)}), not {visible(wanted)}")
    keys = keys if keys is not None else known_keys()
    pinned = keys.keys.get(alias)
    digest = key_digest(cert)
    if pinned is not None and digest not in pinned:
        raise RepairError(f"its key (SPKI SHA-256 {digest}) is not a known key of "
                          f"{visible(alias)} ({keys.source}): a look-alike of the CA, or the "
                          "CA has a new key (then update that file, or point --ca-fingerprints "
                          "at one that lists it)")
    notes = () if pinned is not None else (
        f"no known key for {visible(alias)} in {keys.source}: checked against its own .info "
        "only",)
    return Bundle(alias, files, links, cert, notes)


def read_bundle(stream: Any, alias: str, keys: Optional[KnownKeys] = None) -> Bundle:
    """:func:`unpack` then :func:`check_members`."""
    files, links = unpack(stream, alias)
    return check_members(files, links, alias, keys)


def check_bundle(data: bytes, alias: str, keys: Optional[KnownKeys] = None) -> Bundle:
    """:func:`read_bundle` for a tarball already in memory."""
    return read_bundle(io.BytesIO(data), alias, keys)


def conflicts(bundle: Bundle, ca_dir: Path) -> None:
    """:class:`RepairError` when installing ``bundle`` would replace a trust anchor of
    ``ca_dir`` with another key: a CA of the same DN, or a certificate under a name the bundle
    writes.  Both fingerprints are shown."""
    from mu3e_checks.knowledge.files import Unreadable, read_bytes
    from mu3e_checks.knowledge.pki import PemError, dn_slash, load_certificates
    from mu3e_checks.knowledge.trust.scan import scan_trust_dir

    if not os.path.isdir(ca_dir):
        return
    mine = key_digest(bundle.cert)
    ours = f"the bundle's has SHA-256 {cert_fingerprint(bundle.cert)}"
    store = scan_trust_dir(ca_dir)
    for ca in store.with_subject(dn_slash(bundle.cert.subject)):
        if key_digest(ca.cert) != mine:
            raise RepairError(
                f"{visible(ca.subject)} is already trusted in {visible(ca_dir)} with another key "
                f"({', '.join(ca.names)}: SHA-256 {cert_fingerprint(ca.cert)}; {ours}): an "
                "installed CA is never replaced by a different one; if the CA really changed "
                "its key, replace it by hand")
    for name in sorted(set(bundle.files) | set(bundle.links)):
        path = ca_dir / name
        if not os.path.lexists(path):
            continue
        try:
            certs = load_certificates(read_bytes(path, limit=MEMBER_MAX_BYTES), name)
        except (Unreadable, PemError):
            continue  # not a certificate (an .info, a policy): replaced, the old one kept
        for cert in certs:
            if key_digest(cert) != mine:
                raise RepairError(
                    f"{visible(name)} in {visible(ca_dir)} holds {visible(dn_slash(cert.subject))} "
                    f"(SHA-256 {cert_fingerprint(cert)}; {ours}): an installed certificate is "
                    "never replaced by one with another key; move it away by hand if it is "
                    "really wrong")


class Installer:
    """Puts checked bundles into a CA directory, remembering each change so that a failure
    part-way can take every one of them back (:meth:`rollback`)."""

    def __init__(self, ca_dir: Path, stamp: str) -> None:
        self.ca_dir, self.stamp = ca_dir, stamp
        self._done: list[tuple[str, Optional[Path]]] = []  # (name, where the old one went)

    def _keep(self, name: str, log: list[str]) -> Optional[Path]:
        """Hard-link the existing ``name`` into :data:`REPLACED_DIR` (the name stays in place
        until the new file is renamed over it)."""
        if not os.path.lexists(self.ca_dir / name):
            return None
        backup = replaced_slot(self.ca_dir, name, self.stamp)
        os.link(self.ca_dir / name, backup, follow_symlinks=False)
        log.append(f"kept the old {visible(name)} as {REPLACED_DIR}/{visible(backup.name)}")
        return backup

    def _same_file(self, name: str, data: bytes) -> bool:
        from mu3e_checks.knowledge.files import Unreadable, read_bytes

        path = self.ca_dir / name
        if os.path.islink(path) or not os.path.isfile(path):
            return False
        try:
            return read_bytes(path, limit=MEMBER_MAX_BYTES, follow=False) == data
        except Unreadable:
            return False

    def install(self, bundle: Bundle) -> list[str]:
        """The bundle's files, then its links; an identical file or link is left alone (as
        is a plain copy where the bundle has a link to the same bytes)."""
        log: list[str] = []
        for name, data in sorted(bundle.files.items()):
            if self._same_file(name, data):
                continue
            backup = self._keep(name, log)
            self._done.append((name, backup))
            outputs.write_file(self.ca_dir / name, data, 0o644)
            log.append(f"installed {visible(name)}")
        for name, link in sorted(bundle.links.items()):
            path = self.ca_dir / name
            if os.path.islink(path) and os.readlink(path) == link:
                continue
            if self._same_file(name, bundle.files[link]):
                continue
            tmp = self.ca_dir / f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            os.symlink(link, tmp)
            try:
                backup = self._keep(name, log)
                self._done.append((name, backup))
                os.replace(tmp, path)
            finally:
                if os.path.lexists(tmp):
                    os.unlink(tmp)
            log.append(f"linked {visible(name)} -> {visible(link)}")
        return log

    def rollback(self) -> None:
        """Take back every change, newest first: the old file back, or the new one removed."""
        for name, backup in reversed(self._done):
            try:
                if backup is not None:
                    os.replace(backup, self.ca_dir / name)
                elif os.path.lexists(self.ca_dir / name):
                    os.unlink(self.ca_dir / name)
            except OSError:
                pass
        self._done.clear()


def install_bundle(bundle: Bundle, ca_dir: Path, stamp: str) -> list[str]:
    """Put one checked bundle into ``ca_dir``, all or nothing (:class:`Installer`)."""
    outputs.ensure_directory(ca_dir)
    installer = Installer(ca_dir, stamp)
    try:
        return installer.install(bundle)
    except (OSError, outputs.OutputError) as exc:
        installer.rollback()
        raise RepairError(f"{visible(getattr(exc, 'strerror', '') or exc)}; every file put "
                          "in place was taken back") from None


def _keys_for(ctx: Context) -> KnownKeys:
    path = ctx.options.ca_fingerprints or ctx.environ.get(FINGERPRINTS_ENV) or None
    return known_keys(Path(path) if path else None)


def _aliases(action: Action) -> Sequence[str]:
    return tuple(action.param("aliases") or ())


def http_warning(base: str) -> str:
    return (f"WARNING: the CA repository {visible(base)} is plain http "
            "(--allow-http-repository): anyone on the way can change what arrives; each "
            "bundle is still checked, but only the known keys tie it to the real CA")


def plan_bundles(step: Step, action: Action, ctx: Context) -> None:
    from mu3e_checks import commands

    ca_dir = Path(action.param("ca_dir"))
    if ctx.offline:
        raise RepairError("--mu3e-offline: the CA bundle downloads are skipped")
    if os.path.lexists(ca_dir):
        problem = ca_dir_problem(ca_dir)
        if problem:
            raise RepairError(problem)
    base = repository(ctx)
    for alias in _aliases(action):
        if not _MEMBER_NAME.fullmatch(alias):  # it may come from a .info file in the CA dir
            raise RepairError(f"{clip(alias)} is not an IGTF bundle name")
        download.check_url(base + commands.tarball(alias), https_only=not ctx.options.allow_http)
    keys = _keys_for(ctx)
    if base.startswith("http://"):
        step.changes.append(http_warning(base))
    for alias in _aliases(action):
        how = ("its key one of the known keys" if alias in keys.keys
               else "its certificate the one its .info names")
        step.changes.append(f"fetch {visible(base + commands.tarball(alias))}, check it holds "
                            f"only the CA {visible(alias)}'s own files ({how}), install them "
                            f"into {visible(ca_dir)}")


def apply_bundles(action: Action, ctx: Context) -> list[str]:
    """Fetch and check every bundle first; then install them all, or none."""
    from mu3e_checks import commands

    ca_dir = Path(action.param("ca_dir"))
    base = repository(ctx)
    keys = _keys_for(ctx)
    step = download.Deadline(ctx.step_seconds)
    checked = []
    for alias in _aliases(action):
        url = base + commands.tarball(alias)
        try:
            with download.opened(url, deadline=download.Deadline(ctx.download_seconds, step),
                                 max_bytes=TGZ_MAX_BYTES, https_only=not ctx.options.allow_http,
                                 environ=ctx.environ) as body:
                bundle = read_bundle(body, alias, keys)
            conflicts(bundle, ca_dir)
            checked.append(bundle)
        except RepairError as exc:
            raise RepairError(f"{visible(url)}: {exc}; nothing installed") from None
    log = [http_warning(base)] if base.startswith("http://") else []
    outputs.ensure_directory(ca_dir)
    installer = Installer(ca_dir, ctx.stamp)
    changed = []
    try:
        for bundle in checked:
            lines = installer.install(bundle)
            changed += [f"{bundle.alias}: {ln}" for ln in (*bundle.notes, *lines)]
    except (OSError, outputs.OutputError) as exc:
        installer.rollback()
        raise RepairError(f"{visible(getattr(exc, 'strerror', '') or exc)}; every file put in "
                          "place was taken back, nothing installed") from None
    return log + (changed or ["the bundles were already installed, unchanged"])
