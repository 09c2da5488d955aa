"""Guide: "Configure DIRAC for Mu3e" (dirac-configure -F -S GridPP -C <CS> -I) and "Set the
certificate directory explicitly" (export X509_CERT_DIR=...), and the VOMS files -M needs.

PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

from mu3e_checks import commands
from mu3e_checks.advice import dirac_cfg as adv
from mu3e_checks.knowledge import dirac_cfg as dc
from mu3e_checks.knowledge import diracos as dos
from mu3e_checks.knowledge import voms_env
from mu3e_checks.knowledge.trust import diracos_cert_dir
from mu3e_checks.outcome import fail, note, skip_for, warn
from mu3e_checks.registry import check
from mu3e_checks.remedy import Field, Remedy

STEP = "configure"
#: The guide's dirac-configure, inside DIRACOS when there is one.
CONFIGURE = commands.configure_in
EXPORT_ROOT, UNSET_ROOT = (commands.export.bind("DIRAC_ROOT_PATH"),
                           commands.unset.bind("DIRAC_ROOT_PATH"))
EXPORT_CERT_DIR = commands.export.bind("X509_CERT_DIR", value=Field("dir"))


def _configure(settings, diracos) -> dict:
    """The values of the guide's dirac-configure for this run (:data:`CONFIGURE`)."""
    return adv.configure_values(diracos, settings.setup, settings.cs_url)


def _configured(settings, diracos) -> Remedy:
    return adv.configure(diracos, settings.setup, settings.cs_url)


@check("CFG-001", "A dirac.cfg is where DIRAC reads it", step=STEP, fix=CONFIGURE,
       also=(EXPORT_ROOT, UNSET_ROOT))
def test_cfg_present(dirac_config, diracos, dirac_install, settings):
    """DIRAC loads <rootPath>/etc/dirac.cfg, $DIRACSYSCONFIG, then ~/.dirac.cfg; rootPath is
    $DIRAC_ROOT_PATH, else sys.base_prefix of the Python on the #! line of the dirac-* commands:
    DIRACOS, or for a plain venv the Python it was made from (/usr), not the venv.  Fails when
    none exists ('Missing mandatory local configuration option /DIRAC/Setup'), naming a cfg DIRAC
    does not read; the fix makes dirac-configure write where DIRAC reads (a venv: DIRAC_ROOT_PATH
    first).  Warns on an empty or relative $DIRAC_ROOT_PATH; notes each file DIRAC tries.
    """
    note(f"DIRAC's rootPath is {dirac_config.root} ({dirac_config.root_source})")
    runner = dirac_install.runner
    if runner is not None and runner.problem:
        note(f"{runner.command}: {runner.problem}")
    for line in dirac_config.describe():
        note(line)
    if dirac_config.found:
        if dc.root_is_unstable(dirac_config.root_source):
            venv = dirac_install.outside_diracos
            text = (f"DIRAC's rootPath comes from {dirac_config.root_source}: a dirac-* command "
                    "started elsewhere finds another etc/dirac.cfg, or none")
            if venv and venv.venv:
                warn(text, fix=EXPORT_ROOT, value=venv.prefix)
            else:
                warn(text, fix=UNSET_ROOT)
        return
    if dirac_install.in_use is None:
        skip_for("DIRAC-001", "dirac-configure comes with the DIRAC client, install it first")
    unread = dos.unread_cfgs(dirac_install, diracos, dirac_config.default_file)
    hint = (f"; there is one at {', '.join(map(str, unread))}, but DIRAC does not read it"
            if unread else "")
    fail(f"no dirac.cfg: DIRAC reads {dirac_config.default_file} (rootPath from "
         f"{dirac_config.root_source}), $DIRACSYSCONFIG and ~/.dirac.cfg, and none "
         f"exists{hint}; dirac-proxy-info would fail with "
         "'Missing mandatory local configuration option /DIRAC/Setup'",
         fix=adv.where_read(dirac_install, diracos, settings.environ, settings.setup,
                            settings.cs_url))


@check("CFG-002", "Every dirac.cfg DIRAC loads can be parsed", step=STEP,
       fix=commands.correct_line, requires=("CFG-001",))
def test_cfg_parses(dirac_config, diracos, settings):
    """Files are parsed with diraccfg, DIRAC's own parser; a file it cannot load stops every
    command.  Fails naming the line (a missing '}' is located by dirac-configure's
    indentation); warns on lines DIRAC silently ignores or glues onto the next section;
    notes every option a later file overrides.
    """
    for bad in dirac_config.broken:
        fail(f"DIRAC cannot load {bad.path}: {bad.error}",
             fix=adv.broken_fix(bad, dirac_config.default_file, _configured(settings, diracos)))
    for f in dirac_config.found:
        for number, text in f.stray:
            warn(f"{f.path}, line {number}: {text!r} is neither 'Option = value' nor a section; "
                 "DIRAC ignores it (or glues it onto the next section name)",
                 path=f.path, line=number)
    for o in dirac_config.overrides:
        note(o.describe())


