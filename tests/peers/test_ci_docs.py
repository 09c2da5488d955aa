"""docs/ci.md's GitLab CI and GitHub Actions jobs, run as written against a site-like tree.

Each job's environment (GitLab ``variables:``, GitHub ``env:``) and shell script (GitLab
``script:`` lines, GitHub's ``run: |`` block) are read from docs/ci.md, so the page cannot drift
from what is tested, and run by bash in a directory holding mu3e-checks.pyz, as the job's
checkout does.  The test stands in for the image and the runner and sets only what they
would: ``DIRACOS_PREFIX`` (where this image holds DIRACOS), ``MU3E_OFFLINE=1`` (the page's
advice for a runner without outbound network: the test machine has none),
``MU3E_CRL_UPDATER`` (the image's cron entry lives in a tmp tree, not in this machine's
/etc/cron.d), and an empty home.  DIRACOS's ``python3`` is the real DIRAC 8.0.74 environment's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.diracos_trees import build_diracos
from tests.support.pki_factory import DAY, crls_for
from tests.support.runner import ROOT, parse_junit
from tests.support.worlds import UKGrid

CI_MD = ROOT / "docs" / "ci.md"
DIRAC_VENV = Path(os.environ.get("MU3E_TEST_DIRAC", "/opt/mu3e-dirac-8.0.74"))


def yaml_block(heading: str) -> list[str]:
    text = CI_MD.read_text(encoding="utf-8")
    section = text[text.index(f"## {heading}\n"):]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1).splitlines()


def _mapping(lines: list[str], key: str) -> dict[str, str]:
    """``key:``'s entries (``NAME: value``, one indentation level deeper), values unquoted."""
    out: dict[str, str] = {}
    for i, line in enumerate(lines):
        if line.strip() == f"{key}:":
            indent = len(line) - len(line.lstrip()) + 2
            for entry in lines[i + 1:]:
                if len(entry) - len(entry.lstrip()) != indent or ":" not in entry:
                    break
                name, value = entry.strip().split(":", 1)
                out[name] = value.split(" #")[0].strip().strip('"')
            return out
    raise AssertionError(f"no {key}: in docs/ci.md")


def gitlab_job() -> tuple[dict[str, str], str]:
    lines = yaml_block("GitLab CI")
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "script:")
    script = []
    for line in lines[start + 1:]:
        if not line.strip().startswith("- "):
            break
        script.append(line.strip()[2:])
    return _mapping(lines, "variables"), "set -e\n" + "\n".join(script) + "\n"


def github_job() -> tuple[dict[str, str], str]:
    lines = yaml_block("GitHub Actions")
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "run: |")
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    body = []
    for line in lines[start + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        body.append(line[indent:])
    # `shell: bash` runs the block as: bash --noprofile --norc -eo pipefail {0}
    return _mapping(lines, "env"), "set -eo pipefail\n" + "\n".join(body) + "\n"


@pytest.fixture(scope="module")
def uk() -> UKGrid:
    return UKGrid()


def site_image(tmp_path: Path, uk: UKGrid, *, broken: bool = False) -> tuple[Path, Path, Path]:
    """(DIRACOS prefix, its fetch-crl cron entry, the account's empty home)."""
    home = tmp_path / "home"
    home.mkdir()
    crls = crls_for(uk.pki, uk.cas)
    if broken:  # the updater did not run: the required CA's CRL went stale
        crls[id(uk.ca)] = uk.pki.crl(uk.ca, last_update=uk.pki.now - 9 * DAY,
                                     next_update=uk.pki.now - DAY)
    tree = build_diracos(home, prefix=tmp_path / "image" / "opt" / "diracos")
    uk.trust_dir(tree.cert_dir, crls=crls)
    assert (DIRAC_VENV / "bin" / "python3").exists(), f"no DIRAC 8.0.74 in {DIRAC_VENV}"
    (tree.bin / "python3").symlink_to(DIRAC_VENV / "bin" / "python3")  # DIRACOS's Python
    cron = tmp_path / "image" / "etc" / "cron.d" / "fetch-crl"
    cron.parent.mkdir(parents=True)
    cron.write_text(f"42 */6 * * * root fetch-crl -q -r 360 -l {tree.cert_dir}\n")
    return tree.prefix, cron, home


def run_job(job: tuple[dict[str, str], str], pyz: Path, tmp_path: Path, uk: UKGrid, *,
            broken: bool = False) -> tuple[subprocess.CompletedProcess[str], Path]:
    variables, script = job
    assert variables.get("MU3E_PROFILE") == "site"
    prefix, cron, home = site_image(tmp_path, uk, broken=broken)
    workspace = tmp_path / "checkout"
    workspace.mkdir()
    shutil.copy(pyz, workspace / "mu3e-checks.pyz")
    env = {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           **variables, "DIRACOS_PREFIX": str(prefix), "MU3E_OFFLINE": "1",
           "MU3E_CRL_UPDATER": str(cron),
           "MU3E_SYSTEM_CERT_DIR": str(tmp_path / "no-system-cert-dir")}
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], cwd=workspace, env=env,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    return proc, workspace


JOBS = {"GitLab CI": gitlab_job, "GitHub Actions": github_job}


@pytest.mark.parametrize("name", JOBS)
def test_the_job_passes_a_right_site_image(name, pyz, uk, tmp_path):
    proc, workspace = run_job(JOBS[name](), pyz, tmp_path, uk)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "READY" in proc.stdout and "NOT READY" not in proc.stdout
    cases = parse_junit(workspace / "mu3e-site.xml")
    assert cases["CRL-005"].outcome == "passed" and cases["DIRAC-002"].outcome == "passed"
    assert cases["CERT-001"].outcome == "skipped"
    assert "not part of a site check" in cases["CERT-001"].message
    assert (workspace / "mu3e-site.json").is_file() and list((workspace / "reports").iterdir())


@pytest.mark.parametrize("name", JOBS)
def test_the_job_fails_a_broken_site_image_naming_the_fault(name, pyz, uk, tmp_path):
    proc, workspace = run_job(JOBS[name](), pyz, tmp_path, uk, broken=True)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "NOT READY: 1 check(s) failed; start with CRL-003" in proc.stdout
    cases = parse_junit(workspace / "mu3e-site.xml")
    assert cases["CRL-003"].outcome == "failed" and "fetch-crl" in cases["CRL-003"].fix
