"""Session fixtures shared by the check modules: each fact is computed once per run.

A fixture that cannot provide its fact skips the check and names the check that reports why,
so a deselected or failed prerequisite never turns into an error in a dependant.
PYTEST_DONT_REWRITE: fixtures here never assert, so pytest need not rewrite this module.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Optional

import pytest

from mu3e_checks import facts
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
    run.record(credentials=facts.Credentials(facts.Located(creds.cert, creds.cert_source),
                                             facts.Located(creds.key, creds.key_source)))
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
        run.record(user_cert_problem=str(exc))
        return Fact(error=str(exc), owner=USER_CERT_OWNER)
    run.record(user_cert=facts.UserCertificate(found.subject_slash, found.subject_rfc2253,
                                               found.issuer_slash))
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
def trust_choice(settings: Settings, run: DiagnosisRun, system_cert_dir, dirac_facts):
    """Which CA directory DIRAC will use (:class:`TrustDirChoice`), and why (its rootPath
    fallback is that of the Python that runs DIRAC)."""
    from mu3e_checks.knowledge.dirac_cfg import computed_root
    from mu3e_checks.knowledge.trust import resolve_trust_dir

    choice = resolve_trust_dir(settings.environ, settings.diracos, settings.trust_dir,
                               system_cert_dir, root=computed_root(dirac_facts[1].python_prefix))
    run.record(trust_dir=facts.Located(choice.path, choice.why))
    return choice


@pytest.fixture(scope="session")
def proxy_location(settings: Settings, uid: int, run: DiagnosisRun):
    """Which proxy file DIRAC will read (:class:`ProxyLocation`), and why."""
    from mu3e_checks.knowledge.proxy import locate_proxy

    loc = locate_proxy(settings.environ, uid, settings.proxy)
    run.record(proxy=facts.Proxy(facts.Located(loc.path, loc.source, loc.exists)))
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
    from mu3e_checks.environment import chain_of
    from mu3e_checks.knowledge.files import Unreadable
    from mu3e_checks.knowledge.pki import PemError
    from mu3e_checks.knowledge.proxy import read_proxy

    if not proxy_location.exists:
        return Fact(error=f"there is no proxy file at {proxy_location.path}",
                    owner=PROXY_FILE_OWNER)
    located = facts.Located(proxy_location.path, proxy_location.source, True)
    try:
        found = read_proxy(proxy_location.path)
    except (Unreadable, PemError) as exc:
        run.record(proxy=facts.Proxy(located, problem=str(exc)))
        return Fact(error=str(exc), owner=PROXY_OWNER)
    run.record(proxy=facts.Proxy(located, chain_of(found.certs)))
    return Fact(found)


@pytest.fixture(scope="session")
def system_cert_dir(settings: Settings):
    """The host CA directory diracosrc looks at (``--mu3e-system-cert-dir``; tests use tmp)."""
    return settings.system_cert_dir


@pytest.fixture(scope="session")
def trust_store(trust_choice, run: DiagnosisRun) -> Fact:
    """The CA directory read once per session (:class:`TrustStore`), or why it is unusable."""
    from mu3e_checks.knowledge.trust import ca_dir_problem, scan_trust_dir

    problem = ca_dir_problem(trust_choice)
    if problem:
        return Fact(error=problem, owner=TRUST_STORE_OWNER)
    store = scan_trust_dir(trust_choice.path)
    run.record(trust_store=facts.TrustStore(len(store.cas), len(store.crls)))
    return Fact(store)


@pytest.fixture(scope="session")
def own_ca_dir_fix(settings: Settings, trust_choice, trust_store: Fact, user_cert_fact: Fact):
    """``fix(crls=False)``: when the CA directory in use is not the user's to write (a host's
    populated /etc/grid-security/certificates), the fix that moves the user to the DIRACOS one
    and fills it (advice/trust.py); None when the usual fix can write where it aims.
    Computed at most once per kind per run."""
    from mu3e_checks.advice.trust import own_dir_remedy
    from mu3e_checks.knowledge.pki import same_dn
    from mu3e_checks.knowledge.trust import CERN_GRID_CA, UserChain, diracos_cert_dir, user_chain
    from mu3e_checks.knowledge.trust.target import needed_dns, own_dir

    store = trust_store.value
    found = user_cert_fact.value
    cert = found.cert if found is not None else None
    if store is not None:
        chain = user_chain(store, cert)
    else:
        chain = UserChain(missing_dn=found.issuer_slash if found is not None else None,
                          cern=cert is not None and same_dn(cert.issuer, CERN_GRID_CA))
    @functools.cache
    def plan():  # the user's own directory is read once, for both kinds of fix
        return own_dir(trust_choice, diracos_cert_dir(settings.diracos),
                       needed_dns(settings.required_cas, chain))

    @functools.cache
    def fix(crls: bool = False):
        return own_dir_remedy(plan(), store.aliases if store else {},
                              repository=settings.ca_repository,
                              diracosrc=settings.diracos / "diracosrc", crls=crls)

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
    from mu3e_checks.advice.net import Advice
    from mu3e_checks.knowledge.net import UrlError
    from mu3e_checks.knowledge.net.dns import parse_nameserver

    raw = settings.nameserver
    nameserver, problem = None, ""
    try:
        nameserver = parse_nameserver(raw) if raw else None
    except UrlError as exc:
        problem = f"--mu3e-nameserver: {exc}"
    if nameserver is not None:
        run.record(nameserver=str(nameserver))
    return NetReach(nameserver, problem, _ca_pem(trust_store.value),
                    Advice.from_settings(settings, trust_choice.path))


def _client_proxy(settings: Settings, proxy_location):
    """The proxy a handshake presents: the one DIRAC would read, but none in a site run (a
    proxy lying around a site image is nobody's credential the site provides)."""
    from mu3e_checks.profile import uses_credentials

    if proxy_location.exists and uses_credentials(settings.profile):
        return proxy_location.path
    return None


@pytest.fixture(scope="session")
def cs_survey(cs_servers: list[str], settings: Settings, trust_choice, proxy_location,
              net_reach: NetReach, dirac_config):
    """Every server in ``cs_servers`` probed concurrently (:class:`ServerSurvey`), started
    when first asked for, so N dead servers cost about one timeout.

    Names go through --mu3e-nameserver when it is set (after /etc/hosts), else the system's
    resolver configuration; TLS presents only the proxy, and verifies against the trust dir.
    """
    from mu3e_checks.knowledge.net.diset import NO_VO
    from mu3e_checks.knowledge.net.probe import CsProbe
    from mu3e_checks.knowledge.net.servers import ServerSurvey

    # The setup and VO the user's DIRAC client names in its requests.
    vo = dirac_config.get("/DIRAC/VirtualOrganization") or NO_VO

    def make(url: str) -> CsProbe:
        return CsProbe(url, timeout=settings.timeout, capath=trust_choice.path,
                       proxy=_client_proxy(settings, proxy_location),
                       nameserver=net_reach.nameserver,
                       nameserver_problem=net_reach.nameserver_problem,
                       setup=settings.setup, vo=vo, cadata=net_reach.cadata)

    return ServerSurvey(cs_servers, make)


@pytest.fixture(scope="session")
def cs_serving(cs_survey):
    """The Configuration Server the checks judge (:class:`Serving`), as DIRAC ends up using
    one: the first listed server that passes every layer, else the one that got furthest."""
    return cs_survey.serving()


@pytest.fixture(scope="session")
def cs_probe(cs_serving):
    """That Configuration Server probed layer by layer (:class:`CsProbe`), each layer once.

    It is the survey's own probe: every listed server is probed at the same time, and none
    is probed twice.
    """
    return cs_serving.probe


@dataclass
class CsData:
    """The CS's own configuration as getCompressedData gave it, held in memory only: ``cfg``
    and ``registry``, or the refusal (``error``, a DisetError) or the unreadable answer
    (``problem``, of the kind ``kind``, a CsDataProblem) that stands instead."""

    cfg: object = None
    registry: object = None
    error: object = None
    problem: str = ""
    size: int = 0
    kind: object = None


@pytest.fixture(scope="session")
def cs_data(cs_probe, settings: Settings, run: DiagnosisRun) -> CsData:
    """The Configuration Server's whole configuration, fetched as DIRAC's client fetches it
    (DISET getCompressedData, the proxy as TLS client credential), parsed with diraccfg.
    The answer is capped and its parse bounded, so this ends within about a timeout."""
    from mu3e_checks.knowledge.net import diset, registry

    call = cs_probe.call(registry.METHOD)
    if call.failure is not None:
        return CsData(problem=f"the server rejected the connection: {call.failure.detail}")
    if call.error is not None:
        if call.error.kind is diset.DisetErrorKind.TOO_BIG:
            return CsData(problem=str(registry.too_big("is larger as sent")),
                          kind=registry.CsDataProblem.TOO_BIG)
        return CsData(error=call.error)
    value = call.value
    size = len(value) if isinstance(value, (str, bytes)) else 0
    try:
        cfg = registry.parse_cs_data(value)
    except registry.CsDataError as exc:
        return CsData(problem=str(exc), size=size, kind=exc.problem)
    found = registry.read_registry(cfg)
    voms = registry.voms_view(found, settings.group, settings.vo, [])
    run.record(cs_data=facts.CsData(size, len(found.users), len(found.groups), len(found.vos),
                                    tuple((v.host, v.port, v.dn) for v in voms.servers)))
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
    return tree, install, load_layered(settings.environ, install.python_prefix, settings.home,
                                       install.root_reason)


@pytest.fixture(scope="session")
def diracos(dirac_facts, run: DiagnosisRun):
    """The DIRACOS prefix and what is in it (:class:`DiracosTree`)."""
    tree = dirac_facts[0]
    run.record(diracos=facts.Diracos(tree.prefix, tree.source, tree.version,
                                     tree.python_version))
    return tree


@pytest.fixture(scope="session")
def dirac_install(dirac_facts, run: DiagnosisRun):
    """The DIRAC dists DIRAC's Python sees, first = imported (:class:`DiracInstall`)."""
    install = dirac_facts[1]
    dist = install.in_use
    run.record(dirac=facts.Dirac(dist.version, install.where(dist)) if dist else facts.Dirac())
    return install


@pytest.fixture(scope="session")
def dirac_config(dirac_facts, run: DiagnosisRun):
    """The local dirac.cfg files, layered as DIRAC does (:class:`LayeredConfig`)."""
    from mu3e_checks.knowledge.dirac_cfg import configured_cs_url

    layered = dirac_facts[2]
    run.record(config=facts.Config(tuple(f.path for f in layered.found),
                                   configured_cs_url(layered) or None, layered.root,
                                   layered.root_source))
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
def voms_survey(settings: Settings, dirac_config, trust_choice, proxy_location,
                 net_reach: NetReach, run: DiagnosisRun) -> VomsSurvey:
    """Every VOMS server of --mu3e-vo that the vomses in use names, probed concurrently, so N
    dead servers cost about one timeout.  vomses and vomsdir are found as DIRAC finds them
    ($X509_VOMSES / $X509_VOMS_DIR, else <rootPath>/etc/grid-security); names go through
    --mu3e-nameserver when set; TLS presents only the proxy and verifies against the trust dir.

    When this run has already read the Configuration Server's data (the ``cs_data`` fact), the
    VO's VOMSServers listed there are probed too; the CS is never contacted for this alone.
    """
    from mu3e_checks.advice.net import voms as voms_advice
    from mu3e_checks.knowledge import voms_env
    from mu3e_checks.knowledge.net import voms as net_voms
    from mu3e_checks.knowledge.net.tls import proxy_credential

    root = dirac_config.root
    vomses, missing = voms_env.in_use(settings.environ, "X509_VOMSES", root, "vomses")
    vomsdir, _ = voms_env.in_use(settings.environ, "X509_VOMS_DIR", root, "vomsdir")
    entries = voms_env.read_vomses(vomses)[0] if vomses is not None else []
    found = net_voms.targets(entries, settings.vo, vomsdir, _cs_voms_servers(run))
    if not found:
        return VomsSurvey(vomses=vomses, vomsdir=vomsdir,
                          problem=missing or f"{vomses} has no line for {settings.vo}")
    probe = net_voms.Probe(
        timeout=settings.timeout, capath=trust_choice.path,
        credential=proxy_credential(_client_proxy(settings, proxy_location)),
        cadata=net_reach.cadata, nameserver=net_reach.nameserver,
        nameserver_problem=net_reach.nameserver_problem)
    verdicts, skipped = net_voms.survey(found, probe)
    run.record(voms_servers=tuple(facts.ServerLine(v.target.name,
                                                   voms_advice.line(v, net_reach.advice))
                                  for v in verdicts))
    return VomsSurvey(vomses=vomses, vomsdir=vomsdir, verdicts=verdicts, skipped=skipped)


def _cs_voms_servers(run: DiagnosisRun) -> list[tuple[str, str, str]]:
    """``(host, port, DN)`` of the VO's VOMS servers in the CS data this run already read: a
    fact the ``cs_data`` fixture recorded (the CS is never contacted for this alone)."""
    data = run.facts.cs_data
    return list(data.voms_servers) if data is not None else []
