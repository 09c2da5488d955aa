"""Every command the project prints, defined once, as :class:`~mu3e_checks.remedy.Remedy` data.

The guide's own commands (``dirac-proxy-init``, ``dirac-configure``, ``fetch-crl``, the CA bundle
install, ``openssl pkcs12``, ``chmod``, ``export``) are written here and nowhere else; checks and
knowledge functions call these builders with the user's values, which are quoted only when the
fix is rendered.  The domain defaults (VO, group, setup, CS URL) live in the options table
(:mod:`mu3e_checks.settings`): builders take them as arguments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from mu3e_checks.remedy import Action, ActionKind, Field, Remedy, Safety, builder, cmd, join, say
from mu3e_checks.settings import DEFAULT_CA_REPOSITORY

#: Where the guide downloads the IGTF CA tarballs from (--mu3e-ca-repository's default), and
#: the bundle version it names.
IGTF_TGZ_URL = DEFAULT_CA_REPOSITORY
IGTF_VERSION = "1.138"
#: The release the guide installs; Mu3e's services speak DIRAC v8.
GUIDE_DIRAC_VERSION = "8.0.74"
GUIDE_PIN = f"DIRAC=={GUIDE_DIRAC_VERSION}"
#: The guide's DIRACOS installer and where it comes from.
INSTALLER = "DIRACOS-Linux-$(uname -m).sh"
INSTALLER_URL = "https://github.com/DIRACGrid/DIRACOS2/releases/latest/download/" + INSTALLER
#: The guide's setuptools pin for DIRAC 8 (``pkg_resources``), as the guide spells it.
SETUPTOOLS_PIN = '"setuptools<82"'


def tarball(alias: str, version: str = IGTF_VERSION) -> str:
    """The IGTF tarball name of a CA bundle alias."""
    return f"ca_{alias}-{version}.tar.gz"


# ------------------------------------------------------------------------------- DIRAC itself

#: The proxy command every fix prints.  ``-t`` (``--strict``, DIRAC 8.0.74 ProxyGeneration:
#: "Fail on each error"): without it a failed VOMS step or proxy upload is logged and the command
#: still exits 0, leaving a proxy without VOMS attributes or no uploaded proxy.
PROXY_INIT = "dirac-proxy-init -g {group} -M -t"
#: The guide's local proxy without the Configuration Server.  ``-N`` (``--no-upload``) skips the
#: upload to the ProxyManager, which cannot work without the CS and otherwise prints the alarming
#: but harmless "Cannot get URL for Framework/ProxyManager" messages.
PROXY_INIT_LOCAL = "dirac-proxy-init --nocs -N -g {group}"


@builder
def proxy_init(group: str, *, note: str = "", bits: int = 0) -> Remedy:
    """The guide's ``dirac-proxy-init -g <group> -M``, strict (``-t``), so a VOMS or upload
    failure stops it with exit code 1 instead of passing silently."""
    extra = f" -b {bits}" if bits else ""
    return cmd(PROXY_INIT + extra, note=note, group=group)


@builder
def proxy_init_local(group: str, *, note: str = "") -> Remedy:
    """The guide's ``dirac-proxy-init --nocs`` with ``-N``: a local proxy, no upload attempted."""
    return cmd(PROXY_INIT_LOCAL, note=note, group=group)


@builder
def unset_or_renew(var: str, group: str) -> Remedy:
    """A proxy variable that names no file: unset it, or make the proxy where it points."""
    return unset(var, note="or run: " + PROXY_INIT, group=group)


@builder
def unset_shadowing(var: str, value: object) -> Remedy:
    """$GRID_PROXY_FILE wins over $X509_USER_PROXY: unset it if the other is the proxy."""
    return unset(var, note="if {value} is the proxy you mean", value=value)


@builder
def own_proxy(path: Path, group: str) -> Remedy:
    """A proxy file of another account: make your own, where only you write."""
    return join(export("X509_USER_PROXY", path), proxy_init(group))