@check("CFG-003", "dirac.cfg sets /DIRAC/Setup = GridPP", step=STEP, fix=CONFIGURE,
       requires=("CFG-002",))
def test_cfg_setup(dirac_config, diracos, settings):
    """DIRAC v8 asks the Configuration Server for the services of /DIRAC/Setup; Mu3e's is
    --mu3e-setup.  Fails when it is unset or another setup; when the wrong value
    comes from a file other than the one dirac-configure writes, the fix names that file.
    """
    expected = settings.setup
    value = dirac_config.get(dc.SETUP_PATH)
    if value is None:
        fail(f"{dc.SETUP_PATH} is not set in {_files(dirac_config)}: DIRAC v8 stops with "
             "'Missing mandatory local configuration option /DIRAC/Setup'",
             **_configure(settings, diracos))
    if value != expected:
        origin = dirac_config.source_of(dc.SETUP_PATH)
        fail(f"{dc.SETUP_PATH} is {value!r} (from {origin}), not {expected!r}: DIRAC would ask "
             "the CS for the services of another setup",
             fix=adv.fix_where(dirac_config, dc.SETUP_PATH, expected,
                               _configured(settings, diracos)))


def _files(layered) -> str:
    return ", ".join(str(f.path) for f in layered.found)


def _norm(url: str) -> str:
    return url.strip().rstrip("/").lower()


@check("CFG-004", "dirac.cfg points at the GridPP Configuration Server", step=STEP,
       fix=CONFIGURE, requires=("CFG-002",))
def test_cfg_servers(dirac_config, diracos, settings):
    """/DIRAC/Configuration/Servers decides which Configuration Server DIRAC asks; it must
    include --mu3e-cs-url.  Fails when it is unset or lists only other servers (the fix names
    an overriding file when there is one); notes when the expected one is not first.
    """
    servers = dirac_config.servers()
    expected = settings.cs_url
    if not servers:
        fail(f"{dc.SERVERS_PATH} is not set in {_files(dirac_config)}: DIRAC does not know "
             "which Configuration Server to ask", **_configure(settings, diracos))
    if _norm(expected) not in [_norm(s) for s in servers]:
        origin = dirac_config.source_of(dc.SERVERS_PATH)
        fail(f"{dc.SERVERS_PATH} is {', '.join(servers)} (from {origin}): it does not include "
             f"the expected {expected}, so DIRAC talks to another Configuration Server",
             fix=adv.fix_where(dirac_config, dc.SERVERS_PATH, expected,
                               _configured(settings, diracos)))
    if _norm(servers[0]) != _norm(expected):
        note(f"DIRAC asks {servers[0]} first; {expected} is further down the list")
    note(f"Configuration Servers: {', '.join(servers)}")


@check("CFG-005", "dirac.cfg does not ask for a server certificate (UseServerCertificate)",
       step=STEP, fix=commands.server_certificate_off, requires=("CFG-002",))
def test_cfg_server_certificate(dirac_config):
    """With UseServerCertificate true, DIRAC authenticates with a host certificate instead of
    your proxy, which a user machine does not have.  Fails naming the file that sets it, with
    the sed line that turns it off.
    """
    value = dirac_config.get(dc.SERVER_CERT_PATH)
    if dc.is_true(value):
        origin = dirac_config.source_of(dc.SERVER_CERT_PATH)
        fail(f"{dc.SERVER_CERT_PATH} = {value} (from {origin}): DIRAC then authenticates with "
             "a host certificate instead of your proxy, which a user machine does not have",
             file=origin)
    note(f"UseServerCertificate = {value or '(not set: no)'}")


@check("ENV-001", "X509_CERT_DIR is exported and is the CA directory in use", step="cert-dir",
       fix=EXPORT_CERT_DIR, requires=("DIRACOS-001",))
def test_cert_dir_exported(trust_choice, diracos, dirac_install, settings):
    """The guide sets ``X509_CERT_DIR`` explicitly, so that DIRAC, diracosrc and the grid tools
    all use one CA directory.  Unset, it warns and names the directory DIRAC 8.0.74 picks on
    its own (``<rootPath>/etc/grid-security/certificates`` when it is a directory, else
    ``/etc/grid-security/certificates``), the same one CA-002 and the CA checks judge.
    Exported but not the directory being checked fails; another directory than DIRACOS's warns.
    """
    guide_dir = diracos_cert_dir(dos.own_root(dirac_install, diracos, settings.environ))
    exported = trust_choice.exported
    if exported is None and settings.environ.get("X509_CERT_DIR") == "":
        fail("X509_CERT_DIR is set but empty: DIRAC's getCAsLocation returns the empty value "
             "as its CA directory instead of looking further, so it finds no CAs ('No valid "
             "CA dir found'); set it, or unset it", dir=guide_dir)
    if exported is None:
        warn(f"X509_CERT_DIR is not exported, so DIRAC and the grid tools each pick a CA "
             f"directory on their own (now {trust_choice.path}: DIRAC uses "
             f"{trust_choice.describe()}, and a shell that sources diracosrc may pick "
             "another)", dir=guide_dir)
        return
    if not dos.same_path(exported, trust_choice.path):
        fail(f"X509_CERT_DIR is {exported}, but the CA directory being checked is "
             f"{trust_choice.describe()}: DIRAC uses {exported}", dir=trust_choice.path)
    if not dos.same_path(exported, guide_dir):
        warn(f"X509_CERT_DIR is {exported}, not the DIRACOS directory {guide_dir} the guide "
             "installs the CAs into (diracosrc prefers a non-empty /etc/grid-security/"
             "certificates; dirac-configure then fails writing to a site-managed directory)",
             dir=guide_dir)
    note(f"X509_CERT_DIR={exported}")


