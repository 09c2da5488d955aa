"""Renderers: each turns a :class:`~mu3e_checks.model.Diagnosis` into one output, nothing more."""

TITLE = "Mu3e DIRAC client diagnosis"
