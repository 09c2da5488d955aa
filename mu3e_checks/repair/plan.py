"""The plan: one step per finding, the repair modules that plan and apply each action kind,
the plan as the user reads it, and applying it (a shell rc edit only after its own yes)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from mu3e_checks import outputs
from mu3e_checks.model import CheckResult
from mu3e_checks.remedy import Action, ActionKind, Safety
from mu3e_checks.repair import bundles, crls, modes, p12, rcblock
from mu3e_checks.repair.base import Context, RepairError, Step
from mu3e_checks.text import visible

#: How each repair is planned (filling the step, raising RepairError when the facts do not
#: allow it) and applied; an action kind missing here is printed for a person.
PLAN = {ActionKind.CHMOD: modes.plan_chmod, ActionKind.PKCS12_EXTRACT: p12.plan_pkcs12,
        ActionKind.EXPORT_CERT_DIR: rcblock.plan_export, ActionKind.FETCH_CRLS: crls.plan_crls,
        ActionKind.INSTALL_CA_BUNDLES: bundles.plan_bundles}
APPLY = {ActionKind.CHMOD: modes.apply_chmod, ActionKind.PKCS12_EXTRACT: p12.apply_pkcs12,
         ActionKind.EXPORT_CERT_DIR: rcblock.apply_export, ActionKind.FETCH_CRLS: crls.apply_crls,
         ActionKind.INSTALL_CA_BUNDLES: bundles.apply_bundles}


def safety_of(action: Action) -> Safety:
    return Safety.CONFIRM if action.kind == ActionKind.EXPORT_CERT_DIR else Safety.SAFE


def build_plan(results: Sequence[CheckResult], ctx: Context) -> list[Step]:
    """One step per failed or warned result: a repair when its remedy has an action this tool
    applies and the facts allow it, else the printed fix for a person."""
    steps: list[Step] = []
    seen: set[Action] = set()
    for r in results:
        if not r.problem:
            continue
        action = next(iter(r.actions), None)
        if action is not None and action in seen:
            continue
        step = Step(r.id, r.title, action, safety_of(action) if action else Safety.MANUAL,
                    fix=r.fix)
        if action is None:
            step.blocked = "needs a person"
        elif action.kind not in PLAN:
            step.blocked = f"'{action.kind.value}' is not applied by this version"
        else:
            try:
                PLAN[action.kind](step, action, ctx)
            except RepairError as exc:  # the facts do not allow it: say why, do nothing
                step.blocked = str(exc)
        if action is not None:
            seen.add(action)
        steps.append(step)
    return steps


def render_plan(steps: Sequence[Step], dry_run: bool = False) -> str:
    todo = [s for s in steps if s.applicable]
    lines = []
    if todo:
        lines.append("Will repair:" if not dry_run else "Would repair (dry run, nothing is "
                     "written):")
        for s in todo:
            ask = "  [asks separately]" if s.safety == Safety.CONFIRM else ""
            lines.append(f"  {s.check_id} {s.title}{ask}")
            lines += [f"      {c}" for c in s.changes]
    done = [s for s in steps if s.done]
    if done:
        lines.append("Already repaired:")
        lines += [f"  {s.check_id}: {c}" for s in done for c in s.changes]
    manual = [s for s in steps if s.blocked]
    if manual:
        lines.append("Cannot repair (do it yourself):")
        for s in manual:
            lines.append(f"  {s.check_id} {s.title}: {s.blocked}")
            lines += [f"      {ln}" for ln in s.fix.splitlines()]
    if not lines:
        lines.append("Nothing to repair.")
    return "\n".join(lines)


def apply_plan(steps: Sequence[Step], ctx: Context) -> list[str]:
    """Apply every applicable step; a CONFIRM step only after its own yes.  The log says what
    changed (old modes, backup names) or why a step did nothing ("NOT repaired: ...")."""
    log: list[str] = []
    for s in steps:
        if not s.applicable or s.action is None:
            continue
        if s.safety == Safety.CONFIRM and not ctx.options.yes:
            if not ctx.ask(f"{s.check_id}: {'; '.join(s.changes)}. Edit it? [y/N] "):
                log.append(f"{s.check_id}: skipped (not confirmed)")
                continue
        try:
            lines = APPLY[s.action.kind](s.action, ctx)
        except (RepairError, outputs.OutputError) as exc:
            log.append(f"{s.check_id}: NOT repaired: {exc}")
            continue
        except OSError as exc:
            log.append(f"{s.check_id}: NOT repaired: {visible(exc.strerror or exc)}")
            continue
        log += [f"{s.check_id}: {ln}" for ln in lines]
        if s.action.kind == ActionKind.EXPORT_CERT_DIR:
            # What a new shell will have: the diagnosis that follows should see it too.
            os.environ["X509_CERT_DIR"] = str(s.action.param("value"))
            ctx.environ["X509_CERT_DIR"] = str(s.action.param("value"))
    return log
