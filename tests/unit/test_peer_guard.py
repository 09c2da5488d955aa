"""The guard behind `-m "not peer"`: an unmarked test that starts a real peer fails."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import peer_guard


def test_starting_a_peer_from_an_unmarked_test_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran"
    peer_guard.install()
    peer_guard.guard("this test", True)
    try:
        with pytest.raises(peer_guard.PeerNotMarked, match="openssl"):
            subprocess.run(["openssl", "version", "-out", str(marker)], check=False)
        with pytest.raises(peer_guard.PeerNotMarked, match="dirac-proxy-init"):
            subprocess.run(["/opt/mu3e-dirac-8.0.74/bin/dirac-proxy-init", "--help"])
        # Ordinary programs (Python itself, bash) are not peers.
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    finally:
        peer_guard.guard("", False)
    assert not marker.exists()


def test_peer_names_are_recognised_by_path_and_name():
    assert peer_guard.peer_program("/usr/bin/chromium")
    assert peer_guard.peer_program("fetch-crl")
    assert peer_guard.peer_program(str(peer_guard.DIRAC_VENV / "bin" / "python"))
    assert not peer_guard.peer_program("/usr/bin/bash")


def test_a_peer_test_that_skips_fails_in_ci_and_only_skips_elsewhere(tmp_path):
    """The promise behind .ci/run's ``CI=true``: a test marked ``peer`` that skips because its
    real program is missing is a failure in CI, so a missing install step cannot pass as green;
    on a developer's machine it stays a skip.  Runs the project's own conftest on a probe test."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n\n\n@pytest.mark.peer\ndef test_needs_a_peer():\n"
        "    pytest.skip('needs openssl')\n\n\n"
        "@pytest.mark.peer\n@pytest.mark.xfail(strict=True, reason='a known bug')\n"
        "def test_known_bug():\n    assert False\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(root)

    def run(**extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p",
                               "no:cacheprovider", "-q", "-rs", "test_probe.py"], cwd=tmp_path,
                              env={**env, **extra}, capture_output=True, text=True, timeout=120)

    here = run()
    assert here.returncode == 0 and "1 skipped" in here.stdout, here.stdout + here.stderr
    ci = run(CI="true")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "a real peer this test needs is missing" in ci.stdout and "needs openssl" in ci.stdout
    # An expected failure of a peer test is no missing peer: it stays xfailed in CI too.
    assert "1 failed, 1 xfailed" in ci.stdout, ci.stdout
