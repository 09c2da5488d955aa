"""The servers of a list (the Configuration Servers, a VO's VOMS servers) in words.

The knowledge layer probes each server and keeps, per server, the layer it stopped at and the
typed reason (:class:`~mu3e_checks.knowledge.net.servers.ServerVerdict`); here each verdict
gets its message and fix, through the advice of the layer that broke, and the report's line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from mu3e_checks.advice.net import Advice, explain_url
from mu3e_checks.knowledge.net.servers import Layer, LayerVerdict, ServerVerdict, Serving
from mu3e_checks.remedy import Remedy


def explain_layer(layer: str, cause: object, target: Any, advice: Advice, *,
                  attempts: Sequence[Any] = (), timeout: float = 0.0,
                  what: str = "ping") -> tuple[str, Remedy]:
    """A probe that stopped at ``layer`` ("dns", "tcp", "tls"; any other is the DISET call
    ``what``) in words, with that layer's fix: one dispatch for a Configuration Server, a
    VOMS server and the ProxyManager alike (``cause`` is the layer's typed reason)."""
    from mu3e_checks.advice.net import diset, dns, tcp, tls

    if layer == "dns":
        return dns.explain(cause, target, advice)  # type: ignore[arg-type]
    if layer == "tcp":
        return tcp.explain(cause, attempts, target, timeout)  # type: ignore[arg-type]
    if layer == "tls":
        return tls.explain(cause, target, advice)  # type: ignore[arg-type]
    return diset.explain(cause, target, what, advice)  # type: ignore[arg-type]


def explained(v: ServerVerdict, advice: Advice) -> tuple[str, Optional[Remedy]]:
    """A Configuration Server's verdict in words, with the fix for the layer it stopped at
    (None for one that answers, or whose probe broke in a way no fix addresses)."""
    c = v.cause
    if c is None:
        return v.detail, None
    if v.layer is Layer.URL:
        return explain_url(c, advice)  # type: ignore[arg-type]
    assert v.target is not None
    return explain_layer(v.layer.value, c, v.target, advice, attempts=v.attempts,
                         timeout=v.timeout)


def message(v: ServerVerdict, advice: Advice) -> str:
    return explained(v, advice)[0]


def line(v: LayerVerdict, text: str) -> str:
    """One table line for the report: the verdict's state, time and ``text`` (its message)."""
    state = "answers" if v.answers else f"dead at {v.layer.value.upper()}"
    return f"{state} ({v.seconds:.1f} s): {text}"


def dead(v: LayerVerdict, name: str, text: str) -> str:
    """``name`` and where and why it is dead (``text``), for a message listing dead servers."""
    return f"{name} (dead at {v.layer.value.upper()}: {text})"


def reached(serving: Serving, advice: Advice) -> str:
    """How far each listed server got, for the message of a layer check none passed."""
    return (f"none of the {len(serving.verdicts)} listed Configuration Servers passes every "
            "layer: " + "; ".join(dead(v, v.url, message(v, advice))
                                  for v in serving.verdicts))
