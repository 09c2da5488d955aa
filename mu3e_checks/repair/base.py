"""What every repair shares: the step it plans, the context it runs in, the refusal it raises,
and where a file it replaces is kept.

Each repair module (:mod:`.modes`, :mod:`.p12`, :mod:`.crls`, :mod:`.bundles`, :mod:`.rcblock`)
has a ``plan_*`` that fills a :class:`Step` from facts read now (raising :class:`RepairError`
when the facts do not allow the repair) and an ``apply_*`` that checks those facts again and
changes only the files of that step.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from mu3e_checks import outputs
from mu3e_checks.remedy import Action, Safety
from mu3e_checks.text import visible


class RepairError(Exception):
    """A repair cannot be done safely; the message says why, and nothing was written."""


@dataclass(frozen=True)
class Options:
    """What the user asked ``fix`` for (its own flags, not the diagnosis's)."""

    yes: bool = False
    dry_run: bool = False
    unencrypted_key: bool = False
    #: accept a plain-http CA repository (a warning is printed); https is required otherwise
    allow_http: bool = False
    #: the known keys of the guide's CAs, instead of the packaged data file
    ca_fingerprints: Optional[Path] = None


@dataclass
class Step:
    """One planned repair: the finding, its action, what it will change, or why it cannot."""

    check_id: str
    title: str
    action: Optional[Action]
    safety: Safety
    changes: list[str] = field(default_factory=list)
    blocked: str = ""  # why it cannot be done by a tool ("" when it can)
    done: bool = False  # already as it should be: nothing to do
    fix: str = ""  # the printed fix, for what a person must do

    @property
    def applicable(self) -> bool:
        return self.action is not None and not self.blocked and not self.done


#: The default of ``--mu3e-timeout``: what one download may take when the option is absent or
#: not a usable number.
DEFAULT_TIMEOUT = 10.0


@dataclass
class Context:
    """What the repairs need besides their action: where home is, the pass phrase source, the
    download limits, and what the plan fixed for the apply (``planned``)."""

    home: Path
    environ: dict[str, str]
    passphrase_file: Optional[Path] = None
    offline: bool = False
    ca_repository: str = ""
    options: Options = field(default_factory=Options)
    ask: Callable[[str], bool] = lambda q: False
    prompt_secret: Callable[[str], str] = getpass.getpass
    stamp: str = field(default_factory=lambda: _dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    #: ``--mu3e-timeout``: the total time one download may take (redirects included)
    timeout: float = DEFAULT_TIMEOUT
    #: ``--mu3e-crl-warn-hours``: a CRL expiring sooner is refreshed, as CRL-003 warns
    crl_warn_hours: float = 24.0
    #: what a plan decided for its action (the CRLs to fetch), so the apply changes no more
    planned: dict[Action, Any] = field(default_factory=dict)

    @property
    def download_seconds(self) -> float:
        """One download's whole budget: ``--mu3e-timeout``, or the default when it is not a
        positive finite number (``inf`` must never mean "wait forever")."""
        t = self.timeout
        return t if isinstance(t, (int, float)) and math.isfinite(t) and t > 0 \
            else DEFAULT_TIMEOUT

    @property
    def step_seconds(self) -> float:
        """A whole download step's budget (every CRL, or every bundle): one and a half
        downloads, so a run with a slow bundle repository and slow CRL endpoints still ends
        within a minute."""
        return 1.5 * self.download_seconds


#: Where replaced trust-dir files are kept: inside the trust dir, under a name OpenSSL never
#: reads (not a hash name, and a directory).
REPLACED_DIR = ".mu3e-checks-replaced"


def backup_name(path: Path, stamp: str) -> Path:
    """``<name>.bak-<stamp>`` beside ``path`` (``-1``, ``-2``... when taken): never a CA hash
    name, never an existing file."""
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while os.path.lexists(candidate):
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    return candidate


def replaced_slot(ca_dir: Path, name: str, stamp: str) -> Path:
    """Where a replaced trust-dir file is kept: in :data:`REPLACED_DIR`, under a name OpenSSL
    never reads and that is not taken yet."""
    keep_dir = ca_dir / REPLACED_DIR
    try:
        os.mkdir(keep_dir, 0o755)
    except FileExistsError:
        pass
    return backup_name(keep_dir / name, stamp)


def create_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` new (it must not exist), ``mode`` from the first byte
    (:func:`mu3e_checks.outputs.create_new`)."""
    try:
        outputs.create_new(path, data, mode)
    except OSError as exc:
        raise RepairError(f"cannot create {visible(outputs.absolute(path))}: "
                          f"{exc.strerror or exc}") from None


def ca_dir_problem(ca_dir: Path) -> str:
    """Why CRLs or CA files cannot be written into ``ca_dir`` by us, or ''."""
    try:
        st = os.lstat(ca_dir)
    except OSError as exc:
        return f"{visible(ca_dir)} cannot be used: {exc.strerror or exc}"
    if stat.S_ISLNK(st.st_mode):
        ca_dir = Path(os.path.realpath(ca_dir))  # a site's link to its CA dir is normal
    if not os.access(ca_dir, os.W_OK | os.X_OK):
        return (f"the CA directory {visible(ca_dir)} is not writable by you (owner uid "
                f"{os.stat(ca_dir).st_uid}, mode {stat.S_IMODE(os.stat(ca_dir).st_mode):03o}): "
                "its administrator must refresh the CRLs (fetch-crl), or use your own CA "
                "directory (the guide's DIRACOS one) and export X509_CERT_DIR")
    return ""
