"""How a check body states its verdict: ``fail``, ``warn``, ``note``, ``skip``.

A check body reads like the guide: look at a fact, and if it is wrong say what is wrong and let
the registry's fix template carry the user's paths.  The plugin turns these calls into pytest
outcomes, JUnit properties, report rows and the closing summary; the check never formats those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn, Optional

import pytest

from mu3e_checks.registry import Check


@dataclass
class Result:
    """Everything the reports need to know about one check after it ran."""

    check: Check
    outcome: str = "passed"  # passed | warned | failed | skipped | error
    message: str = ""
    fix: str = ""
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0
    skipped_by: Optional[str] = None  # ID of the prerequisite that caused a skip

    @property
    def ok(self) -> bool:
        """True when dependants may run: the check passed, possibly with warnings."""
        return self.outcome in ("passed", "warned")

    @property
    def problem(self) -> bool:
        return self.outcome in ("failed", "warned", "error")


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


def _merge(result: Result, values: dict[str, Any], fix: Optional[str]) -> str:
    result.values.update({k: v for k, v in values.items() if v is not None})
    return fix if fix is not None else result.check.fix_for(result.values)


def fail(message: str, *, fix: Optional[str] = None, **values: Any) -> NoReturn:
    """Stop the check: it failed.  ``values`` fill the registry's fix template."""
    result = current()
    result.fix = _merge(result, values, fix)
    result.message = message
    raise CheckFailed(message, pytrace=False)


def warn(message: str, *, fix: Optional[str] = None, **values: Any) -> None:
    """Record a warning and carry on: the check passes unless strict mode is on."""
    result = current()
    result.warnings.append(message)
    new_fix = _merge(result, values, fix)
    if new_fix and new_fix not in result.fix.split("\n"):
        result.fix = f"{result.fix}\n{new_fix}" if result.fix else new_fix


def note(message: str, **values: Any) -> None:
    """Record a finding that needs no action but belongs in the report."""
    result = current()
    result.notes.append(message)
    result.values.update(values)


def skip(reason: str) -> NoReturn:
    """Skip this check with a reason the user can read."""
    pytest.skip(reason)
