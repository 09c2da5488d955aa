"""Fixes for the trust store: the IGTF bundles to install, files to repair, CRLs to fetch.

The knowledge (:mod:`mu3e_checks.knowledge.trust`) judges the CA directory and returns what is
wrong as data: the CAs missing (subject DNs), a :class:`~mu3e_checks.knowledge.trust.FileRepair`
per unusable file, a :class:`~mu3e_checks.knowledge.trust.GapFinding` for a look-alike, an
:class:`~mu3e_checks.knowledge.trust.target.OwnDir` when the directory in use is not the
user's.  Here those become the commands to run, from :mod:`mu3e_checks.commands`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Optional

from mu3e_checks import commands
from mu3e_checks.knowledge.trust import (
    KNOWN_BUNDLES,
    CRLFile,
    FileRepair,
    GapFinding,
    RepairKind,
    TrustDirChoice,
    TrustStore,
    guide_bundles,
)
from mu3e_checks.knowledge.trust.igtf import with_required
from mu3e_checks.knowledge.trust.target import OwnDir, own_dir
from mu3e_checks.remedy import Remedy, join, say

#: The note of a damaged CA file's removal: the bundle brings the CA back.
_REINSTALL = "then install that CA's bundle again (see CA-004)"


def bundle_fix(ca_dir: Path, dns: Sequence[str], aliases: Mapping[str, str],
               repository: str = "") -> Remedy:
    """Install commands for the CAs named by ``dns`` (from ``repository``, the
    ``--mu3e-ca-repository``), with the bundles they require (an issuing CA alone verifies
    nothing without its root); unknown ones get a pointer to the index."""
    known = [aliases.get(dn) or KNOWN_BUNDLES.get(dn) for dn in dns]
    found = with_required(a for a in known if a)
    unknown = [commands.find_ca_bundle(dn, ca_dir, repository)
               for dn, a in zip(dns, known) if not a]
    return join(commands.install_ca_bundles(ca_dir, found, repository), *unknown)


def guide_install(ca_dir: Path, required: Sequence[str], repository: str = "") -> Remedy:
    """The guide's CA bundles (those of the required CAs) installed into ``ca_dir``."""
    return commands.install_ca_bundles(ca_dir, guide_bundles(required), repository)


def guide_install_values(ca_dir: Path, required: Sequence[str],
                         repository: str = "") -> dict:
    """The values of :func:`commands.install_ca_bundles` for :func:`guide_install`."""
    return {"ca_dir": ca_dir, "aliases": guide_bundles(required), "repository": repository}


def exported_dir_fix(own: Path, rc: Path, required: Sequence[str], repository: str = "", *,
                     has_cas: bool) -> Remedy:
    """X509_CERT_DIR names a directory DIRAC cannot use: export the DIRACOS one instead (and
    keep it in ~/.bashrc), after installing the guide's bundles into it when it is empty too."""
    export = commands.export("X509_CERT_DIR", own,
                             note="and put this line in ~/.bashrc, after 'source {rc}'", rc=rc)
    return export if has_cas else guide_install(own, required, repository) + export


def file_fix(repair: Optional[FileRepair]) -> Remedy:
    """The command that repairs one file of the CA directory."""
    if repair is None:
        return Remedy()
    if repair.kind is RepairKind.RENAME:
        assert repair.to is not None
        return commands.rename(repair.path, repair.to)
    if repair.kind is RepairKind.DER_TO_PEM:
        return commands.der_to_pem(repair.what, repair.path)
    return commands.remove(repair.path,
                           note=_REINSTALL if repair.kind is RepairKind.REINSTALL else "")


def files_fix(repairs: Iterable[Optional[FileRepair]]) -> Remedy:
    """Each file's repair, in order, each command once."""
    return join(*(file_fix(r) for r in repairs))


def crl_fix(bad: Sequence[CRLFile], ca_dir: Path) -> Remedy:
    """Unusable CRL files: DER ones converted, then fetch-crl for everything else."""
    return join(files_fix(c.repair for c in bad), commands.fetch_crl(ca_dir))


def gap_fix(store: TrustStore, finding: GapFinding, check_id: str,
            repository: str = "") -> Remedy:
    """The fix for a look-alike: the genuine bundles (from ``repository``, the
    ``--mu3e-ca-repository``), or (when the user's certificate is the one in doubt) who to ask;
    both when the directory cannot tell which."""
    steps = []
    if finding.reinstall:
        steps.append(say("install the genuine IGTF bundle of these CAs again (it replaces the "
                         "certificate of the same name):"))
        steps.append(bundle_fix(store.path, list(finding.reinstall), store.aliases,
                                repository))
    if finding.ask_issuer and finding.reinstall:
        steps.append(say("if {check} still fails afterwards, your certificate was not issued by "
                         "the real {dn}: ask the CA that issued it{to} for a certificate from "
                         "the real CA, then export it into ~/.globus again", check=check_id,
                         dn=finding.reinstall[0], to=_contact(finding)))
    elif finding.ask_issuer:
        steps.append(say("no CA bundle can fix this: ask the CA that issued your certificate"
                         "{to} whether the real CA issued it, and request a certificate from "
                         "the real CA; then export it into ~/.globus again",
                         to=_contact(finding)))
    return join(*steps)


def _contact(finding: GapFinding) -> str:
    return f" (the real CA: {finding.contact})" if finding.contact else ""


def own_dir_fix(choice: TrustDirChoice, own: Path, needed: Sequence[str],
                aliases: Mapping[str, str], *, repository: str = "", diracosrc: Path,
                crls: bool) -> Optional[Remedy]:
    """The fix that replaces one aimed at a CA directory the user cannot write, or None when
    the directory in use is writable (then the usual fix stands).

    First the export that makes ``own`` the directory in use (and the note to keep it in
    ~/.bashrc, after diracosrc, which would otherwise pick the populated system directory
    again); then the IGTF bundles of the ``needed`` CAs (subject DNs: the required ones and
    those of the user's chain) that ``own`` does not hold yet; then fetch-crl into ``own`` when
    bundles were added, its CRLs are missing, or ``crls`` (a CRL finding) asks for it.
    ``aliases`` names the bundles the directory in use holds (its IGTF ``.info`` files).
    """
    return own_dir_remedy(own_dir(choice, own, needed), aliases, repository=repository,
                          diracosrc=diracosrc, crls=crls)


def own_dir_remedy(plan: Optional[OwnDir], aliases: Mapping[str, str], *, repository: str = "",
                   diracosrc: Path, crls: bool) -> Optional[Remedy]:
    """:func:`own_dir_fix` for a plan already made (the directory is read once per run, and
    the CA and the CRL findings each word their fix from it)."""
    if plan is None:
        return None
    own = plan.own
    return join(commands.export("X509_CERT_DIR", own,
                                note="{current} is not yours to change; keep this line in "
                                     "~/.bashrc, after 'source {rc}'",
                                current=plan.current, rc=diracosrc),
                bundle_fix(own, list(plan.missing), aliases, repository)
                if plan.missing else None,
                commands.fetch_crl(own) if crls or plan.fetch else None)
