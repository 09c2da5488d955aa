"""Write pex "complete platform" files: one per CPython version mu3e-checks claims, x86_64 Linux.

.ci/build-pyz resolves the dependencies of mu3e-checks.pyz once for each of these platforms, so
the one file holds, for every claimed CPython, the wheels that version needs: cffi, charset-
normalizer and MarkupSafe are built per version, cryptography per stable ABI (cp39-abi3 and
cp311-abi3), and pytest 9 needs 3.10 while 3.9 gets pytest 8.  pex's short platform strings
cannot evaluate ``python_full_version`` markers (cryptography's Requires-Python excludes 3.9.0
and 3.9.1), so each file carries a full marker environment.

The versions are the ``Programming Language :: Python :: 3.X`` classifiers of pyproject.toml
(the versions CI tests), each with the release the tests run the .pyz with.  The wheel tags
allowed are manylinux2014 (glibc 2.17) and older, so the file runs on every x86_64 Linux from
RHEL/CentOS 7 on, not only on the machine that built it.

Usage: python .ci/pyz_platforms.py PYPROJECT OUTDIR   (prints the files written)
Needs ``packaging`` (for the tag lists, computed as pip computes them).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

#: The CPython release of each minor version that the tests run mu3e-checks.pyz with (the
#: pyenv Pythons of the CI image).  A classifier without an entry here stops the build.
RELEASES = {"3.9": "3.9.18", "3.10": "3.10.13", "3.11": "3.11.7", "3.12": "3.12.1",
            "3.13": "3.13.0"}
#: manylinux2014 == manylinux_2_17 and every older glibc level, newest first (pip's order).
PLATFORMS = ["manylinux_2_17_x86_64", "manylinux2014_x86_64",
             *(f"manylinux_2_{n}_x86_64" for n in range(16, 4, -1)),
             "manylinux2010_x86_64", "manylinux1_x86_64"]


def claimed_versions(pyproject: str) -> list[str]:
    """The '3.X' versions pyproject.toml's classifiers claim, in order."""
    found = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
    if not found:
        raise SystemExit("pyproject.toml claims no 'Programming Language :: Python :: 3.X'")
    return found


def complete_platform(version: str) -> dict:
    """pex's complete platform for CPython ``version`` on manylinux2014 x86_64."""
    from packaging import tags

    if version not in RELEASES:
        raise SystemExit(f"pyproject.toml claims Python {version}, but .ci/pyz_platforms.py "
                         "names no release of it that the tests run (add it to RELEASES)")
    full = RELEASES[version]
    major, minor = (int(p) for p in version.split("."))
    abi = f"cp{major}{minor}"
    compatible = [*tags.cpython_tags((major, minor), abis=[abi], platforms=PLATFORMS),
                  *tags.compatible_tags((major, minor), abi, platforms=PLATFORMS)]
    environment = {
        "implementation_name": "cpython", "implementation_version": full, "os_name": "posix",
        "platform_machine": "x86_64", "platform_python_implementation": "CPython",
        "platform_release": "", "platform_system": "Linux", "platform_version": "",
        "python_full_version": full, "python_version": version, "sys_platform": "linux",
    }
    return {"marker_environment": environment, "compatible_tags": [str(t) for t in compatible]}


def main(argv: list[str]) -> int:
    pyproject, outdir = Path(argv[0]), Path(argv[1])
    outdir.mkdir(parents=True, exist_ok=True)
    for version in claimed_versions(pyproject.read_text(encoding="utf-8")):
        path = outdir / f"cpython-{version}-manylinux2014_x86_64.json"
        path.write_text(json.dumps(complete_platform(version), indent=1) + "\n")
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
