"""The diagnosis itself: one module per guide chapter, run in file-name order.

PYTEST_DONT_REWRITE: checks state verdicts with fail()/warn(), never with assert, so pytest
need not rewrite (and re-compile) this module on every run.
"""
