"""Session fixtures shared by the check modules: each fact is computed once per run.

A fixture that cannot provide its fact skips the check and names the check that reports why,
so a deselected or failed prerequisite never turns into an error in a dependant.
PYTEST_DONT_REWRITE: fixtures here never assert, so pytest need not rewrite this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import pytest

from mu3e_checks.checks.owners import (
    PROXY_FILE_OWNER,
    PROXY_OWNER,
    TRUST_STORE_OWNER,
    USER_CERT_OWNER,
    USER_KEY_OWNER,
)
from mu3e_checks.outcome import skip_for
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
            skip_for(self.owner, self.error)
        return self.value


@pytest.fixture(scope="session")
def user_cert_fact(credentials, run: DiagnosisRun) -> Fact:
    from mu3e_checks.knowledge.files import Unreadable, read_bytes
    from mu3e_checks.knowledge.pki import PemError, pick_user_certificate

    try:
        found = pick_user_certificate(read_bytes(credentials.cert), str(credentials.cert))
    except (Unreadable, PemError) as exc:
        return Fact(error=str(exc), owner=USER_CERT_OWNER)
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
        return Fact(error=str(exc), owner=USER_KEY_OWNER)


@pytest.fixture(scope="session")
def trust_choice(settings: Settings, run: DiagnosisRun, system_cert_dir):
    """Which CA directory DIRAC will use (:class:`TrustDirChoice`), and why."""
    from mu3e_checks.knowledge.trust import resolve_trust_dir

    choice = resolve_trust_dir(settings.environ, settings.diracos, settings.trust_dir,
                               system_cert_dir)
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
def cs_url(settings: Settings, dirac_config) -> str:
    """The Configuration Server URL the network checks target (dirac.cfg's, else expected)."""
    from mu3e_checks.knowledge.dirac_cfg import target_cs_url

    return target_cs_url(dirac_config, settings.cs_url)


@pytest.fixture(scope="session")
def proxy_fact(proxy_location, run: DiagnosisRun) -> Fact:
    """The parsed proxy file (:class:`ProxyFile`: certificate, key, chain, format, policy,
    DIRACX flag), or the reason it could not be read, owned by PROXY-001/PROXY-003.

    The network checks use ``proxy_fact.get().path`` for TLS client authentication.
    """
    from mu3e_checks.knowledge.files import Unreadable
    from mu3e_checks.knowledge.pki import PemError
    from mu3e_checks.knowledge.proxy import read_proxy, summarize_proxy

    if not proxy_location.exists:
        return Fact(error=f"there is no proxy file at {proxy_location.path}",
                    owner=PROXY_FILE_OWNER)
    try:
        found = read_proxy(proxy_location.path)
    except (Unreadable, PemError) as exc:
        return Fact(error=str(exc), owner=PROXY_OWNER)
    run.record_environment("Proxy identity", found.identity_dn)
    run.record_environment("Proxy summary", summarize_proxy(found.certs))
    return Fact(found)


@pytest.fixture(scope="session")
def system_cert_dir(settings: Settings):
    """The host CA directory diracosrc looks at (``--mu3e-system-cert-dir``; tests use tmp)."""
    from mu3e_checks.knowledge.trust import SYSTEM_CERT_DIR

    return settings.system_cert_dir or SYSTEM_CERT_DIR


@pytest.fixture(scope="session")
def trust_store(trust_choice, run: DiagnosisRun) -> Fact:
    """The CA directory read once per session (:class:`TrustStore`), or why it is unusable."""
    from mu3e_checks.knowledge.trust import ca_dir_problem, scan_trust_dir

    problem = ca_dir_problem(trust_choice)
    if problem:
        return Fact(error=problem, owner=TRUST_STORE_OWNER)
    store = scan_trust_dir(trust_choice.path)
    run.record_environment("CA certificates", f"{len(store.cas)} CAs, {len(store.crls)} CRL "
                           "files")
    return Fact(store)


@pytest.fixture(scope="session")
def own_ca_dir_fix(settings: Settings, trust_choice, trust_store: Fact, user_cert_fact: Fact):
    """``fix(crls=False)``: when the CA directory in use is not the user's to write (a host's
    populated /etc/grid-security/certificates), the fix that moves the user to the DIRACOS one
    and fills it (knowledge/trust/target.py); None when the usual fix can write where it aims.
    Computed at most once per kind per run."""
    from mu3e_checks.knowledge.pki import same_dn
    from mu3e_checks.knowledge.trust import CERN_GRID_CA, UserChain, diracos_cert_dir, user_chain
    from mu3e_checks.knowledge.trust.target import needed_dns, own_dir_fix

    store = trust_store.value
    found = user_cert_fact.value
    cert = found.cert if found is not None else None
    if store is not None:
        chain = user_chain(store, cert)
    else:
        chain = UserChain(missing_dn=found.issuer_slash if found is not None else None,
                          cern=cert is not None and same_dn(cert.issuer, CERN_GRID_CA))
    done: dict[bool, object] = {}

    def fix(crls: bool = False):
        if crls not in done:
            done[crls] = own_dir_fix(
                trust_choice, diracos_cert_dir(settings.diracos),
                needed_dns(settings.required_cas, chain), store.aliases if store else {},
                repository=settings.ca_repository, diracosrc=settings.diracos / "diracosrc",
                crls=crls)
        return done[crls]

    return fix


@pytest.fixture(scope="session")
def user_ca_chain(trust_store: Fact, user_cert_fact: Fact):
    """The CAs above the user's certificate found in the trust dir (empty without a cert)."""
    from mu3e_checks.knowledge.trust import user_chain

    found = user_cert_fact.value
    return user_chain(trust_store.get(), found.cert if found is not None else None)


@pytest.fixture(scope="session")
def cs_servers(cs_url: str, dirac_config) -> list[str]:
    """The Configuration Servers to survey: dirac.cfg's /DIRAC/Configuration/Servers, in its
    order, with the URL the main checks target first when dirac.cfg does not name it."""
    from mu3e_checks.knowledge.dirac_cfg import configured_cs_url

    listed = dirac_config.servers() if configured_cs_url(dirac_config) else []
    return list(dict.fromkeys([cs_url, *listed]))


@dataclass(frozen=True)
class NetReach:
    """How every network check reaches a server: the resolver, the CAs the handshake trusts
    (as PEM text), and the advice its fixes are written with; worked out once per run."""

    nameserver: Optional[object]
    nameserver_problem: str
    cadata: Optional[str]
    advice: object


@pytest.fixture(scope="session")
def net_reach(settings: Settings, trust_choice, trust_store, run: DiagnosisRun) -> NetReach:
    """``--mu3e-nameserver`` parsed (and recorded), the trust dir's CAs as PEM, the advice:
    shared by the Configuration Server and VOMS surveys."""
    from mu3e_checks.knowledge.net import Advice, UrlError
    from mu3e_checks.knowledge.net.dns import parse_nameserver

    raw = settings.nameserver
    nameserver, problem = None, ""
    try:
        nameserver = parse_nameserver(raw) if raw else None
    except UrlError as exc:
        problem = f"--mu3e-nameserver: {exc}"
    if nameserver is not None:
        run.record_environment("Nameserver", f"{nameserver} (--mu3e-nameserver)")
    return NetReach(nameserver, problem, _ca_pem(trust_store.value),
                    Advice.from_settings(settings, trust_choice.path))


@pytest.fixture(scope="session")
def cs_survey(cs_servers: list[str], settings: Settings, trust_choice, proxy_location,
              net_reach: NetReach):
    """Every server in ``cs_servers`` probed concurrently (:class:`ServerSurvey`), started
    when first asked for, so N dead servers cost about one timeout.

    Names go through --mu3e-nameserver when it is set (after /etc/hosts), else the system's
    resolver configuration; TLS presents only the proxy, and verifies against the trust dir.
    """
    from mu3e_checks.knowledge.net.probe import CsProbe
    from mu3e_checks.knowledge.net.servers import ServerSurvey

    def make(url: str) -> CsProbe:
        return CsProbe(url, timeout=settings.timeout, capath=trust_choice.path,
                       proxy=proxy_location.path if proxy_location.exists else None,
                       nameserver=net_reach.nameserver,
                       nameserver_problem=net_reach.nameserver_problem,
                       setup=settings.setup, cadata=net_reach.cadata)

    return ServerSurvey(cs_servers, make, net_reach.advice)


@pytest.fixture(scope="session")
def cs_probe(cs_url: str, cs_survey):
    """The Configuration Server probed layer by layer (:class:`CsProbe`), each layer once.

    It is the survey's probe of the same URL: the other listed servers are probed meanwhile,
    in the background, and this one is never probed twice.
    """
    return cs_survey.probe_for(cs_url)


@dataclass
class CsData:
    """The CS's own configuration as getCompressedData gave it, held in memory only: ``cfg``
    and ``registry``, or the refusal (``error``, a DisetError) or the unreadable answer
    (``problem``) that stands instead."""

    cfg: object = None
    registry: object = None
    error: object = None
    problem: str = ""
    size: int = 0


@pytest.fixture(scope="session")
def cs_data(cs_probe, run: DiagnosisRun) -> CsData:
    """The Configuration Server's whole configuration, fetched as DIRAC's client fetches it
    (DISET getCompressedData, the proxy as TLS client credential), parsed with diraccfg."""
    from mu3e_checks.knowledge.net import registry

    call = cs_probe.call(registry.METHOD, limit=registry.MAX_COMPRESSED)
    if call.failure is not None:
        return CsData(problem=f"the server rejected the connection: {call.failure.detail}")
    if call.error is not None:
        return CsData(error=call.error)
    value = call.value
    size = len(value) if isinstance(value, (str, bytes)) else 0
    try:
        cfg = registry.parse_cs_data(value)
    except registry.CsDataError as exc:
        return CsData(problem=str(exc), size=size)
    found = registry.read_registry(cfg)
    run.record_environment("CS data", f"{size} bytes compressed; /Registry: "
                           f"{len(found.users)} users, {len(found.groups)} groups, "
                           f"{len(found.vos)} VOs")
    return CsData(cfg=cfg, registry=found, size=size)


def _ca_pem(store) -> Optional[str]:
    """The CA certificates OpenSSL would find in the scanned trust dir, as PEM text."""
    if store is None:
        return None
    from cryptography.hazmat.primitives.serialization import Encoding

    from mu3e_checks.knowledge.trust import openssl_view

    certs, _ = openssl_view(store)
    return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certs)

