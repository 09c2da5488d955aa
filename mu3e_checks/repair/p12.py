"""``usercert.pem`` and ``userkey.pem`` from a ``.p12`` export (``PKCS12_EXTRACT``).

The file's own key-derivation cost is read first (:mod:`mu3e_checks.knowledge.pkcs12_cost`):
a ``.p12`` that asks for absurd MAC or PBKDF iteration counts is refused in the plan, before a
pass phrase is asked for or any derivation runs.  The pair is verified before anything is
written and again from disk; the key is created mode 600 from its first byte; an existing file
is moved aside, never overwritten; a failure half-way puts the old files back.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

from mu3e_checks import outputs
from mu3e_checks.knowledge.credentials import MAX_PKCS12 as P12_MAX_BYTES
from mu3e_checks.remedy import Action
from mu3e_checks.repair.base import Context, RepairError, Step, backup_name, create_new
from mu3e_checks.text import visible


def _read_p12(p12: Path) -> bytes:
    """The export's bytes, after checking what opening it would cost."""
    from mu3e_checks.knowledge.files import Unreadable, read_bytes
    from mu3e_checks.knowledge.pkcs12_cost import cost_problem

    if os.path.islink(p12) or not p12.is_file():
        raise RepairError(f"{visible(p12)} is not a plain file")
    try:
        data = read_bytes(p12, limit=P12_MAX_BYTES)
    except Unreadable as exc:
        raise RepairError(str(exc)) from None
    problem = cost_problem(data)
    if problem:
        raise RepairError(f"{visible(p12)} is refused: {problem}")
    return data


def plan_pkcs12(step: Step, action: Action, ctx: Context) -> None:
    p12, cert, key = (Path(action.param(n)) for n in ("p12", "cert", "key"))
    _read_p12(p12)
    step.changes.append(f"read {visible(p12)} (pass phrase asked for without echo, or from "
                        "MU3E_KEY_PASSPHRASE / --mu3e-passphrase-file)")
    step.changes.append(f"write {visible(cert)} (mode 644)")
    how = "unencrypted" if ctx.options.unencrypted_key else "encrypted with the same pass phrase"
    step.changes.append(f"write {visible(key)} (mode 600 from the start, {how})")
    for p in (cert, key):
        if os.path.lexists(p):
            step.changes.append(f"keep the existing {visible(p)} as "
                                f"{visible(p.name)}.bak-<timestamp>")


def _passphrase(ctx: Context, p12: Path) -> bytes:
    if ctx.passphrase_file is not None:
        from mu3e_checks.knowledge.files import Unreadable
        from mu3e_checks.settings import read_passphrase_file

        try:
            return read_passphrase_file(ctx.passphrase_file)
        except Unreadable as exc:
            raise RepairError(f"the pass-phrase file cannot be used: {exc}") from None
    if "MU3E_KEY_PASSPHRASE" in ctx.environ:
        return ctx.environ["MU3E_KEY_PASSPHRASE"].encode("utf-8", "surrogateescape")
    if not sys.stdin.isatty():
        raise RepairError(f"the pass phrase of {visible(p12)} is needed: set "
                          "MU3E_KEY_PASSPHRASE or give --mu3e-passphrase-file (no terminal to "
                          "ask on)")
    return ctx.prompt_secret(f"pass phrase of {visible(p12)}: ").encode("utf-8",
                                                                      "surrogateescape")


def load_pkcs12(data: bytes, passphrase: bytes) -> tuple[Any, Any]:
    """(key, certificate) from a PKCS#12 export, modern or legacy (RC2-40, 3DES).

    An empty pass phrase is tried both as "empty" and as "none": exporters differ.  The
    caller has bounded the file's cost (:func:`_read_p12`)."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    tries = [passphrase] if passphrase else [b"", None]
    last: Optional[Exception] = None
    for pw in tries:
        try:
            key, cert, _extra = pkcs12.load_key_and_certificates(data, pw)
            break
        except (ValueError, TypeError) as exc:
            last = exc
    else:
        raise RepairError("the .p12 cannot be opened with this pass phrase (wrong pass phrase, "
                          f"or not a PKCS#12 file): {type(last).__name__}") from None
    if key is None or cert is None:
        raise RepairError("the .p12 does not hold both a certificate and its private key")
    return key, cert


def _same_public_key(key: Any, cert: Any) -> bool:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    fmt = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


def apply_pkcs12(action: Action, ctx: Context) -> list[str]:
    """Extract, verify the pair, then write: the key is created 600 in a fresh file; an
    existing file is moved aside first, never overwritten, and put back if a write fails."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        Encoding,
        NoEncryption,
        PrivateFormat,
        load_pem_private_key,
    )

    from mu3e_checks.knowledge.files import read_bytes

    p12, cert_path, key_path = (Path(action.param(n)) for n in ("p12", "cert", "key"))
    data = _read_p12(p12)  # again: the file may have changed since the plan
    pw = _passphrase(ctx, p12)
    key, cert = load_pkcs12(data, pw)
    if not _same_public_key(key, cert):
        raise RepairError(f"the key in {visible(p12)} does not belong to its certificate")
    encrypt = bool(pw) and not ctx.options.unencrypted_key
    key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                BestAvailableEncryption(pw) if encrypt else NoEncryption())
    cert_pem = cert.public_bytes(Encoding.PEM)
    # Verified before anything is written: the bytes we will write load back as the same pair.
    again = load_pem_private_key(key_pem, pw if encrypt else None)
    if not _same_public_key(again, x509.load_pem_x509_certificate(cert_pem)):
        raise RepairError("the extracted key and certificate do not match; nothing written")
    for path in (cert_path, key_path):
        outputs.ensure_directory(path.parent)
    log: list[str] = []
    undo: list[tuple[Path, Optional[Path]]] = []  # (written, the old file moved aside)
    try:
        for path, payload, mode in ((cert_path, cert_pem, 0o644), (key_path, key_pem, 0o600)):
            backup = None
            if os.path.lexists(path):
                backup = backup_name(path, ctx.stamp)
                os.rename(path, backup)  # renames a link itself, never its target
                log.append(f"moved the existing {visible(path)} aside to {visible(backup)}")
            undo.append((path, backup))
            create_new(path, payload, mode)
            log.append(f"wrote {visible(path)} (mode {mode:03o})")
        # And once more from disk: the files hold the certificate of the .p12 and its key.
        disk_cert = x509.load_pem_x509_certificate(read_bytes(cert_path, limit=P12_MAX_BYTES))
        disk_key = load_pem_private_key(read_bytes(key_path, limit=P12_MAX_BYTES),
                                        pw if encrypt else None)
        if disk_cert != cert or not _same_public_key(disk_key, disk_cert):
            raise RepairError(f"{visible(cert_path)} and {visible(key_path)} do not read back "
                              "as the pair in the .p12")
    except Exception:
        _undo(undo)
        raise
    log.append(f"{visible(key_path)} is " + ("encrypted with the .p12's pass phrase" if encrypt
                                              else "NOT encrypted" + (
                                                  " (the .p12 has an empty pass phrase)"
                                                  if not pw else " (--unencrypted-key)")))
    return log


def _undo(undo: list[tuple[Path, Optional[Path]]]) -> None:
    """Put the old files back where a write failed half-way (best effort, in reverse)."""
    for path, backup in reversed(undo):
        try:
            if os.path.lexists(path):
                os.unlink(path)
            if backup is not None:
                os.rename(backup, path)
        except OSError:
            pass