@builder
def back_to_v8(group: str) -> Remedy:
    """A proxy made by DIRAC v9: the guide's v8 client, then a proxy from it."""
    return join(pip_install_dirac(quoted=True), proxy_init(group))


@builder
def matching_key_then_proxy(key: Path, cert: Path, group: str) -> Remedy:
    """A proxy signed with a key that is not the certificate's: the right key, then a proxy."""
    return join(say("{key} does not belong to {cert} (CERT-007): put the key of your "
                    "certificate there, e.g. export both again from your .p12, then make "
                    "a new proxy:", key=key, cert=cert),
                proxy_init(group))


#: The guide's configuration command, as a template (the registry's default fixes use it too).
CONFIGURE = "dirac-configure -F -S {setup} -C {cs} -I"
#: A TLS handshake with the server, verified against the CA directory.
TLS_CLIENT_TEST = "openssl s_client -connect {host}:{port} -CApath {capath} </dev/null"


@builder
def configure(setup: str, cs: str, *, note: str = "") -> Remedy:
    """The guide's ``dirac-configure -F -S <setup> -C <url> -I`` (the URL stays data: one from
    a cfg file or an option is quoted when the fix is shown)."""
    return cmd(CONFIGURE, note=note, setup=setup, cs=cs)


@builder
def configure_in(prefix: Optional[Path], setup: str, cs: str, *, note: str = "") -> Remedy:
    """The guide's ``dirac-configure`` inside the DIRACOS at ``prefix`` (after ``source
    diracosrc``); without one (DIRAC in a plain venv) the bare command."""
    return in_diracos(prefix, configure(setup, cs, note=note))


@builder(example={"line": Field("line")})
def correct_line(path: Path, line: Optional[int] = None) -> Remedy:
    """A line of a file that only the user can correct (a dirac.cfg, a vomses file)."""
    return (say("correct line {line} of {path}", line=line, path=path) if line
            else say("correct {path}", path=path))


@builder
def correct_or_remove_line(path: Path) -> Remedy:
    """A line the tools cannot read: the user knows whether it is a typo or a stray."""
    return say("correct or remove that line in {path}", path=path)


@builder
def server_certificate_off(file: Path) -> Remedy:
    """Turn ``UseServerCertificate`` off in the dirac.cfg that sets it."""
    return cmd("sed -i 's/^\\( *UseServerCertificate *=\\).*/\\1 no/' {file}", file=file)


@builder
def pip_install_dirac(*, force: bool = False, quoted: bool = False) -> Remedy:
    """The guide's pinned client install (inside DIRACOS); ``quoted`` spells the pin in double
    quotes, as a line meant to be copied from a web page."""
    flags = "--force-reinstall --no-deps " if force else ""
    return cmd(f'pip install {flags}"{GUIDE_PIN}"') if quoted else \
        cmd(f"pip install {flags}{{pin}}", pin=GUIDE_PIN)


@builder
def pip_setuptools() -> Remedy:
    """The guide's setuptools pin for DIRAC 8 (``pkg_resources``), as the guide spells it."""
    return cmd("pip install " + SETUPTOOLS_PIN)


@builder
def source_diracosrc(prefix: Path) -> Remedy:
    """The guide's activation: ``source <prefix>/diracosrc``."""
    return cmd("source {diracosrc}", diracosrc=Path(prefix) / "diracosrc")


def in_diracos(prefix: Optional[Path], remedy: Remedy) -> Remedy:
    """``remedy`` run inside the DIRACOS at ``prefix`` (after ``source diracosrc``); without
    one (DIRAC in a plain venv) ``remedy`` alone."""
    return join(source_diracosrc(prefix), remedy) if prefix is not None else remedy


#: The guide's DIRACOS prefix as the templates show it (the installer makes ``diracos``).
_DIRACOS = {"prefix": Path(Field("parent")) / "diracos"}


