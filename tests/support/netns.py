"""A loopback-only network namespace for the network tests: a safety net, not a requirement.

The tests already point every lookup at their own loopback DNS responder
(``--mu3e-nameserver``) and every connection at loopback servers.  As root on Linux they also
move into a fresh network namespace that has only ``lo``: then even a bug that reached for the
machine's resolver or the internet would find no route.  The test process's thread enters the
namespace (``unshare(CLONE_NEWNET)``), brings ``lo`` up with an ioctl, and starts its servers
and the diagnosis subprocess from there; afterwards it returns with ``setns``.

Where unsharing is not allowed (not root, a container without CAP_SYS_ADMIN, not Linux) the
tests run in the normal namespace and say so once with a warning: the nameserver option is the
real guarantee.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import socket
import struct
import warnings
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def _bring_lo_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


@contextlib.contextmanager
def loopback_namespace() -> Iterator[bool]:
    """Run the body in a new network namespace with only ``lo``; yields whether that worked."""
    if os.environ.get("MU3E_TEST_NO_NETNS"):
        yield False
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    except (OSError, AttributeError) as exc:
        warnings.warn(f"network tests run without a loopback-only namespace: {exc}",
                      stacklevel=2)
        yield False
        return
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            warnings.warn("network tests run without a loopback-only namespace: unshare: "
                          f"{os.strerror(err)}", stacklevel=2)
            yield False
            return
        try:
            _bring_lo_up()
        except OSError as exc:
            libc.setns(original, CLONE_NEWNET)
            warnings.warn(f"network tests run without a loopback-only namespace: lo: {exc}",
                          stacklevel=2)
            yield False
            return
        try:
            yield True
        finally:
            if libc.setns(original, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "could not leave the test namespace")
    finally:
        os.close(original)


def has_external_interface() -> bool:
    """True when an interface other than lo exists (the namespace did not take effect)."""
    return any(name != "lo" for _, name in socket.if_nameindex())
