"""Every test under tests/peers runs a real external program: marked ``peer`` here, once."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

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


@pytest.fixture(scope="session")
def pyz(tmp_path_factory) -> Path:
    """mu3e-checks.pyz of this checkout: $MU3E_TEST_PYZ (.ci/run builds it once and sets it),
    else built now with .ci/build-pyz (needs PyPI)."""
    from tests.support.runner import ROOT

    given = os.environ.get("MU3E_TEST_PYZ")
    if given:
        assert Path(given).is_file(), f"MU3E_TEST_PYZ={given} is not a file"
        return Path(given)
    out = tmp_path_factory.mktemp("pyz") / "mu3e-checks.pyz"
    build = subprocess.run([str(ROOT / ".ci" / "build-pyz"), str(out)], capture_output=True,
                           text=True, timeout=900)
    assert build.returncode == 0, build.stdout + build.stderr
    return out
