"""The hooks mu3e-checks adds to pytest (registered by :func:`mu3e_checks.plugin.pytest_addhooks`).

A subcommand that runs the diagnosis (``explain``, ``fix``) hands its own section into the
run's report through a plugin object it gives ``pytest.main``: that object implements
:func:`pytest_mu3e_report_sections`.  The run calls the hook while it builds the model, before
the key scrub and ``--mu3e-redact``, so those sections are treated like every other text.  An
ordinary run has no implementation, and its report no such section.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

import pluggy

if TYPE_CHECKING:
    from mu3e_checks.model import Diagnosis

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_mu3e_report_sections(diagnosis: Diagnosis) -> Optional[Mapping[str, Any]]:
    """The fields of :class:`~mu3e_checks.model.Diagnosis` this plugin fills for the run's
    report, by name (``explain``: ``explained``; ``fix``: ``repairs``), from ``diagnosis``,
    the run's model as the checks left it; ``None`` or ``{}`` adds nothing."""


def relay(*plugins: object) -> Any:
    """A hook relay with only these hooks and ``plugins``: how a test calls a subcommand's
    section hook without a pytest session."""
    import sys

    import pytest

    manager = pytest.PytestPluginManager()
    manager.add_hookspecs(sys.modules[__name__])
    for plugin in plugins:
        manager.register(plugin)
    return manager.hook