# ---------------------------------------------------------------- DIRACOS, DIRAC and dirac.cfg

@pytest.fixture(scope="session")
def dirac_facts(settings: Settings):
    """DIRACOS tree, DIRAC installation and layered dirac.cfg, computed once per session."""
    from mu3e_checks.knowledge.dirac_cfg import load_layered
    from mu3e_checks.knowledge.diracos import find_dirac, inspect_diracos

    tree = inspect_diracos(settings.diracos, settings.diracos_source)
    install = find_dirac(tree, settings.environ, settings.home)
    return tree, install, load_layered(settings.environ, install.python_prefix, settings.home)


@pytest.fixture(scope="session")
def diracos(dirac_facts, run: DiagnosisRun):
    """The DIRACOS prefix and what is in it (:class:`DiracosTree`)."""
    tree = dirac_facts[0]
    run.record_environment("DIRACOS version", tree.describe())
    return tree


@pytest.fixture(scope="session")
def dirac_install(dirac_facts, run: DiagnosisRun):
    """The DIRAC dists DIRAC's Python sees, first = imported (:class:`DiracInstall`)."""
    install = dirac_facts[1]
    dist = install.in_use
    run.record_environment("DIRAC version", install.where(dist) if dist else "not installed")
    return install


@pytest.fixture(scope="session")
def dirac_config(dirac_facts, settings: Settings, run: DiagnosisRun):
    """The local dirac.cfg files, layered as DIRAC does (:class:`LayeredConfig`)."""
    from mu3e_checks.knowledge.dirac_cfg import configured_cs_url

    layered = dirac_facts[2]
    url = configured_cs_url(layered)
    run.record_environment("CS URL", f"{url} (from dirac.cfg)" if url
                           else f"{settings.cs_url} (expected; no dirac.cfg names one)")
    run.record_environment("DIRAC rootPath", f"{layered.root} ({layered.root_source})")
    run.record_environment("dirac.cfg", "; ".join(str(f.path) for f in layered.found)
                           or "none found")
    return layered