@builder(example=_DIRACOS)
def install_diracos(prefix: Path, *, aside: str = "") -> Remedy:
    """The guide's DIRACOS installation, run in the directory that should hold ``diracos``;
    with ``aside``, what is at the prefix is first moved to ``<prefix><aside>`` (never
    deleted)."""
    parent = Path(prefix).parent
    steps = join(rename(prefix, Path(f"{prefix}{aside}")) if aside else None,
                 cmd("mkdir -p {parent}", parent=parent), cmd("cd {parent}", parent=parent),
                 cmd("curl -LO " + INSTALLER_URL), cmd(f"bash {INSTALLER}"),
                 cmd(f"rm {INSTALLER}"))
    if Path(prefix).name != "diracos":
        steps = steps + cmd("mv {made} {prefix}", note="the installer creates {made}",
                            made=parent / "diracos", prefix=prefix)
    return steps


@builder(example=_DIRACOS)
def reinstall_diracos(prefix: Path, *, aside: str = ".old") -> Remedy:
    """The guide's DIRACOS2 in place of what is at the prefix (moved aside when ``aside``),
    activated, with the guide's DIRAC in it."""
    return join(install_diracos(prefix, aside=aside), source_diracosrc(prefix),
                pip_install_dirac())


@builder(example=_DIRACOS)
def current_diracos(prefix: Path, *, aside: str = ".old") -> Remedy:
    """A current DIRACOS2, for the Python it brings (DIRAC's Requires-Python)."""
    return join(say("install a current DIRACOS2: it brings a Python that DIRAC supports"),
                reinstall_diracos(prefix, aside=aside))


@builder
def install_dirac(prefix: Optional[Path], python: Optional[Path] = None, *,
                  force: bool = False) -> Remedy:
    """The guide's pinned DIRAC: with the pip of ``python`` when DIRAC runs under a Python that
    is not DIRACOS's (a plain venv), inside the DIRACOS at ``prefix`` when there is one, else
    the bare command."""
    if python is not None:
        return python_pip_install_dirac(python, force=force)
    return in_diracos(prefix, pip_install_dirac(force=force))


@builder
def pin_setuptools(prefix: Optional[Path], python: Optional[Path] = None) -> Remedy:
    """The setuptools pin DIRAC 8 needs, where :func:`install_dirac` would install DIRAC."""
    if python is not None:
        return python_pip_setuptools(python)
    return in_diracos(prefix, pip_setuptools())


# ------------------------------------------------------------------------------- trust store

@builder
def fetch_crl(ca_dir: Path, *, merlin7: bool = True) -> Remedy:
    """fetch-crl into one CA directory (on Merlin7 it comes from the module system)."""
    module = (cmd("module use unstable; module load fetch-crl", note="on Merlin7")
              if merlin7 else Remedy())
    return module + cmd("fetch-crl -l {ca_dir}", safety=Safety.SAFE,
                        action=Action(ActionKind.FETCH_CRLS, (("ca_dir", Path(ca_dir)),)),
                        ca_dir=ca_dir)


@builder
def new_certificate() -> Remedy:
    """A revoked certificate: nothing on this machine can repair it."""
    return say("a revoked certificate cannot be repaired: request a new grid certificate from "
               "your CA, then export it into ~/.globus again")


#: A site's fetch-crl cron line, with the packaged entry's options: quiet, and a random wait
#: of up to 6 minutes so a cluster's nodes do not all ask the CAs at once.
FETCH_CRL_CRON = "42 */6 * * * root fetch-crl -q -r 360 -l {ca_dir}"


@builder
def crl_updater(ca_dir: Path, *, switch: Optional[Path] = None,
                source: Optional[Path] = None) -> Remedy:
    """What a site does so that fetch-crl keeps ``ca_dir`` fresh: turn on the packaged cron
    entry (its ``switch`` file), point an updater at ``ca_dir`` (the one in ``source``), or
    schedule one (a cron line or the package's timer)."""
    if switch is not None:
        return cmd("touch {switch}", note="the packaged cron entry's switch; it must exist after "
                   "every boot: systemctl enable fetch-crl-cron where that unit exists",
                   switch=switch)
    if source is not None:
        return say("as root, make {source} run fetch-crl for {ca_dir}: add -l {ca_dir} to its "
                   "fetch-crl command, or set infodir = {ca_dir} in the fetch-crl.conf it reads",
                   source=source, ca_dir=ca_dir)
    return join(say("as root, run fetch-crl for {ca_dir} every 6 hours, with a line in "
                    "/etc/cron.d/fetch-crl:", ca_dir=ca_dir),
                say(FETCH_CRL_CRON, ca_dir=ca_dir),
                say("or with the package's timer: systemctl enable --now fetch-crl.timer (it "
                    "reads infodir = {ca_dir} from /etc/fetch-crl.conf)", ca_dir=ca_dir))


