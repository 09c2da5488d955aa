"""Advice: what a finding means for the user and what to run, made from typed problem kinds.

The knowledge layer (:mod:`mu3e_checks.knowledge`) reads the world and returns facts and typed
problems (a ``DnsProblem``, a ``TlsFailureKind``, a file repair to make); it never words a
fix.  This layer maps those kinds to the message a user reads and the
:class:`~mu3e_checks.remedy.Remedy` they run, composing the builders of
:mod:`mu3e_checks.commands` with the run's settings.  One layer judges, so a kind has one
message and one fix wherever it is found (a CS server, a VOMS server, the survey of both).

The modules follow the knowledge they advise on: :mod:`.credentials`, :mod:`.diracos`,
:mod:`.dirac_cfg`, :mod:`.trust`, :mod:`.proxy` and :mod:`.net` (one module per layer).
"""
