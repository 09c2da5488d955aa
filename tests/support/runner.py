"""Run the diagnosis the way a user does, in a subprocess, and read back its JUnit XML.

Subprocesses keep each run hermetic (HOME, X509_* variables, uid-based paths) and exercise the
real entry point, option parsing and exit code.  ``PYTHONPATH`` points at this checkout so a
test always runs the code next to it, whatever copy of the package is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
#: pytest 9.2 shortens a JUnit failure's ``message`` to its first line and points at the text.
_SHORTENED = re.compile(r"\[\+\d+ more lines?; full report in element text\]\s*$")

#: Variables of the developer's own grid setup that must never leak into a test run.
_SCRUB_PREFIXES = ("X509_", "DIRAC", "GRID_", "MU3E_", "PYTEST_", "VOMS")


def clean_env(home: Path, extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES)}
    env["HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


@dataclass
class Case:
    """One check's outcome as JUnit recorded it."""

    id: str
    outcome: str  # passed | warned | failed | error | skipped
    message: str
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def fix(self) -> str:
        return self.properties.get("fix", "")


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    cases: dict[str, Case]
    junit: Path
    html: Optional[Path] = None

    def __getitem__(self, check_id: str) -> Case:
        try:
            return self.cases[check_id]
        except KeyError:
            raise AssertionError(f"{check_id} did not run; ran: {sorted(self.cases)}\n"
                                 f"{self.stdout[-3000:]}\n{self.stderr[-2000:]}") from None

    def outcome(self, check_id: str) -> str:
        return self[check_id].outcome

    def failed(self) -> list[str]:
        return [c.id for c in self.cases.values() if c.outcome in ("failed", "error")]


def parse_junit(path: Path) -> dict[str, Case]:
    cases: dict[str, Case] = {}
    for tc in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in tc.iter("property")}
        cid = props.get("check")
        if not cid:
            continue
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = tc.find(tag)
            if el is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = el.get("message", "") or (el.text or "")
                if _SHORTENED.search(message) and el.text:  # pytest >= 9.2 keeps one line
                    message = el.text
                break
        if outcome == "passed" and "warning" in props:
            outcome, message = "warned", props["warning"]
        cases[cid] = Case(cid, outcome, message, props)
    return cases


#: A fix is an exact command with the user's values filled in: never a hole to fill by hand.
_PLACEHOLDER = re.compile(r"<[a-z][a-z0-9 _./-]*>|\bfill in\b", re.IGNORECASE)
#: What only a crash prints.
_CRASH_SIGNS = ("INTERNALERROR", "Traceback (most recent call last)")
SKIP_KINDS = ("prerequisite", "selection")


def invariant_violations(r: RunResult) -> list[str]:
    """What a diagnosis run must never do, whatever the setup (issue 19's promises):

    - no check breaks (outcome ``error``), and nothing crashes (no INTERNALERROR, traceback or
      pytest internal-error exit code);
    - a skip gives only a reason a skip may give: a prerequisite that did not pass, named (and
      in this run failed, broke, was skipped itself, or did not run), or the user's selection;
    - no fix holds a ``<placeholder>`` or "fill in".
    """
    out = []
    text = r.stdout + r.stderr
    for sign in _CRASH_SIGNS:
        if sign in text:
            out.append(f"the run printed {sign!r}")
    if r.returncode == 3:
        out.append("pytest reported an internal error (exit code 3)")
    for c in r.cases.values():
        if c.outcome == "error":
            out.append(f"{c.id} broke: {c.message[:300]}")
        if c.outcome == "skipped":
            kind = c.properties.get("skip", "")
            by = c.properties.get("skipped_by", "")
            if kind not in SKIP_KINDS:
                out.append(f"{c.id} skipped without a typed reason: {c.message[:300]}")
            elif kind == "prerequisite":
                dep = r.cases.get(by)
                if not by:
                    out.append(f"{c.id} skipped for a prerequisite it does not name")
                elif dep is not None and dep.outcome == "passed":
                    out.append(f"{c.id} skipped naming {by}, which {dep.outcome}: "
                               f"{c.message[:300]}")
        hole = _PLACEHOLDER.search(c.fix)
        if hole:
            out.append(f"{c.id}'s fix holds a placeholder {hole.group(0)!r}: {c.fix[:300]}")
    return out