def repository_base(url: str = "") -> str:
    """The base URL of the IGTF tarballs (``--mu3e-ca-repository``, else the guide's EGI one),
    ending in '/'."""
    base = url or IGTF_TGZ_URL
    return base if base.endswith("/") else base + "/"


@builder(example={"aliases": (Field("alias"),)})
def install_ca_bundles(ca_dir: Path, aliases: Sequence[str], repository: str = "") -> Remedy:
    """The guide's download-and-untar commands for these IGTF bundles, aimed at ``ca_dir``,
    downloading from ``repository`` (``--mu3e-ca-repository``; the guide's EGI URL by
    default)."""
    if not aliases:
        return Remedy()
    base = repository_base(repository)
    lines = [cmd("mkdir -p ~/Downloads && cd ~/Downloads")]
    lines += [cmd("wget {url}", url=base + tarball(a)) for a in aliases]
    lines.append(cmd("mkdir -p {ca_dir}", ca_dir=ca_dir))
    lines += [cmd("tar xvzf ~/Downloads/{tgz} --strip-components=1 -C {ca_dir}/",
                  tgz=tarball(a), ca_dir=Path(ca_dir)) for a in aliases]
    out = join(*lines)
    return Remedy(out.lines, safety=Safety.SAFE, action=Action(
        ActionKind.INSTALL_CA_BUNDLES, (("ca_dir", Path(ca_dir)), ("aliases", tuple(aliases)))))


@builder
def find_ca_bundle(dn: str, ca_dir: Path, repository: str = "") -> Remedy:
    """Advice for a CA whose IGTF bundle name we do not know: where to look for it."""
    return say("{dn}: find the IGTF bundle (ca_*-{version}.tar.gz) that holds this CA in "
               "{index} and untar it the same way into {ca_dir}", dn=dn, version=IGTF_VERSION,
               index=repository_base(repository), ca_dir=ca_dir)


@builder
def issuer_bundle(dir: Path) -> Remedy:
    """Your certificate's chain does not verify for a reason the bundles can mend: its CA's."""
    return say("install the bundle of your certificate's CA into {dir}", dir=dir)


@builder
def harmless_expired() -> Remedy:
    """Expired CAs nobody relies on: IGTF ships a few; nothing breaks."""
    return say("harmless for Mu3e; refresh the IGTF bundles or delete those CA files if you do "
               "not need them")


@builder
def der_to_pem(kind: str, path: Path) -> Remedy:
    """Convert a DER certificate (``x509``) or CRL (``crl``) file to PEM in place."""
    return cmd(f"openssl {kind} -inform der -in {{path}} -out {{pem}} && mv {{pem}} {{path}}",
               path=path, pem=Path(f"{path}.pem"))


@builder
def rename(old: Path, new: Path, *, note: str = "") -> Remedy:
    return cmd("mv {old} {new}", note=note, old=old, new=new)


@builder
def remove(path: Path, *, note: str = "") -> Remedy:
    return cmd("rm {path}", note=note, path=path)


# ------------------------------------------------------------------------------- credentials

@builder
def chmod(mode: str, path: Path, *, note: str = "") -> Remedy:
    """``chmod <mode> <path>``; a numeric mode or ``go-w`` that a tool may apply itself."""
    return cmd(f"chmod {mode} {{path}}", note=note, safety=Safety.SAFE,
               action=Action(ActionKind.CHMOD, (("path", Path(path)), ("mode", mode))),
               path=path)


