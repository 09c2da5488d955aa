"""The real fetch-crl decides where a scheduled run writes its CRLs; CRL-005 must agree.

For each way a site can aim fetch-crl (``-l``, ``-o``, ``--infodir=``, ``infodir``/``output`` in
its configuration, a ``cfgdir`` file), the same command line is given to CRL-005's reading
(:func:`mu3e_checks.knowledge.crl_updater.runs_in`) and run with the real fetch-crl against a
loopback CRL server.  The directory that received the CRL is the answer.  Every variant names
its own ``-c`` file, so the machine's /etc/fetch-crl.conf is never used.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mu3e_checks.knowledge import crl_updater as u

pytestmark = pytest.mark.skipif(not shutil.which("fetch-crl"), reason="needs fetch-crl")

#: (fetch-crl options, fetch-crl.conf text, cfgdir file text, the directory that must get the
#: CRL).  A = the metadata directory (crl_url files), B = another directory.
VARIANTS = [
    ("-l {A}", "", "", "A"),
    ("-l {A} -o {B}", "", "", "B"),
    ("--infodir={A}", "", "", "A"),
    ("", "infodir = {A}", "", "A"),
    ("", "infodir = {A}\noutput = {B}", "", "B"),
    ("-l {A}", "output = {B}", "", "B"),
    ("-o {B}", "infodir = {A}", "", "B"),
    ("", "infodir = {A}\ncfgdir = {D}", "output = {B}", "B"),
]


@pytest.mark.parametrize("options, conf, extra, expected", VARIANTS)
def test_crl_005_reads_a_command_line_as_fetch_crl_runs_it(tmp_path, options, conf, extra,
                                                            expected):
    from tests.support.crl_server import serve
    from tests.support.pki_factory import PKI, pem, subject_hash

    pki = PKI()
    ca = pki.ca("Oracle Updater CA")
    h = subject_hash(ca.cert)
    dirs = {k: tmp_path / k for k in "ABD"}
    for d in dirs.values():
        d.mkdir()
    values = {k: str(v) for k, v in dirs.items()}
    config = tmp_path / "fetch-crl.conf"
    config.write_text(conf.format(**values) + "\n")
    if extra:
        (dirs["D"] / "site.conf").write_text(extra.format(**values) + "\n")
    line = f"fetch-crl -c {config} {options.format(**values)}"
    [run] = u.runs_in(line, source=Path("/etc/cron.d/test"), how="cron", schedule="",
                      root=Path("/"), env={})
    assert run.output == dirs[expected], (run.output, run.output_from)

    with serve({f"/{h}.crl": pem(pki.crl(ca))}) as server:
        (dirs["A"] / "OracleCA.pem").write_bytes(ca.cert_pem())
        (dirs["A"] / f"{h}.0").symlink_to("OracleCA.pem")
        (dirs["A"] / "OracleCA.crl_url").write_text(f"{server.base}/{h}.crl\n")
        peer = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120)
    assert peer.returncode == 0, peer.stdout + peer.stderr
    landed = sorted(k for k, d in dirs.items() if list(d.glob("*.r0")))
    assert landed == [expected], (landed, peer.stderr)
