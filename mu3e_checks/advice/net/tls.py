"""What a failed TLS layer means for the user, and what to run: one entry per kind."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Optional

from mu3e_checks import commands
from mu3e_checks.advice.net import Advice
from mu3e_checks.advice.trust import bundle_fix
from mu3e_checks.knowledge import pki
from mu3e_checks.knowledge.net import ServiceUrl
from mu3e_checks.knowledge.net.tls import Refusal, TlsFailure, TlsFailureKind
from mu3e_checks.remedy import Remedy, join, say


def explain(failure: TlsFailure, target: ServiceUrl, advice: Advice,
            now: Optional[_dt.datetime] = None) -> tuple[str, Remedy]:
    """What a failed TLS layer means for the user, and what to run: one entry per kind.

    Everything the server sent (its DNs, its names) goes into the message, which is made
    visible, or into a remedy as a value, which is quoted: never into a fix's own text.
    """
    server = failure.server
    kind = failure.kind
    trust_dir = advice.trust_dir or Path(".")
    if kind is TlsFailureKind.UNKNOWN_CA:
        issuer = server.issuer if server else "unknown"
        wanted = list(advice.required_cas) if "eScience" in issuer else [issuer]
        return (f"the server's certificate ({server.subject if server else '?'}) is issued by "
                f"'{issuer}', which your trust dir {trust_dir} cannot verify: that CA, or a CA "
                f"above it, is not installed ({failure.detail})",
                bundle_fix(trust_dir, wanted, {}, advice.ca_repository))
    if kind is TlsFailureKind.HOSTNAME_MISMATCH:
        names = ", ".join(server.names) if server and server.names else "other names"
        better = server.names[0] if server and server.names else None
        fix = (commands.configure(advice.setup, f"dips://{better}:{target.port}/"
                                  f"{target.service}", note="if that is the right server")
               if better else advice.configure())
        return (f"the server's certificate is for {names}, not for {target.host}: the URL "
                "uses another name than the server's, or something intercepts the connection",
                fix)
    if kind is TlsFailureKind.EXPIRED:
        if server and server.not_after < (now or pki.utcnow()):
            return (f"the server's certificate ({server.subject}) expired on "
                    f"{pki.fmt_time(server.not_after)}; its admins must renew it",
                    say("nothing to change on your side: tell the Mu3e computing contacts "
                        "that the certificate of {host} has expired", host=target.host))
        return ("a CA certificate in the server's chain has expired in your trust dir "
                f"{trust_dir}",
                bundle_fix(trust_dir, advice.required_cas, {}, advice.ca_repository))
    if kind is TlsFailureKind.NOT_YET_VALID:
        return (f"the server's certificate is not valid yet ({failure.detail}): this "
                "machine's clock is probably wrong",
                commands.utc_date(note="compare with the real UTC time; sudo timedatectl "
                                  "set-ntp true"))
    if kind is TlsFailureKind.CLIENT_CERT_REJECTED:
        return explain_refusal(failure, target, advice)
    if kind is TlsFailureKind.NO_VERDICT:
        return (f"{failure.detail}: the service hangs after the handshake, or something that "
                "is not DIRAC holds the port",
                join(commands.tls_client_test(target.host, target.port, trust_dir,
                                              note="see whether the server says anything"),
                     say('tell the Mu3e computing contacts; DIRAC itself would say only '
                         '"Can\'t connect"')))
    if kind is TlsFailureKind.TIMEOUT:
        return (f"{failure.detail}: the server accepts TCP but does not talk TLS in time — an "
                "interfering firewall or proxy, or the service hangs",
                commands.tls_client_test(target.host, target.port, trust_dir,
                                         note="see where it stops"))
    if kind is TlsFailureKind.NOT_TLS:
        return (f"{failure.detail}: something other than a DIRAC service listens on "
                f"{target.host}:{target.port}, or the URL's port is wrong", advice.configure())
    if kind is TlsFailureKind.BAD_PROXY:
        return failure.detail, advice.proxy_init()
    if kind is TlsFailureKind.NO_TRUST_DIR:
        return failure.detail, bundle_fix(trust_dir, advice.required_cas, {}, advice.ca_repository)
    return (f"TLS with {target.host}:{target.port} failed: {failure.detail}",
            commands.tls_client_test(target.host, target.port, trust_dir))


def explain_refusal(failure: TlsFailure, target: ServiceUrl, advice: Advice
                    ) -> tuple[str, Remedy]:
    """The server does not accept the certificate we presented: who can change that.

    A server that does not trust the CA behind the user's certificate (an ``unknown_ca``
    alert, or a close right after the handshake, DIRAC's "Peer closed connection") is not
    helped by a new proxy: only its admins can add the CA, so the VO admins are asked, with the
    issuer named.  A revoked certificate needs a new certificate; an expired one, or one the
    server cannot use, a fresh proxy.
    """
    cred = failure.credential
    issuer = (cred.issuer if cred is not None else "") or "an unknown CA"
    dn = cred.identity if cred is not None else ""
    where = f"{target.host}:{target.port}"
    refusal = failure.refusal
    if refusal in (Refusal.UNKNOWN_CA, Refusal.CLOSED):
        how = ("it answered with the alert unknown_ca" if refusal is Refusal.UNKNOWN_CA else
               "it closed the connection right after the TLS handshake, without a DISET answer "
               "(DIRAC shows 'Peer closed connection'); in TLS 1.3 that is how a server turns "
               "down a client certificate")
        ask = say("ask the Mu3e VO admins whether {host} accepts certificates issued by "
                  "{issuer} (a new proxy does not help); send them your DN:", host=target.host,
                  issuer=issuer)
        return (f"the server does not accept your certificate: {how}. Your certificate is "
                f"issued by '{issuer}', a CA the server at {where} does not trust (or cannot "
                "verify your chain up to)", join(ask, say("{dn}", dn=dn) if dn else None))
    if refusal is Refusal.CERTIFICATE_REVOKED:
        return (f"the server does not accept your certificate: {failure.detail}; a new proxy "
                "does not help",
                say("request a new certificate from the CA that issued yours ({issuer}), then "
                    "follow the guide's certificate steps again", issuer=issuer))
    return (f"the server verified fine but rejected your proxy: {failure.detail}",
            advice.proxy_init(note="a fresh proxy; if the server still rejects it, send "
                              "your DN and this message to the Mu3e VO admin"))
