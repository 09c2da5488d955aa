"""The report's environment table, rendered from the model's typed facts alone.

What support asks first: versions, the resolved paths, the DN, the proxy, the Configuration
Server and what it said.  One row per fact the run has; a fact no check of this run looked at
says so.  Every value is made visible here (facts hold outside text as it came); HTML escaping
is the HTML renderer's job.  Never shown: key material, pass phrases, an environment dump.
"""

from __future__ import annotations

import datetime as _dt
from typing import Optional

from mu3e_checks.facts import Facts, Located, ProxyChain
from mu3e_checks.model import Diagnosis
from mu3e_checks.text import visible

NOT_CHECKED = "not checked in this run"


def _time(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _located(loc: Located) -> str:
    missing = ", missing" if loc.exists is False else ""
    return f"{loc.path} ({loc.source}{missing})" if loc.source else f"{loc.path}{missing}"


def proxy_summary(chain: ProxyChain, now: _dt.datetime) -> str:
    """The proxy's first certificate in one line: its DN, its kind and the time it has left
    at ``now`` (the end of the run)."""
    if now > chain.not_after:
        life = f"expired {_time(chain.not_after)}"
    elif now < chain.not_before:
        life = f"not valid before {_time(chain.not_before)}"
    else:
        left = (chain.not_after - now).total_seconds() / 3600
        life = f"valid until {_time(chain.not_after)} ({left:.1f} h left)"
    return f"{chain.subjects[0] if chain.subjects else ''}; {chain.kind}; {life}"


def _diracos(f: Facts) -> Optional[str]:
    if f.diracos is None:
        return None
    t = f.diracos
    what = f"DIRACOS2 {t.version}" if t.version else "version unknown"
    py = f", Python {t.python_version}" if t.python_version else ""
    return f"{t.prefix} ({t.source}; {what}{py})"


def _utc(t: _dt.datetime) -> _dt.datetime:
    return t.astimezone(_dt.timezone.utc) if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def rows(d: Diagnosis) -> list[tuple[str, str]]:
    """(name, value) of every environment fact, in the order support reads them."""
    f = d.facts
    out: list[tuple[str, Optional[str]]] = []
    add = out.append
    if f.software is not None:
        s = f.software
        add(("OS", s.os))
        add(("Python", f"{s.python} ({s.python_executable})"))
        add(("mu3e-checks", s.tool))
    add(("DIRAC version", NOT_CHECKED if f.dirac is None else
         f"DIRAC {f.dirac.version} ({f.dirac.where})" if f.dirac.version else "not installed"))
    add(("DIRACOS version", _diracos(f) or NOT_CHECKED))
    if f.software is not None:
        add(("OpenSSL", "; ".join(f.software.openssl)))
    if f.paths is not None:
        add(("Home", str(f.paths.home)))
        add((".globus", str(f.paths.globus)))
    if f.credentials is not None:
        add(("User certificate", _located(f.credentials.cert)))
        add(("User key", _located(f.credentials.key)))
    cert = f.user_cert
    if cert is not None:
        add(("User DN (slash form)", cert.subject))
        add(("User DN (RFC 2253)", cert.subject_rfc2253))
        add(("User certificate issuer", cert.issuer))
        if cert.read_from is not None:
            add(("User DN read from", f"the proxy {cert.read_from} ({cert.usercert_problem})"))
    else:
        add(("User DN (slash form)", f"unknown: {f.user_cert_problem or 'not read'}"))
    if f.paths is not None:
        add(("DIRACOS", _located(f.paths.diracos)))
    if f.config is not None:
        add(("dirac.cfg", "; ".join(map(str, f.config.files)) or "none found"))
        if f.config.root is not None:
            add(("DIRAC rootPath", f"{f.config.root} ({f.config.root_source})"))
    else:
        add(("dirac.cfg", NOT_CHECKED))
    if f.trust_dir is not None:
        add(("Trust dir", _located(f.trust_dir)))
    if f.trust_store is not None:
        add(("CA certificates", f"{f.trust_store.cas} CAs, {f.trust_store.crls} CRL files"))
    if f.proxy is not None:
        add(("Proxy", _located(f.proxy.location)))
        chain = f.proxy.chain
        if chain is not None:
            add(("Proxy identity", chain.identity or "no user certificate in the chain"))
            add(("Proxy summary", proxy_summary(chain, _utc(d.finished or d.started))))
        else:
            add(("Proxy summary", f"unreadable: {f.proxy.problem}" if f.proxy.problem
                 else "no proxy file"))
    e = f.expected
    if f.config is not None and f.config.cs_url:
        add(("CS URL", f"{f.config.cs_url} (from dirac.cfg)"))
    elif f.config is not None:
        add(("CS URL", f"{e.cs_url} (expected; no dirac.cfg names one)"))
    else:
        add(("CS URL", f"{e.cs_url} (expected)"))
    add(("DIRAC group (expected)", e.group))
    add(("Grid variables", "; ".join(f"{k}={v}" for k, v in f.grid_variables) or "none set"))
    add(("Run options", " ".join(flag if value is None or value == "" else f"{flag} {value}"
                                 for flag, value in f.options) or "defaults"))
    out += _network(f)
    if f.foreign:
        add(("Foreign pytest configuration", "; ".join(f.foreign)))
    return [(visible(k), visible(v)) for k, v in out if v is not None]


def _network(f: Facts) -> list[tuple[str, Optional[str]]]:
    """What the Configuration Server, the ProxyManager and the VOMS servers said."""
    out: list[tuple[str, Optional[str]]] = []
    add = out.append
    if f.nameserver:
        add(("Nameserver", f"{f.nameserver} (--mu3e-nameserver)"))
    if f.cs_resolution is not None:
        r = f.cs_resolution
        add(("CS addresses", f"{r.host} → {', '.join(r.addresses)} ({r.resolver})"))
    if f.cs_tcp:
        add(("CS TCP", f.cs_tcp))
    if f.cs_tls is not None:
        t = f.cs_tls
        add(("CS certificate and TLS", f"server {t.subject}, issued by {t.issuer}, valid until "
                                       f"{_time(t.not_after)}; {t.version}, {t.cipher}"))
    if f.cs_ping is not None:
        p = f.cs_ping
        add(("CS DIRAC version", f"{p.service} runs DIRAC {p.version}; round trip "
                                 f"{p.round_trip:.2f} s"))
    if f.cs_clock_skew is not None:
        add(("Clock offset to the CS", f"{f.cs_clock_skew:+.1f} s (server minus ours)"))
    out += [(f"CS {s.name}", s.line) for s in f.cs_servers]
    if f.cs_versions is not None:
        v = f.cs_versions
        add(("DIRAC client/server versions", f"client {v.client}, server {v.server}: {v.level}"))
    if f.cs_data is not None:
        c = f.cs_data
        add(("CS data", f"{c.size} bytes compressed; /Registry: {c.users} users, "
                        f"{c.groups} groups, {c.vos} VOs"))
    reg = f.registry
    if reg is not None and reg.nicks:
        add(("CS Registry nick", f"{reg.nick} ({'; '.join(reg.dns)})" if reg.dns else reg.nick))
    if reg is not None and reg.group is not None:
        g = reg.group
        add(("CS Registry group", f"{g.name}: {g.users} users, VOMSRole {g.voms_role or 'none'}"))
    if reg is not None and reg.voms is not None:
        v2 = reg.voms
        add(("CS VOMS view", f"group {v2.group}: VOMSRole {v2.role or 'none'}, VOMSVO "
                             f"{v2.voms_vo}; VO {v2.vo} VOMS servers "
                             f"{', '.join(v2.hosts) or 'none'}"))
    out += [(f"CS {service}", ", ".join(urls)) for service, urls in f.cs_services]
    if f.upload is not None:
        u = f.upload
        add(("ProxyManager upload", f"{u.url} holds your proxy until "
                                    f"{_time(u.expires)} ({u.hours_left:.0f} h left)"))
    out += [(f"VOMS {s.name}", s.line) for s in f.voms_servers]
    if f.crl_updater:
        add(("CRL updater", "; ".join(
            f"{r.source} ({r.how}{', ' + r.schedule if r.schedule else ''}) writes to "
            f"{r.output} ({r.output_from})" for r in f.crl_updater)))
    if f.whoami is not None:
        w = f.whoami
        add(("CS sees you as", f"{w.username} in group {w.group} ({w.dn})"))
    return out