#: The guide's files, as the templates of the extraction show them.
_GLOBUS_FILES = {"cert": Path(Field("globus")) / "usercert.pem",
                 "key": Path(Field("globus")) / "userkey.pem", "legacy": False}


@builder(example=_GLOBUS_FILES)
def pkcs12_extract(p12: Optional[Path], cert: Path, key: Path, *,
                   legacy: Optional[bool] = None) -> Remedy:
    """The guide's two ``openssl pkcs12`` commands plus the key's mode, for the export found on
    disk; without one, what the user must do first (a fix never holds a hole to fill in).

    ``legacy``: True puts ``-legacy`` in both commands (an RC2/RC4/DES export, which OpenSSL 3
    reads only with its legacy provider); None, when the export's algorithms are unknown, adds
    a comment saying when to add it; False (a current export) says nothing more.
    """
    if p12 is not None:
        dirs = sorted({Path(cert).parent, Path(key).parent})
        mk = cmd("mkdir -p " + " ".join(f"{{d{i}}}" for i in range(len(dirs))),
                 **{f"d{i}": d for i, d in enumerate(dirs)})
        flag = "-legacy " if legacy else ""
        why = (say("-legacy: {p12} is encrypted with RC2/RC4/DES (an old export), which "
                   "OpenSSL 3 reads only with its legacy provider", p12=p12) if legacy else
               say("OpenSSL 3 with an old RC2-40 export ('unsupported ... RC2-40-CBC'): add "
                   "-legacy to both openssl pkcs12 commands") if legacy is None else None)
        body = join(mk,
                    cmd(f"openssl pkcs12 {flag}-in {{p12}} -clcerts -nokeys -out {{cert}}",
                        p12=p12, cert=cert),
                    cmd(f"openssl pkcs12 {flag}-in {{p12}} -nocerts -nodes -out {{key}}",
                        p12=p12, key=key),
                    chmod("600", key), why)
        return Remedy(body.lines, safety=Safety.SAFE, action=Action(
            ActionKind.PKCS12_EXTRACT, (("p12", p12), ("cert", Path(cert)), ("key", Path(key)))))
    return no_pkcs12_export(Path(cert).parent)


@builder
def no_pkcs12_export(globus: Path) -> Remedy:
    """No .p12 lies where the tool looks: the user must bring the export first."""
    return say("copy your grid certificate export (.p12) into {globus} and run this "
               "diagnosis again: it then prints the exact openssl pkcs12 commands for it",
               globus=globus)


@builder
def bring_pkcs12(globus: Path) -> Remedy:
    """Neither the PEM files nor an export are there: make ~/.globus and bring the export."""
    return join(mkdir(globus),
                say("copy your grid certificate export (.p12) into {globus} and run this "
                    "diagnosis again", globus=globus))


@builder
def replace_with_dir(globus: Path) -> Remedy:
    """``~/.globus`` is not a directory: move the thing aside and make a private directory."""
    return cmd("mv {globus} {backup} && mkdir -m 700 {globus}", globus=globus,
               backup=Path(f"{globus}.bak"))


@builder
def chown_to_you(globus: Path) -> Remedy:
    """A directory of yours owned by another account: only root can give it back."""
    return cmd("sudo chown $(id -un) {globus}", globus=globus)


@builder
def first_certificate(cert: Path) -> Remedy:
    """usercert.pem holds more than one certificate: keep the first (DIRAC's), after a look."""
    return cmd("openssl x509 -in {cert} -out {new}",
               note="then check it is yours and move it over {cert}", cert=cert,
               new=Path(f"{cert}.new"))


@builder
def passphrase_file() -> Remedy:
    """How the checks get an encrypted key's pass phrase (they never prompt)."""
    return say("put the pass phrase in a plain file only you can read, and give it with "
               "--mu3e-passphrase-file (or set MU3E_KEY_PASSPHRASE)")


