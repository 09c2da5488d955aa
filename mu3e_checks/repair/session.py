"""Running ``fix``: the diagnosis, the plan, one confirmation, the repairs, the affected
checks again (rounds), and one full final diagnosis whose reports list the repairs."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from mu3e_checks.model import Diagnosis
from mu3e_checks.plugin import ArgsBuilder, run_in_process
from mu3e_checks.registry import dependants, prerequisites
from mu3e_checks.remedy import Action, ActionKind
from mu3e_checks.repair.base import Context, Options
from mu3e_checks.repair.plan import apply_plan, build_plan, render_plan
from mu3e_checks.text import visible

USAGE = """usage: mu3e-checks fix [--yes | --dry-run] [--unencrypted-key] [mu3e/pytest options]
Runs the diagnosis, shows what it can repair itself (file modes, usercert.pem/userkey.pem
from your .p12, CRLs, the guide's CA bundles, the X509_CERT_DIR export in ~/.bashrc) and
what it cannot, asks once, applies, runs the affected checks again (before -> after), then
one full final diagnosis: its report lists the repairs, and its exit code is fix's.
  --yes              apply without asking (the ~/.bashrc edit included)
  --dry-run          only show the plan; nothing is written
  --unencrypted-key  write userkey.pem without a pass phrase (default: encrypted with the
                     .p12's pass phrase); pass phrase from MU3E_KEY_PASSPHRASE,
                     --mu3e-passphrase-file, or a prompt that does not echo
  --allow-http-repository  accept a plain-http CA repository (with a warning); CA bundles
                     are fetched over HTTPS only otherwise
  --ca-fingerprints FILE   the known keys of the guide's CAs (MU3E_CA_FINGERPRINTS; default:
                     the file in the package), for a site mirror or a test
Options of the diagnosis that fix uses (see mu3e-checks --help):
  --mu3e-ca-repository URL   where the CA tarballs come from (default: the guide's EGI
                     repository; MU3E_CA_REPOSITORY in the environment)
  --mu3e-passphrase-file FILE  the .p12's pass phrase (MU3E_PASSPHRASE_FILE)
  --mu3e-timeout SECONDS  the whole time one download may take (default 10)
  --mu3e-offline     no downloads: CRLs and CA bundles are left as they are"""

class _Catch:
    """Handed to ``pytest.main``: takes the run's own :class:`Diagnosis` and settings, and
    carries the repair log into the run, so its reports list the repairs (:func:`attach`; the
    same way ``explain`` hands in its "Error explained" section)."""

    def pytest_mu3e_report_sections(self, diagnosis: Diagnosis) -> dict[str, Any]:
        """The repair log for the run's model, when this run is the one ``fix`` started after
        repairing (:mod:`mu3e_checks.hooks`)."""
        return {"repairs": tuple(visible(line) for line in self.repairs)} if self.repairs else {}

    def __init__(self, repairs: Sequence[str] = ()) -> None:
        self.repairs = tuple(repairs)
        self.diagnosis: Optional[Diagnosis] = None
        self.settings: Any = None
        self.html_path: Optional[Path] = None
        self.json_path: Optional[Path] = None

    def pytest_sessionfinish(self, session: Any) -> None:
        from mu3e_checks.plugin import active_run

        run = active_run(session.config)
        if run is not None:
            self.diagnosis, self.settings = run.screen, run.settings
            self.html_path, self.json_path = run.html_path, run.json_path




def diagnose(extra: Sequence[str], pytest_args: ArgsBuilder, repairs: Sequence[str] = (),
             ) -> tuple[int, Optional[Diagnosis], Any, str, _Catch]:
    """Run the diagnosis in-process with the user's options; its terminal text is kept, not
    shown (the plan and the before/after table say what matters).  ``repairs`` go into its
    reports (the "Repairs applied" section, the JSON ``repairs``)."""
    catch = _Catch(repairs)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = run_in_process(pytest_args(list(extra)), [catch])
    return rc, catch.diagnosis, catch.settings, out.getvalue(), catch


def repair_lines(log: Sequence[str], first: Diagnosis) -> list[str]:
    """The report's repairs section: the verdict the repairs started from, then each change
    (old mode, files written, backup names) or why a repair was not done."""
    if not log:
        return []
    return [f"before the repairs: {first.verdict()}", *log]


def before_after(before: Diagnosis, after: Diagnosis, ids: Sequence[str],
                 title: str = "Before -> after:") -> str:
    """The repaired checks and every check whose outcome changed, one line each."""
    old = {r.id: r.outcome for r in before.results}
    new = {r.id: r.outcome for r in after.results}
    changed = [i for i in new if old.get(i) != new[i]]
    show = list(dict.fromkeys([*ids, *changed]))
    lines = [title]
    for i in show:
        lines.append(f"  {i:<10} {old.get(i, 'not run'):>8} -> {new.get(i, 'not run')}")
    return "\n".join(lines)


def _ask_stdin(question: str) -> bool:
    print(question, end="", flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


#: The flags only ``fix`` understands; they change what is written, not what is diagnosed, so
#: they are not ``--mu3e-*`` options of the diagnosis (the USAGE and docs/fix.md list them).
FIX_FLAGS = ("--yes", "-y", "--dry-run", "--unencrypted-key", "--allow-http-repository")
#: ``fix``'s own options that take a value (``--name VALUE`` or ``--name=VALUE``).
FIX_VALUES = ("--ca-fingerprints",)


class UsageError(ValueError):
    """The command line cannot be understood; the message says why."""


def parse(argv: Sequence[str]) -> tuple[Options, list[str]]:
    """(our options, the diagnosis's own options).  Everything but :data:`FIX_FLAGS` and
    :data:`FIX_VALUES` goes to the diagnosis, ``--mu3e-ca-repository`` and
    ``--mu3e-passphrase-file`` included: they are options of the options table, typed there,
    and ``fix`` reads them from the run's ``Settings``."""
    argv = list(argv)
    rest: list[str] = []
    values: dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, value = a.partition("=")
        if name in FIX_VALUES:
            if not eq:
                if i + 1 >= len(argv):
                    raise UsageError(f"{name} needs a value")
                value, i = argv[i + 1], i + 1
            values[name] = value
        elif a not in FIX_FLAGS:
            rest.append(a)
        i += 1
    fingerprints = values.get("--ca-fingerprints")
    opts = Options(yes="--yes" in argv or "-y" in argv, dry_run="--dry-run" in argv,
                   unencrypted_key="--unencrypted-key" in argv,
                   allow_http="--allow-http-repository" in argv,
                   ca_fingerprints=Path(fingerprints) if fingerprints else None)
    return opts, rest


#: How often the plan is made again: a repair can let a later check run and find the next
#: thing (a .p12 extracted, then CA bundles installed, then their CRLs fetched).
ROUNDS = 3

#: The check that owns the fact a repair changes (the ``owner(...)`` declarations of
#: checks/conftest.py): every check that requires it reads that fact, so it is affected too.
#: A mode change affects only its own check and the checks that require it.
FACT_OWNER = {ActionKind.PKCS12_EXTRACT: "CERT-001", ActionKind.INSTALL_CA_BUNDLES: "CA-001",
              ActionKind.FETCH_CRLS: "CA-001", ActionKind.EXPORT_CERT_DIR: "CA-001"}


def affected(repaired: Iterable[tuple[str, Optional[Action]]], checks: Mapping[str, Any],
             ran: Sequence[str]) -> list[str]:
    """The checks to run again after ``repaired`` (check ID, action) pairs, in ``ran``'s order.

    The repaired checks and the owner of the fact each repair changed, everything that requires
    one of them (transitively, through the registry's ``requires`` graph), and the prerequisites
    of all these, so each check is gated as in a full run.  Only checks the first run ran: the
    user's ``--mu3e-select``/``-k``/``-m`` still hold."""
    roots: set[str] = set()
    for cid, action in repaired:
        roots.add(cid)
        if action is not None and action.kind in FACT_OWNER:
            roots.add(FACT_OWNER[action.kind])
    out = set(prerequisites(dependants(roots, checks), checks))
    return [cid for cid in ran if cid in out]


def merged(base: Diagnosis, rerun: Diagnosis) -> Diagnosis:
    """``base`` with the results of the checks ``rerun`` ran again put in their place."""
    from dataclasses import replace

    new = {r.id: r for r in rerun.results}
    return replace(base, results=tuple(new.get(r.id, r) for r in base.results))


_SELECTION = ("--mu3e-select",)
_REPORTS = ("--html", "--mu3e-json", "--junitxml", "--junit-xml")


def rerun_args(extra: Sequence[str], select: Sequence[str], private: Path, n: int) -> list[str]:
    """The user's options for a run of only ``select``: their own ``--mu3e-select`` replaced,
    and the reports of this partial run kept in ``private`` (a temporary directory), so the
    user's report paths get only the first and the final diagnosis."""
    out: list[str] = []
    skip = False
    for a in extra:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in _SELECTION + _REPORTS:
            skip = "=" not in a
            continue
        out.append(a)
    return out + ["--mu3e-select", ",".join(select),
                  "--html", str(private / f"affected-{n}.html"),
                  "--mu3e-json", str(private / f"affected-{n}.json"),
                  "--junitxml", str(private / f"affected-{n}.xml")]


def main(argv: Sequence[str], pytest_args: ArgsBuilder) -> int:
    """``mu3e-checks fix ...``: exit code of the final diagnosis (2 for a usage error).

    After each round of repairs only the affected checks run again (:func:`affected`); they
    give the before/after table and the next round's plan.  The exit code and the reports are
    then those of one full final diagnosis with the user's own options: a repair can change a
    fact that checks outside the ``requires`` graph read too, and a verdict must never rest on
    a partial run."""
    import tempfile

    argv = list(argv)
    if "-h" in argv or "--help" in argv:
        print(USAGE)
        return 0
    try:
        opts, extra = parse(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    if opts.yes and opts.dry_run:
        print("--yes and --dry-run exclude each other", file=sys.stderr)
        return 2
    rc, first, settings, text, _ = diagnose(extra, pytest_args)
    if first is None or settings is None:
        sys.stdout.write(text)
        return rc
    print(f"Diagnosis: {first.verdict()}")
    ctx = Context(home=settings.home, environ=dict(os.environ),
                  passphrase_file=settings.passphrase_file, offline=settings.offline,
                  ca_repository=settings.ca_repository, options=opts, ask=_ask_stdin,
                  timeout=settings.timeout, crl_warn_hours=settings.crl_warn_hours)
    current, attempted, repaired = first, set(), []
    all_log: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mu3e-fix-") as private:
        for n in range(ROUNDS):
            steps = build_plan(current.results, ctx)
            fresh = [s for s in steps if s.applicable and s.action not in attempted]
            if n == 0 or fresh:
                print(render_plan([s for s in steps if s.action not in attempted or not
                                   s.applicable], opts.dry_run))
            if opts.dry_run or not fresh:
                break
            if not opts.yes and not ctx.ask(f"Apply {len(fresh)} repair(s)? [y/N] "):
                print("Nothing changed.")
                break
            attempted.update(s.action for s in fresh)
            repaired += [s.check_id for s in fresh]
            log = apply_plan(fresh, ctx)
            all_log += log
            print("Repairs done:")
            print("\n".join(f"  {ln}" for ln in log) if log else "  none")
            from mu3e_checks import registry

            select = affected([(s.check_id, s.action) for s in fresh], registry.load_all(),
                              [r.id for r in current.results])
            _rc, after, _settings, text, _ = diagnose(
                rerun_args(extra, select, Path(private), n), pytest_args)
            if after is None:
                sys.stdout.write(text)
                return _rc
            current = merged(current, after)
    if current is first:
        return rc
    print(before_after(first, current, repaired, "Before -> after (the repaired checks and "
                       "those that depend on them, run again):"))
    rc, final, _settings, text, catch = diagnose(extra, pytest_args,
                                                 repair_lines(all_log, first))
    if final is None:
        sys.stdout.write(text)
        return rc
    old = {r.id: r.outcome for r in current.results}
    beyond = [r for r in final.results if old.get(r.id, "not run") != r.outcome]
    if beyond:
        print("The final diagnosis differs beyond them:")
        for r in beyond:
            print(f"  {r.id:<10} {old.get(r.id, 'not run'):>8} -> {r.outcome}")
    print("Final diagnosis (a full run of every check you selected; its exit code is ours):")
    print(f"Diagnosis now: {final.verdict()}")
    for cid, fix in final.fixes_in_order():
        print(f"  {cid}: " + fix.replace("\n", "\n      "))
    reports = [p for p in (catch.html_path, catch.json_path) if p is not None]
    if reports:
        print("The repairs are listed in the report (for a support ticket): "
              + ", ".join(visible(p) for p in reports))
    return rc