def _voms_fix(settings, diracos, proxy_location, var: str, value, default, ready: bool) -> Remedy:
    """What makes ``var`` name a location that serves the VO (:func:`advice.dirac_cfg.voms_fix`)."""
    return adv.voms_fix(_configured(settings, diracos), settings.group, var, value, default,
                        ready=ready, have_proxy=proxy_location.exists)


@check("ENV-002", "X509_VOMSES points at vomses with an entry for mu3e.org", step=STEP,
       severity="warn", fix=CONFIGURE, also=(commands.correct_or_remove_line,),
       requires=("DIRACOS-001",))
def test_vomses(settings, diracos, dirac_config, proxy_location):
    """dirac-proxy-init -M finds the VOMS server of --mu3e-vo in $X509_VOMSES (else
    <rootPath>/etc/grid-security/vomses), which dirac-configure writes from the CS once it
    can reach it.  Warns when it is missing or has no entry for the VO (fix: the guide's
    dirac-configure, and the export only when the variable names another place), and on
    unreadable lines.
    """
    vo = settings.vo
    path, default, missing = voms_env.location(settings.environ, "X509_VOMSES",
                                               dirac_config.root, "vomses")
    value = settings.environ.get("X509_VOMSES") or None
    at_default = voms_env.read_vomses(default)
    ready = bool(voms_env.entries_for(at_default[0], vo))
    fix = _voms_fix(settings, diracos, proxy_location, "X509_VOMSES", value, default, ready)
    if value is None and ready:
        warn(f"X509_VOMSES is not set: dirac-proxy-init falls back to {default} (saying this "
             "auto discovery will be dropped), voms-proxy-init on its own does not look there; "
             "sourcing diracosrc exports it", fix=fix)
        path, missing = default, None
    if missing:
        fail(f"{missing}: 'dirac-proxy-init -M' cannot find the {vo} VOMS server ('VOMS Server "
             f"for {vo} not known'); dirac-configure writes {default}/{vo} when it can reach "
             "the CS", fix=fix)
    entries, problems = at_default if path == default else voms_env.read_vomses(path)
    for p in problems:
        warn(p, fix=commands.correct_or_remove_line, path=path)
    mine = voms_env.entries_for(entries, vo)
    if not mine:
        fail(f"no vomses entry for {vo} in {path} ({len(entries)} entries for other VOs): "
             f"'dirac-proxy-init -M' cannot get {vo} attributes; dirac-configure writes "
             f"{default}/{vo} when it can reach the CS", fix=fix)
    note(f"{vo} VOMS servers: {voms_env.vomses_hosts(mine)}")


@check("ENV-003", "X509_VOMS_DIR holds the mu3e.org .lsc files", step=STEP, severity="warn",
       fix=CONFIGURE, requires=("DIRACOS-001",))
def test_vomsdir(settings, diracos, dirac_config, proxy_location):
    """voms-proxy-init checks the VOMS server's answer against <VO>/*.lsc files in
    $X509_VOMS_DIR (else <rootPath>/etc/grid-security/vomsdir), which dirac-configure writes
    from the CS.  Warns when the directory or the VO's .lsc files are missing: the attributes
    are rejected.  The fix is the guide's dirac-configure, and the export only when the
    variable names another place.
    """
    vo = settings.vo
    path, default, missing = voms_env.location(settings.environ, "X509_VOMS_DIR",
                                               dirac_config.root, "vomsdir")
    value = settings.environ.get("X509_VOMS_DIR") or None
    at_default = voms_env.lsc_files(default, vo)
    ready = bool(at_default)
    fix = _voms_fix(settings, diracos, proxy_location, "X509_VOMS_DIR", value, default, ready)
    if value is None and ready:
        warn(f"X509_VOMS_DIR is not set: DIRAC falls back to {default}, voms-proxy-init on its "
             "own does not look there; sourcing diracosrc exports it", fix=fix)
        path, missing = default, None
    if missing:
        fail(f"{missing}: voms-proxy-init cannot verify the {vo} VOMS server's answer; "
             f"dirac-configure writes {default}/{vo} when it can reach the CS", fix=fix)
    lsc = at_default if path == default else voms_env.lsc_files(path, vo)
    if not lsc:
        fail(f"{path}/{vo} has no .lsc file: the {vo} VOMS server's certificate cannot be "
             "checked, so the attributes are rejected", fix=fix)
    note(f"{len(lsc)} .lsc file(s) in {path}/{vo}")