@builder
def renew_certificate(globus: Path) -> Remedy:
    """An expired or expiring certificate: only its CA issues the next one."""
    return say("renew your grid certificate with your CA, then export it again into {globus}",
               globus=globus)


@builder
def stronger_certificate() -> Remedy:
    """A weak key or signature: only the CA can issue a stronger certificate."""
    return say("ask your CA for a new certificate with an RSA key of at least 2048 bits")


@builder
def export(var: str, value: object, *, note: str = "", **note_values: object) -> Remedy:
    """``export VAR=value`` for this shell (the note says where to make it stick)."""
    action = (Action(ActionKind.EXPORT_CERT_DIR, (("value", value),))
              if var == "X509_CERT_DIR" else None)
    return cmd(f"export {var}={{value}}", note=note,
               safety=Safety.CONFIRM if action else Safety.MANUAL, action=action, value=value,
               **note_values)


# ------------------------------------------------------------------------------- network

#: A host name or IP address that is one plain shell word as it is (quoting leaves it alone).
_PLAIN_HOST = re.compile(r"[A-Za-z0-9._:-]+")


@builder
def dig(host: str, rdtype: str = "", *, note: str = "") -> Remedy:
    """Ask DNS for ``host`` (optionally one record type), to compare with our verdict."""
    return cmd("dig {host}" + (f" {rdtype}" if rdtype else ""), note=note, host=host)


@builder
def nameserver_option() -> Remedy:
    """How to name the DNS server the checks ask (``--mu3e-nameserver``)."""
    return cmd("--mu3e-nameserver 192.0.2.53:53", note="an IP address, optional port")


@builder
def port_test(host: str, port: int, *, note: str = "test the port again") -> Remedy:
    """A TCP connect to ``host:port`` with nothing but bash.

    The host sits inside the ``bash -c`` script, where a second level of quoting would be
    needed; a plain name is written there as it is (quoting would not change it), anything
    else is passed to the script as an argument, so it never becomes script text.
    """
    if isinstance(host, Field) or _PLAIN_HOST.fullmatch(host or ""):  # a template: plain
        return cmd("timeout 10 bash -c 'cat </dev/null >/dev/tcp/{host}/{port}' && echo open",
                   note=note, host=host, port=_port(port))
    return cmd("timeout 10 bash -c 'cat </dev/null >\"/dev/tcp/$1/$2\"' _ {host} {port} "
               "&& echo open", note=note, host=host, port=_port(port))


def _port(port: object) -> object:
    """A port as a number (a template's :class:`Field` stays the field)."""
    return port if isinstance(port, Field) else int(port)  # type: ignore[call-overload]


@builder
def tls_client_test(host: str, port: int, capath: Path, *, note: str = "") -> Remedy:
    """``openssl s_client`` against the server, verified against ``capath``."""
    return cmd(TLS_CLIENT_TEST, note=note, host=host, port=_port(port), capath=capath)


@builder
def utc_date(*, note: str = "") -> Remedy:
    """Show this machine's clock in UTC, to compare with the real time."""
    return cmd("date -u", note=note)


@builder
def clock_sync(*, note: str = "") -> Remedy:
    """Whether this machine's clock is synchronised, and how to switch NTP on."""
    return join(cmd("timedatectl status", note="needs 'System clock synchronized: yes'"),
                cmd("sudo timedatectl set-ntp true", note=note))


@builder
def show_resolv_conf(*, note: str = "") -> Remedy:
    """The resolver configuration (its ``nameserver`` lines)."""
    return cmd("cat /etc/resolv.conf", note=note)


@builder
def show_routes(*, note: str = "") -> Remedy:
    """This machine's network routes."""
    return cmd("ip route", note=note)


# ------------------------------------------------------------------------------- more

@builder
def pip_uninstall_dirac(python: object, *, note: str = "", **note_values: object) -> Remedy:
    """``<python> -m pip uninstall DIRAC``: remove one copy with the pip of the Python owning it
    (``python`` is a path or a ``pythonX.Y`` name; it is quoted like any value)."""
    return cmd("{python} -m pip uninstall DIRAC", note=note, python=python, **note_values)


