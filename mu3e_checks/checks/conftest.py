"""Session fixtures shared by the check modules: each fact is computed once per run.

A fixture that cannot provide its fact skips the check and names the check that reports why,
so a deselected or failed prerequisite never turns into an error in a dependant.
"""

from __future__ import annotations

import os

import pytest

from mu3e_checks.plugin import active_run
from mu3e_checks.run import DiagnosisRun
from mu3e_checks.settings import Settings


@pytest.fixture(scope="session")
def run(request: pytest.FixtureRequest) -> DiagnosisRun:
    """The active diagnosis run (settings, environment record)."""
    current = active_run(request.config)
    if current is None:  # the modules were collected outside a diagnosis run
        pytest.skip("not a mu3e diagnosis run (run 'pytest --pyargs mu3e_checks')")
    return current


@pytest.fixture(scope="session")
def settings(run: DiagnosisRun) -> Settings:
    return run.settings


@pytest.fixture(scope="session")
def uid() -> int:
    return os.getuid()


@pytest.fixture(scope="session")
def credentials(settings: Settings, run: DiagnosisRun):
    from mu3e_checks.knowledge.credentials import locate_credentials

    creds = locate_credentials(settings.environ, settings.globus)
    run.record_environment("User certificate", f"{creds.cert} ({creds.cert_source})")
    run.record_environment("User key", f"{creds.key} ({creds.key_source})")
    return creds


class Fact:
    """A value or the user-facing reason it could not be had, computed once per session."""

    def __init__(self, value=None, error: str = "", owner: str = "") -> None:
        self.value = value
        self.error = error
        self.owner = owner

    def get(self):
        """The value, or skip the calling check naming the check that reports the problem."""
        if self.error:
            pytest.skip(f"needs {self.owner}: {self.error}")
        return self.value


@pytest.fixture(scope="session")
def user_cert_fact(credentials, run: DiagnosisRun) -> Fact:
    from mu3e_checks.knowledge.files import Unreadable, read_bytes
    from mu3e_checks.knowledge.pki import PemError, pick_user_certificate

    try:
        found = pick_user_certificate(read_bytes(credentials.cert), str(credentials.cert))
    except (Unreadable, PemError) as exc:
        return Fact(error=str(exc), owner="CERT-005")
    run.record_environment("User DN (slash form)", found.subject_slash)
    run.record_environment("User DN (RFC 2253)", found.subject_rfc2253)
    run.record_environment("User certificate issuer", found.issuer_slash)
    return Fact(found)


@pytest.fixture(scope="session")
def user_cert(user_cert_fact: Fact):
    """The parsed user certificate (:class:`UserCertFile`), or skip naming CERT-005."""
    return user_cert_fact.get()


@pytest.fixture(scope="session")
def user_key_fact(credentials, settings: Settings) -> Fact:
    from mu3e_checks.knowledge.files import Unreadable, read_bytes
    from mu3e_checks.knowledge.pki import PemError, load_private_key

    try:
        return Fact(load_private_key(read_bytes(credentials.key), settings.passphrase(),
                                     str(credentials.key)))
    except (Unreadable, PemError) as exc:
        return Fact(error=str(exc), owner="CERT-006")


@pytest.fixture(scope="session")
def trust_choice(settings: Settings, run: DiagnosisRun):
    """Which CA directory DIRAC will use (:class:`TrustDirChoice`), and why."""
    from mu3e_checks.knowledge.trust import resolve_trust_dir

    choice = resolve_trust_dir(settings.environ, settings.diracos, settings.trust_dir)
    run.record_environment("Trust dir", choice.describe())
    return choice


@pytest.fixture(scope="session")
def proxy_location(settings: Settings, uid: int, run: DiagnosisRun):
    """Which proxy file DIRAC will read (:class:`ProxyLocation`), and why."""
    from mu3e_checks.knowledge.proxy import locate_proxy

    loc = locate_proxy(settings.environ, uid, settings.proxy)
    run.record_environment("Proxy", f"{loc.path} ({loc.source}"
                           f"{'' if loc.exists else ', missing'})")
    return loc


@pytest.fixture(scope="session")
def cs_url(settings: Settings) -> str:
    """The Configuration Server URL the network checks target.

    The first URL in dirac.cfg's /DIRAC/Configuration/Servers once the DIRAC-client chapter
    can read it; until then, and when there is no cfg, the expected URL.
    """
    layered = _dirac_config_of(settings)
    if layered.found and not layered.broken and layered.servers():
        return layered.servers()[0]
    return settings.cs_url


# ---------------------------------------------------------------- DIRACOS, DIRAC and dirac.cfg

_DIRAC_FACTS: dict = {}


def _dirac_facts(settings: Settings):
    """DIRACOS tree, DIRAC installation and layered dirac.cfg, computed once per settings."""
    key = id(settings)
    if key not in _DIRAC_FACTS:
        from mu3e_checks.knowledge.dirac_cfg import load_layered
        from mu3e_checks.knowledge.diracos import find_dirac, inspect_diracos

        tree = inspect_diracos(settings.diracos, settings.diracos_source)
        install = find_dirac(tree, settings.environ, settings.home)
        layered = load_layered(settings.environ, install.python_prefix, settings.home)
        _DIRAC_FACTS[key] = (settings, tree, install, layered)  # settings kept: id stays unique
    return _DIRAC_FACTS[key][1:]


def _dirac_config_of(settings: Settings):
    return _dirac_facts(settings)[2]


@pytest.fixture(scope="session")
def diracos(settings: Settings, run: DiagnosisRun):
    """The DIRACOS prefix and what is in it (:class:`DiracosTree`)."""
    tree = _dirac_facts(settings)[0]
    run.record_environment("DIRACOS", tree.describe())
    return tree


@pytest.fixture(scope="session")
def dirac_install(settings: Settings, run: DiagnosisRun):
    """The DIRAC dists DIRAC's Python sees, first = imported (:class:`DiracInstall`)."""
    install = _dirac_facts(settings)[1]
    dist = install.in_use
    run.record_environment("DIRAC", install.where(dist) if dist else "not installed")
    return install


@pytest.fixture(scope="session")
def dirac_config(settings: Settings, run: DiagnosisRun):
    """The local dirac.cfg files, layered as DIRAC does (:class:`LayeredConfig`)."""
    layered = _dirac_config_of(settings)
    run.record_environment("DIRAC rootPath", f"{layered.root} ({layered.root_source})")
    run.record_environment("dirac.cfg files", "; ".join(str(f.path) for f in layered.found)
                           or "none")
    return layered
