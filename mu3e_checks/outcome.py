"""How a check body states its verdict: ``fail``, ``warn``, ``note``, ``skip_for``.

A check body reads like the guide: look at a fact, and if it is wrong say what is wrong and pass
the values the check's own fix needs: ``fail(message, key=path)`` fills the builder registered
with ``@check(fix=...)``, the one docs/checks.md shows.  A finding that needs another fix names
one of the check's ``also=`` builders (``fail(message, fix=commands.chown_to_you, globus=p)``),
or passes the :class:`~mu3e_checks.remedy.Remedy` the advice layer chose for a typed problem.
The plugin turns these calls into pytest outcomes, JUnit properties, report rows and the
closing summary; the check never formats those.  :class:`~mu3e_checks.model.Result` is
re-exported here for the checks' fixtures.
"""

from __future__ import annotations

from typing import Any, NoReturn, Optional, Union

import pytest

from mu3e_checks.model import Result, SkipKind
from mu3e_checks.remedy import Builder, Remedy, join
from mu3e_checks.text import visible

__all__ = ["CheckFailed", "CheckSkipped", "Result", "SkipKind", "current", "fail", "note",
           "skip_for", "skip_selected", "warn"]


class CheckFailed(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """Raised by :func:`fail`; carries a short message and no traceback."""


CheckFailed.__module__ = "builtins"  # pytest then prints "CheckFailed: <message>", no dotted path


_current: Optional[Result] = None


def _set_current(result: Optional[Result]) -> None:
    global _current
    _current = result


def current() -> Result:
    """The result of the check that is running now."""
    if _current is None:
        raise RuntimeError("fail()/warn()/note() called outside a mu3e check")
    return _current


FixArg = Optional[Union[Builder, Remedy]]


def _merge(result: Result, values: dict[str, Any], fix: FixArg) -> Remedy:
    """The finding's remedy: the check's own builder filled with ``values``, another builder
    the check declares (``also=``), or a remedy the advice layer made (``values`` fill only
    what it leaves open)."""
    if fix is not None and not isinstance(fix, (Builder, Remedy)):
        raise TypeError("fix= takes a builder or a Remedy (see mu3e_checks.commands), never a "
                        "string: a string may carry outside text into a shell line")
    check = result.check
    if isinstance(fix, Builder) and fix not in check.builders:
        raise TypeError(f"{check.id} names the fix {fix!r}, which its @check does not declare "
                        "(add it to also=, so the registry knows every fix the check prints)")
    chosen = fix if fix is not None else check.builder
    if isinstance(chosen, Builder):
        return chosen(**values)
    result.values.update({k: v for k, v in values.items() if v is not None})
    return fix if fix is not None else Remedy()


def fail(message: str, *, fix: FixArg = None, **values: Any) -> NoReturn:
    """Stop the check: it failed.  ``values`` fill the check's fix (quoted when shown);
    ``message`` is made visible here, where it is made, whatever outside text it holds."""
    result = current()
    result.remedy = _merge(result, values, fix)
    result.message = visible(message)
    raise CheckFailed(result.message, pytrace=False)


def warn(message: str, *, fix: FixArg = None, **values: Any) -> None:
    """Record a warning and carry on: the check passes unless strict mode is on."""
    result = current()
    result.warnings.append(visible(message))
    result.remedy = join(result.remedy, _merge(result, values, fix))


def note(message: str, **values: Any) -> None:
    """Record a finding that needs no action but belongs in the report."""
    result = current()
    result.notes.append(visible(message))
    result.values.update(values)


class CheckSkipped(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """Raised by :func:`skip_for` and :func:`skip_selected`: a skip that says *why* as data.

    A skip may give only two reasons: a prerequisite that did not pass (``owner``, a check
    ID), or the user's own selection (``--mu3e-offline``, a profile, no pass phrase given).
    Anything a check finds about the user's files, servers or environment is a fail or a warn,
    never a skip; the run turns any other skip into an error, so none can hide a finding.
    """

    def __init__(self, reason: str, kind: SkipKind, owner: Optional[str] = None) -> None:
        # The item's own location, never this module's path, is what pytest records.
        super().__init__(msg=reason, _use_item_location=True)
        self.reason = reason
        self.kind = kind
        self.owner = owner


CheckSkipped.__module__ = "builtins"


def skip_for(owner: str, reason: str) -> NoReturn:
    """Skip because the fact this check needs is missing, and ``owner`` (a check ID) is the
    check that reports why.  The reason reads "needs OWNER: ..." wherever it is shown."""
    text = visible(reason)
    raise CheckSkipped(f"needs {owner}: {text}", SkipKind.PREREQUISITE, owner)


def skip_selected(reason: str) -> NoReturn:
    """Skip because the user chose so (offline, a profile, a pass phrase not given)."""
    raise CheckSkipped(visible(reason), SkipKind.SELECTION)