@builder
def unset(var: str, *, note: str = "", **note_values: object) -> Remedy:
    """``unset VAR`` for this shell (the variable name is quoted like a value)."""
    return cmd("unset {var}", note=note, var=var, **note_values)


@builder
def mkdir(path: Path) -> Remedy:
    """``mkdir -p <path>``."""
    return cmd("mkdir -p {path}", path=path)


@builder
def edit(path: Path) -> Remedy:
    """Open a file in the user's editor (``$EDITOR``, else nano)."""
    return cmd("${{EDITOR:-nano}} {path}", path=path)


@builder
def check_clock() -> Remedy:
    """``date -u``: a certificate or proxy "not yet valid" usually means this clock is wrong."""
    return utc_date(note="compare with the real UTC time; ask your admin to fix NTP")


@builder
def write_lsc(path: Path, server_dn: str, ca_dn: str, *, note: str = "") -> Remedy:
    """An .lsc file as dirac-configure writes it: the VOMS server's DN, then its CA's DN."""
    return cmd("printf '%s\\n%s\\n' {dn} {ca} > {path}", note=note, dn=server_dn, ca=ca_dn,
               path=path)


@builder
def export_into(var: str, value: object, script: Path, *, note: str = "",
                **note_values: object) -> Remedy:
    """Append ``export VAR=<value>`` to a script every new shell sources (a venv's
    ``bin/activate``); bash's ``printf %q`` quotes the value for the shell that reads it later.
    ``var`` is ours, never outside text."""
    return cmd(f"printf 'export {var}=%q\\n' {{value}} >> {{script}}", note=note, value=value,
               script=script, **note_values)


@builder
def recreate_venv(venv: Path) -> Remedy:
    """Make a venv again in place, from the ``python3`` on PATH (its packages are gone after)."""
    return cmd("python3 -m venv --clear {venv}", venv=venv,
               note="its old Python is gone; this empties the venv")


@builder
def reinstall_venv(venv: Path) -> Remedy:
    """A venv whose Python is gone, made anew with the guide's DIRAC in it."""
    return join(recreate_venv(venv), python_pip_install_dirac(Path(venv) / "bin" / "python"))


@builder
def python_pip_install_dirac(python: Path, *, force: bool = False) -> Remedy:
    """The guide's pinned client install with a given Python's pip (a plain venv's)."""
    flags = "--force-reinstall --no-deps " if force else ""
    return cmd(f"{{python}} -m pip install {flags}{{pin}}", python=python, pin=GUIDE_PIN)


@builder
def python_pip_setuptools(python: Path) -> Remedy:
    """The setuptools pin for DIRAC 8 with a given Python's pip (a plain venv's)."""
    return cmd("{python} -m pip install " + SETUPTOOLS_PIN, python=python)


@builder
def proxy_info_uploads() -> Remedy:
    """What the ProxyManager holds for you, asked by DIRAC's own client."""
    return cmd("dirac-proxy-info -m", note="lists the proxies the ProxyManager holds")


# ------------------------------------------------------------------------------- people

@builder
def tell_contacts() -> Remedy:
    """Something only the people who run Mu3e's services can look into."""
    return say("send this message to the Mu3e computing contacts")


@builder
def tell_vo_admin() -> Remedy:
    """Something only the Mu3e VO admin can change (the Registry's users and groups)."""
    return say("tell the Mu3e VO admin")


@builder
def no_voms_role(group: str) -> Remedy:
    """The Registry gives the group no VOMS role: the computing contacts set it."""
    return say("tell the Mu3e computing contacts: group {group} has no VOMSRole", group=group)


@builder
def no_voms_servers() -> Remedy:
    """The Registry lists no VOMS servers for the VO: the computing contacts set them."""
    return say("tell the Mu3e computing contacts")


@builder
def guide_dirac_contacts(version: str) -> Remedy:
    """The guide's client and a server too far from it: the server's side must answer."""
    return say("you run the guide's DIRAC {version}; send this message to the Mu3e "
               "computing contacts", version=version)