# ---------------------------------------------------------------- the VO's VOMS servers

@dataclass
class VomsSurvey:
    """The VO's VOMS servers from the vomses in use, each probed (DNS, TCP, TLS) once per run:
    ``verdicts`` in vomses order, or ``problem`` saying why there is nothing to probe."""

    vomses: object = None  # the vomses location read (Path), None when there is none
    vomsdir: object = None  # the vomsdir whose <vo>/<host>.lsc files were read
    verdicts: list = None  # type: ignore[assignment]
    skipped: list = None  # type: ignore[assignment]
    problem: str = ""


@pytest.fixture(scope="session")
def voms_survey(request: pytest.FixtureRequest, settings: Settings, diracos, trust_choice,
                proxy_location, net_reach: NetReach, run: DiagnosisRun) -> VomsSurvey:
    """Every VOMS server of --mu3e-vo that the vomses in use names, probed concurrently, so N
    dead servers cost about one timeout.  vomses and vomsdir are found as DIRAC finds them
    ($X509_VOMSES / $X509_VOMS_DIR, else DIRACOS's etc/grid-security); names go through
    --mu3e-nameserver when set; TLS presents only the proxy and verifies against the trust dir.

    When this run has already read the Configuration Server's data (NET-009 passed), the VO's
    VOMSServers listed there are probed too; the CS is never contacted for this alone.
    """
    from mu3e_checks.knowledge import voms_env
    from mu3e_checks.knowledge.net import voms as net_voms
    from mu3e_checks.knowledge.net.tls import proxy_credential

    def located(var: str, leaf: str):
        path, default, missing = voms_env.location(settings.environ, var, diracos.prefix, leaf)
        if not missing:
            return path, ""
        if os.path.exists(default):  # DIRAC falls back to its own etc/grid-security
            return default, ""
        return None, missing

    vomses, missing = located("X509_VOMSES", "vomses")
    vomsdir, _ = located("X509_VOMS_DIR", "vomsdir")
    entries = voms_env.read_vomses(vomses)[0] if vomses is not None else []
    found = net_voms.targets(entries, settings.vo, vomsdir, _cs_voms_servers(request, run,
                                                                             settings, entries))
    if not found:
        return VomsSurvey(vomses=vomses, vomsdir=vomsdir,
                          problem=missing or f"{vomses} has no line for {settings.vo}")
    probe = net_voms.Probe(
        timeout=settings.timeout, capath=trust_choice.path,
        credential=proxy_credential(proxy_location.path if proxy_location.exists else None),
        cadata=net_reach.cadata, nameserver=net_reach.nameserver,
        nameserver_problem=net_reach.nameserver_problem, advice=net_reach.advice)
    verdicts, skipped = net_voms.survey(found, probe)
    for v in verdicts:
        run.record_environment(f"VOMS {v.target.name}", v.line())
    return VomsSurvey(vomses=vomses, vomsdir=vomsdir, verdicts=verdicts, skipped=skipped)


def _cs_voms_servers(request: pytest.FixtureRequest, run: DiagnosisRun, settings: Settings,
                     entries: list) -> list[tuple[str, str, str]]:
    """``(host, port, DN)`` of the VO's VOMS servers in the CS data this run already read."""
    from mu3e_checks.knowledge.net import registry

    done = run.results.get("NET-009")
    if done is None or not done.ok:
        return []
    data = request.getfixturevalue("cs_data")  # cached: NET-009 computed it
    if data.registry is None:
        return []
    view = registry.voms_view(data.registry, settings.group, settings.vo, entries)
    return [(s.host, s.port, s.dn) for s in view.servers]
