"""Fixtures for the project's own test suite (not for the diagnosis: see mu3e_checks/checks)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import peer_guard
from tests.support.worlds import World


@pytest.fixture(scope="session")
def grid() -> World:
    """The neutral test grid (tests/support/worlds.py), one per session."""
    return World()


@pytest.fixture(scope="module")
def loopback_only():
    """A network test module runs inside a loopback-only network namespace (tests/netns.py)."""
    from tests.support.netns import loopback_namespace

    with loopback_namespace() as isolated:
        yield isolated


@pytest.fixture(scope="module")
def net_world(grid, tmp_path_factory):
    """Host CA, server certificates, proxies and trust dir for the network tests."""
    from tests.support.net_world import NetWorld

    return NetWorld(grid, tmp_path_factory.mktemp("net"))

@pytest.fixture(scope="session")
def dirac_releases() -> dict[str, Path]:
    """The real DIRAC and setuptools releases the DIRACOS trees use, pip-installed once."""
    from tests.support.diracos_trees import pip_release

    wanted = [("DIRAC", "8.0.74"), ("DIRAC", "8.0.86"), ("DIRAC", "9.1.22"),
              ("setuptools", "81.0.0"), ("setuptools", "82.0.0")]
    return {f"{n}=={v}": pip_release(n, v) for n, v in wanted}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test not marked ``peer`` may not start a real external program, not even from the
    fixtures it sets up (see tests/support/peer_guard.py)."""
    peer_guard.install()
    peer_guard.guard(item.nodeid, item.get_closest_marker("peer") is None)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    peer_guard.guard("", False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A test that runs a real peer may skip on a developer's machine when the peer is missing;
    in CI (``CI`` set, as .ci/run's environment has it) that skip is a failure, so a missing
    install step can never pass as green.  An expected failure (``xfail``, reported as a skip
    with ``wasxfail``) is not a missing peer and stays what it is."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") \
            and item.get_closest_marker("peer") is not None and os.environ.get("CI"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"CI: a real peer this test needs is missing ({reason}); " \
                          "install it in .ci/install-peers"
