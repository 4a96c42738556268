"""Ed25519 signing keys of the audit checkpoints (thin adapter over ``cryptography``)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carbontrail.errors import ConfigError

__all__ = ["KEY_FILE", "load_or_create_key", "public_key_hex", "verify_signature"]

#: file name of the checkpoint signing key inside the project home
KEY_FILE = "audit_ed25519.pem"


def load_or_create_key(path: str | Path, *, create: bool = True) -> Ed25519PrivateKey:
    """Load the PEM private key at ``path``; create it (mode 0600) when missing and ``create``.

    A key file readable by group or others is refused.
    """
    p = Path(path)
    if p.exists():
        mode = p.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(f"{p}: audit signing key has mode {mode:o}; make it 0600")
        try:
            key = serialization.load_pem_private_key(p.read_bytes(), password=None)
        except ValueError as exc:
            raise ConfigError(f"{p}: not a PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{p}: not an Ed25519 key")
        return key
    if not create:
        raise ConfigError(f"no audit signing key at {p}")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
    finally:
        os.close(fd)
    return key


def public_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Raw public key bytes as hex (64 characters)."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def verify_signature(public_key: str, signature: str, message: bytes) -> bool:
    """True when ``signature`` (hex) over ``message`` verifies with the raw hex ``public_key``."""
    try:
        pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        pub.verify(bytes.fromhex(signature), message)
        return True
    except (InvalidSignature, ValueError):
        return False
