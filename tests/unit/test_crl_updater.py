"""Where a site's fetch-crl runs write, and whether they run: cron tables, timers, config.

Each machine layout is a tree under tmp_path used as ``root``; the cron line, unit files and
configuration are the ones the Debian fetch-crl 3.0.22 package installs (copied here as text, so
the test does not depend on the package being installed), plus the variants a site writes.
Where fetch-crl itself decides (which option wins), tests/peers/test_crl_updater_oracle.py
asks the real fetch-crl.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mu3e_checks.knowledge import crl_updater as u

#: /etc/cron.d/fetch-crl of Debian's fetch-crl 3.0.22 (EPEL's differs only in the lock path).
PACKAGED_CRON = """\
# Cron job running by default every 6 hours, at 45 minutes +/- 3 minutes
42 */6 * * *\troot\t[ ! -f /var/lock/fetch-crl-cron ] || ( [ -f /etc/default/fetch-crl ] \
&& . /etc/default/fetch-crl ; /usr/sbin/fetch-crl -q -r 360 $FETCHCRL_OPTIONS \
$FETCHCRL_CRON_OPTIONS )
"""
PACKAGED_TIMER = "[Unit]\nDescription=Run fetch-crl every 6 hours\n\n[Timer]\nOnBootSec=1min\n" \
                 "OnUnitActiveSec=6h\n\n[Install]\nWantedBy=timers.target\n"
PACKAGED_SERVICE = "[Unit]\nDescription=Run fetch-crl once\n\n[Service]\n" \
                   "EnvironmentFile=-/etc/default/fetch-crl\n" \
                   "ExecStart=/usr/sbin/fetch-crl -q $FETCHCRL_OPTIONS $FETCHCRL_BOOT_OPTIONS\n"
PACKAGED_CONF = "infodir = /etc/grid-security/certificates\nagingtolerance = 24\nsymlinks\n"
SITE_DIR = Path("/opt/diracos/etc/grid-security/certificates")


def put(root: Path, path: str, text: str) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


@pytest.fixture
def machine(tmp_path) -> Path:
    """A machine with the fetch-crl package installed and nothing switched on."""
    put(tmp_path, "/etc/cron.d/fetch-crl", PACKAGED_CRON)
    put(tmp_path, "/etc/fetch-crl.conf", PACKAGED_CONF)
    put(tmp_path, "/usr/lib/systemd/system/fetch-crl.timer", PACKAGED_TIMER)
    put(tmp_path, "/usr/lib/systemd/system/fetch-crl.service", PACKAGED_SERVICE)
    return tmp_path


def test_the_packaged_cron_entry_is_off_until_its_switch_exists(machine):
    found = u.survey(machine)
    assert len(found.runs) == 1, found.runs  # /etc/default/fetch-crl is a file, not a command
    run = found.runs[0]
    assert run.schedule == "42 */6 * * *"
    assert run.output == Path("/etc/grid-security/certificates")
    assert run.output_from == "infodir = in /etc/fetch-crl.conf"
    assert run.switch == Path("/var/lock/fetch-crl-cron") and "does not" in run.off
    assert found.serving(Path("/etc/grid-security/certificates")) == []
    assert found.idle and "fetch-crl.timer is installed but not enabled" in found.idle[0]

    put(machine, "/var/lock/fetch-crl-cron", "")
    on = u.survey(machine)
    assert on.runs[0].off == "" and on.serving(Path("/etc/grid-security/certificates"))


def test_options_from_the_environment_file_redirect_the_cron_entry(machine):
    put(machine, "/var/lock/fetch-crl-cron", "")
    put(machine, "/etc/default/fetch-crl", f'FETCHCRL_OPTIONS="-l {SITE_DIR} -p 4"\n')
    run = u.survey(machine).runs[0]
    assert (run.output, run.output_from) == (SITE_DIR, "its -l option")


def test_an_enabled_timer_counts_with_its_service_and_environment(machine):
    os.remove(machine / "etc/cron.d/fetch-crl")
    wants = machine / "etc/systemd/system/timers.target.wants"
    wants.mkdir(parents=True)
    # An absolute link as systemctl makes it: it points into the real machine, so the unit
    # is looked up by name under root.
    (wants / "fetch-crl.timer").symlink_to("/usr/lib/systemd/system/fetch-crl.timer")
    put(machine, "/etc/default/fetch-crl", f"FETCHCRL_OPTIONS='-o {SITE_DIR}'\n")
    found = u.survey(machine)
    assert found.idle == ()
    [run] = found.runs
    assert run.how == "systemd timer fetch-crl.timer"
    assert run.schedule == "OnBootSec=1min, OnUnitActiveSec=6h"
    assert run.source == Path("/usr/lib/systemd/system/fetch-crl.service")
    assert (run.output, run.output_from, run.off) == (SITE_DIR, "its -o option", "")


@pytest.mark.parametrize("line, output, said", [
    (f"0 3 * * * root /usr/sbin/fetch-crl -q -l {SITE_DIR}", SITE_DIR, "its -l option"),
    (f"@daily root fetch-crl --infodir={SITE_DIR}", SITE_DIR, "its -l option"),
    (f"17 */4 * * * root fetch-crl -l /x -o {SITE_DIR}", SITE_DIR, "its -o option"),
    ("17 */4 * * * root nice fetch-crl -c /etc/site-crl.conf", SITE_DIR,
     "infodir = in /etc/site-crl.conf"),
    ("17 */4 * * * root fetch-crl", Path("/etc/grid-security/certificates"),
     "infodir = in /etc/fetch-crl.conf"),
])
def test_where_a_cron_line_writes(tmp_path, line, output, said):
    put(tmp_path, "/etc/fetch-crl.conf", PACKAGED_CONF)
    put(tmp_path, "/etc/site-crl.conf", f"# site\ninfodir = {SITE_DIR}\n[some-ca]\noutput=/x\n")
    put(tmp_path, "/etc/cron.d/site", f"MAILTO=root\n{line}\n")
    [run] = u.survey(tmp_path).runs
    assert (run.output, run.output_from, run.off) == (output, said, "")


def test_fetch_crl_d_overrides_the_main_configuration(tmp_path):
    put(tmp_path, "/etc/fetch-crl.conf", PACKAGED_CONF)
    put(tmp_path, "/etc/fetch-crl.d/site.conf", f"infodir = {SITE_DIR}\n")
    put(tmp_path, "/etc/crontab", "SHELL=/bin/sh\n5 */6 * * * root fetch-crl -q\n")
    [run] = u.survey(tmp_path).runs
    assert run.output == SITE_DIR and run.source == Path("/etc/crontab")


def test_user_crontabs_and_cron_scripts_are_found(tmp_path):
    put(tmp_path, "/var/spool/cron/crontabs/gridadm", f"30 1 * * * fetch-crl -l {SITE_DIR}\n")
    put(tmp_path, "/etc/cron.daily/crls",
        f"#!/bin/sh\nif [ -x /usr/sbin/fetch-crl ]; then\n  /usr/sbin/fetch-crl -q -r 5 -l "
        f"{SITE_DIR}\nfi\n")
    runs = u.survey(tmp_path).runs
    assert [(r.source.name, r.schedule, r.output) for r in runs] == [
        ("gridadm", "30 1 * * *", SITE_DIR), ("crls", "", SITE_DIR)]
    assert runs[1].how == "script in /etc/cron.daily"


def test_a_guard_right_before_the_command_counts_and_commented_lines_do_not(tmp_path):
    put(tmp_path, "/etc/cron.d/site",
        f"# 0 * * * * root fetch-crl -l /elsewhere\n"
        f"0 * * * * root [ -f /etc/crl-enabled ] && fetch-crl -l {SITE_DIR}\n")
    [run] = u.survey(tmp_path).runs
    assert run.switch == Path("/etc/crl-enabled")


def test_a_named_updater_is_the_only_one_looked_at(machine, tmp_path):
    named = put(tmp_path, "site/crl-updater.cron", f"42 */6 * * * root fetch-crl -l {SITE_DIR}\n")
    found = u.survey(machine, named=named)
    assert [r.output for r in found.runs] == [SITE_DIR] and found.looked_in == (str(named),)
    service = put(tmp_path, "site/crl.service", f"[Service]\nExecStart=/usr/sbin/fetch-crl -l "
                  f"{SITE_DIR}\n")
    assert u.survey(machine, named=service).runs[0].how.startswith("systemd service crl.service")


@pytest.mark.parametrize("make, problem", [
    (lambda p: p.write_text("0 * * * * root /usr/local/bin/refresh-things\n"),
     "runs no fetch-crl command"),
    (lambda p: os.mkfifo(p), "named pipe"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: None, "does not exist"),
    (lambda p: p.write_bytes(b"\x1b[31m(" * 10 + b"\xff unbalanced ' quote fetch-crl\n"),
     "runs no fetch-crl command"),
])
def test_a_named_updater_that_cannot_be_used_is_named(tmp_path, make, problem):
    named = tmp_path / "updater"
    make(named)
    found = u.survey(tmp_path, named=named)
    assert found.runs == () and problem in found.problem and "--mu3e-crl-updater" in found.problem


def test_nothing_scheduled_is_an_empty_survey_that_says_where_it_looked(tmp_path):
    found = u.survey(tmp_path)
    assert found.runs == () and "/etc/cron.d" in found.looked_in and found.problem == ""


def test_a_hostile_cron_directory_is_bounded_and_never_blocks(tmp_path):
    d = tmp_path / "etc/cron.d"
    d.mkdir(parents=True)
    os.mkfifo(d / "a-fifo")
    (d / "huge").write_bytes(b"# " + b"x" * (u.MAX_FILE + 10))
    os.symlink("loop", d / "loop")
    (d / "zz-fetch").write_text(f"0 0 * * * root fetch-crl -l {SITE_DIR}\n")
    assert [r.source.name for r in u.survey(tmp_path).runs] == ["zz-fetch"]
    for n in range(u.MAX_ENTRIES + 50):
        (d / f"f{n:04d}").write_text("0 0 * * * root true\n")
    assert len(u._names(d)) == u.MAX_ENTRIES  # a directory of thousands cannot stall the run
