"""Plain, typed functions that know about PKI, trust stores, DIRAC, proxies and the network.

Nothing here imports pytest; every function is unit-tested directly.  Check modules call these
and only decide the verdict.
"""
