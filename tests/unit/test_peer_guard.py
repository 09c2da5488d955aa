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
