"""The diagnosis itself: one module per guide chapter, run in file-name order.

Each module's docstring carries PYTEST_DONT_REWRITE: checks state their verdicts with
fail()/warn(), never with assert, so pytest need not rewrite (and re-compile) them on every run,
which users' read-only installations would otherwise pay each time.
"""