def without_file_capabilities(argv: list[str]) -> list[str]:
    """``argv`` run so that file permissions bind even when the tests run as root (CI does):
    root keeps its uid but loses the capabilities that bypass permission bits."""
    if os.getuid() != 0:
        return argv
    assert shutil.which("setpriv"), "setpriv (util-linux) is needed to drop root's file access"
    drop = "-dac_override,-dac_read_search"
    return ["setpriv", "--bounding-set", drop, "--inh-caps", drop, "--", *argv]


def unprivileged_command() -> list[str]:
    """The diagnosis command, with file permissions binding (:func:`without_file_capabilities`)."""
    return without_file_capabilities([sys.executable, "-m", "pytest", "--pyargs", "mu3e_checks"])


def audit_processes(seen: Path) -> str:
    """Python lines that make the interpreter write every process start (subprocess, exec,
    spawn, system, fork) to ``seen``: prepended to a diagnosis, they hold it to its promise that
    it only reads and starts no program."""
    return ("import sys\n"
            f"seen = open({str(seen)!r}, 'w')\n"
            "def hook(event, args):\n"
            "    if event in ('subprocess.Popen', 'os.exec', 'os.posix_spawn', 'os.system',\n"
            "                 'os.spawn', 'os.fork', 'os.forkpty'):\n"
            "        seen.write(f'{event} {args[:2]!r}\\n'); seen.flush()\n"
            "sys.addaudithook(hook)\n")


def audited_cli(seen: Path) -> list[str]:
    """``mu3e-checks`` under :func:`audit_processes`, as ``run_checks``'s ``command``.  The
    hermetic command, not ``pytest --pyargs``: there, whatever third-party pytest plugins the
    machine has load too (this one's pytest-benchmark runs git and hg), which is not the
    diagnosis."""
    return [sys.executable, "-c", audit_processes(seen) +
            "from mu3e_checks import cli\nsys.exit(cli.main(sys.argv[1:]))\n"]


def run_checks(home: Path, *args: str, env: Optional[Mapping[str, str]] = None,
               cwd: Optional[Path] = None, offline: bool = True, timeout: float = 180,
               command: Optional[Sequence[str]] = None,
               junit: Optional[Path] = None, allow_errors: bool = False) -> RunResult:
    """``pytest --pyargs mu3e_checks`` as a user would type it, against ``home``.

    ``offline`` adds ``--mu3e-offline`` so no test reaches the real Configuration Server.
    Every run is held to :func:`invariant_violations` (the test fails on any), unless
    ``allow_errors`` says the test provokes a broken check on purpose.
    """
    cwd = cwd or home.parent / f"{home.name}-cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    junit = junit or cwd / "junit.xml"
    if junit.exists():
        junit.unlink()
    base = list(command) if command else [sys.executable, "-m", "pytest", "--pyargs",
                                          "mu3e_checks"]
    argv = base + ["-p", "no:cacheprovider", f"--junitxml={junit}", "-q"]
    if offline:
        argv.append("--mu3e-offline")
    argv += list(args)
    run_env = clean_env(home, env)
    # The machine's own /etc/grid-security/certificates must not leak into a verdict.
    run_env.setdefault("MU3E_SYSTEM_CERT_DIR", str(cwd / "no-system-cert-dir"))
    proc = subprocess.run(argv, cwd=cwd, env=run_env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    cases = parse_junit(junit) if junit.exists() else {}
    htmls = sorted((cwd / "reports").glob("*.html")) if (cwd / "reports").is_dir() else []
    result = RunResult(proc.returncode, proc.stdout, proc.stderr, cases, junit,
                       htmls[-1] if htmls else None)
    broken = [] if allow_errors else invariant_violations(result)
    survey = os.environ.get("MU3E_INVARIANTS_LOG")  # survey mode: list them all, fail none
    if broken and survey:
        with open(survey, "a", encoding="utf-8") as log:
            test = os.environ.get("PYTEST_CURRENT_TEST", "?")
            log.writelines(f"{test}\t{line}\n" for line in broken)
    elif broken:
        assert not broken, ("the diagnosis broke a promise:\n  " + "\n  ".join(broken)
                            + f"\n--- stdout (end)\n{proc.stdout[-3000:]}"
                            f"\n--- stderr (end)\n{proc.stderr[-2000:]}")
    return result
