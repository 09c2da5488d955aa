"""Every test under tests/peers runs a real external program: marked ``peer`` here, once."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/peers/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.peer)


@pytest.fixture(scope="module")
def responder(loopback_only):
    """The DNS server the real-DIRAC tests' diagnoses ask: it knows no names, because the
    services run on ``localhost``, which comes from /etc/hosts; nothing else is asked."""
    from tests.support.dns_responder import DnsResponder

    with DnsResponder({}) as r:
        yield r
