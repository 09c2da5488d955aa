"""``mu3e-checks fix``: apply the fixes a tool can prove safe, then run the diagnosis again.

The diagnosis never writes a user's file; this package is the one place that does, and only for
remedies that carry a machine-applicable :class:`~mu3e_checks.remedy.Action`.  Every repair is
planned first from facts read now (mode, owner, link or not, which CRLs are out of date),
shown to the user, confirmed once (a shell start-up file gets its own yes), checked again just
before it is written, changes only the files of its own step, and is logged in the final
diagnosis's reports (the "Repairs applied" section, the JSON ``repairs``).  Nothing is deleted:
a replaced file is kept beside the new one (``<name>.bak-<time>``) or, in a CA directory, in
``.mu3e-checks-replaced/``; files are created ``O_EXCL|O_NOFOLLOW`` (through
:mod:`mu3e_checks.outputs`), a key with mode 600 from the start, and no key material is ever
printed.

One module per repair, each with its plan and apply: :mod:`.modes` (``CHMOD``), :mod:`.p12`
(``PKCS12_EXTRACT``), :mod:`.crls` (``FETCH_CRLS``), :mod:`.bundles` (``INSTALL_CA_BUNDLES``)
and :mod:`.rcblock` (``EXPORT_CERT_DIR``); :mod:`.download` holds the transport rules every
download follows (HTTPS for bundles, no scheme-changing or host-leaving redirect, a total
deadline, size and member caps while streaming); :mod:`.plan` builds, shows and applies the
plan; :mod:`.session` runs ``fix`` (rounds, the affected checks through the registry's graph,
the final diagnosis).  The names below are the package's public face.
"""

from __future__ import annotations

from mu3e_checks.repair.base import (
    REPLACED_DIR,
    Context,
    Options,
    RepairError,
    Step,
    ca_dir_problem,
)
from mu3e_checks.repair.bundles import (
    Bundle,
    KnownKeys,
    apply_bundles,
    check_bundle,
    conflicts,
    install_bundle,
    known_keys,
    plan_bundles,
    repository,
)
from mu3e_checks.repair.crls import apply_crls, plan_crls, refresh_crls, verify_crl
from mu3e_checks.repair.download import DownloadError
from mu3e_checks.repair.modes import apply_chmod, plan_chmod
from mu3e_checks.repair.p12 import apply_pkcs12, load_pkcs12, plan_pkcs12
from mu3e_checks.repair.plan import apply_plan, build_plan, render_plan, safety_of
from mu3e_checks.repair.rcblock import (
    BLOCK_BEGIN,
    BLOCK_END,
    apply_export,
    place_block,
    plan_export,
    rc_file,
    with_block,
)
from mu3e_checks.repair.session import (
    USAGE,
    _Catch,
    affected,
    before_after,
    diagnose,
    main,
    merged,
    parse,
    repair_lines,
    rerun_args,
)

__all__ = [
    "BLOCK_BEGIN", "BLOCK_END", "REPLACED_DIR", "USAGE", "Bundle", "Context", "DownloadError",
    "KnownKeys", "Options", "RepairError", "Step", "_Catch", "affected", "apply_bundles",
    "apply_chmod", "apply_crls", "apply_export", "apply_pkcs12", "apply_plan", "before_after",
    "build_plan", "ca_dir_problem", "check_bundle", "conflicts", "diagnose", "install_bundle",
    "known_keys", "load_pkcs12", "main", "merged", "parse", "place_block", "plan_bundles",
    "plan_chmod", "plan_crls", "plan_export", "plan_pkcs12", "rc_file", "refresh_crls",
    "render_plan", "repair_lines", "repository", "rerun_args", "safety_of", "verify_crl",
    "with_block",
]
