"""mu3e-checks: the doctor for Mu3e physicists' DIRAC grid client.

Run ``pytest --pyargs mu3e_checks`` (or ``mu3e-checks``).  The checks live in
:mod:`mu3e_checks.checks`, in guide order; the knowledge they use lives in
:mod:`mu3e_checks.knowledge` as plain functions.
"""

__version__ = "0.1.0"
