"""The Ed25519 keys that sign audit checkpoints: PEM files read with a clear error, and key ids."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

# cryptography (~20 ms to import) is imported by the functions that read, name or check a key: every Nexus
# imports the audit package, few sign or verify anything.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DiagnosticError([Diagnostic(file=str(path), message=f"cannot read the audit {what} {path}: "
                                          f"{exc.strerror or exc}", hint="governance.audit_key names an Ed25519 "
                                          "private key (PEM); `audit verify --key` its public key")]) from None


def _not_ed25519(path: Path, what: str) -> DiagnosticError:
    return DiagnosticError([Diagnostic(
        file=str(path), message=f"{path} is not an Ed25519 {what} in PEM form",
        hint="make one with `openssl genpkey -algorithm ed25519 -out audit.pem` "
             "(its public key: `openssl pkey -in audit.pem -pubout -out audit.pub.pem`)")])


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file ``path`` (unencrypted)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    data = _read(path, "key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise _not_ed25519(path, "private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise _not_ed25519(path, "private key")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The Ed25519 public key in the PEM file ``path`` (a private key's file gives its public key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = Path(path)
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        return load_private_key(path).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise _not_ed25519(path, "public key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """A short name of ``key``: the first 16 hex digits of the SHA-256 of its raw 32 bytes."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signature_valid(key: Ed25519PublicKey, signature_hex: str, message: bytes) -> bool:
    """Whether ``signature_hex`` is ``key``'s signature of ``message``."""
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True
