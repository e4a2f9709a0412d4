"""AES-256-GCM sealing and the key-encryption keys (DATA_KEYS).

A sealed value is `0x01 | nonce (12 bytes) | ciphertext+tag`; the associated data binds it to
its place (table, column, owner), so a ciphertext copied to another row or owner fails to open.
DATA_KEYS is `id:base64key[,id:base64key...]`, newest first: the first wraps new and rotated
data keys, the others only unwrap keys not yet rotated.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.core.errors import EncryptionKeyMissing, SealBroken

VERSION = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32
_KEK_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def seal(key: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + key.encrypt(nonce, plaintext, aad)


def unseal(key: AESGCM, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != VERSION:
        raise SealBroken("not a sealed value")
    try:
        return key.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], aad)
    except InvalidTag:
        raise SealBroken("sealed value failed authentication") from None


@dataclass(frozen=True)
class KeyRing:
    """The key-encryption keys, newest first."""

    keys: tuple[tuple[str, bytes], ...]

    @property
    def newest_id(self) -> str:
        return self.keys[0][0]

    def cipher(self, kek_id: str) -> AESGCM:
        for name, key in self.keys:
            if name == kek_id:
                return AESGCM(key)
        raise EncryptionKeyMissing(f"key-encryption key {kek_id!r} is not in DATA_KEYS")

    def wrap(self, data_key: bytes, owner: str) -> tuple[str, bytes]:
        """The data key encrypted under the newest key-encryption key, bound to its owner."""
        return self.newest_id, seal(self.cipher(self.newest_id), data_key, _wrap_aad(owner))

    def unwrap(self, kek_id: str, wrapped: bytes, owner: str) -> bytes:
        return unseal(self.cipher(kek_id), wrapped, _wrap_aad(owner))


def _wrap_aad(owner: str) -> bytes:
    return b"data-key:" + owner.encode()


def parse_keys(spec: str) -> KeyRing:
    """DATA_KEYS (`id:base64,...`, newest first) as a KeyRing; refuses anything malformed."""
    keys: list[tuple[str, bytes]] = []
    for part in (p.strip() for p in spec.replace("\n", ",").split(",")):
        if not part:
            continue
        name, sep, encoded = part.partition(":")
        if not sep or not _KEK_ID.match(name):
            raise EncryptionKeyMissing(
                "DATA_KEYS: each entry is id:base64key (id: A-Z a-z 0-9 _.-)"
            )
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise EncryptionKeyMissing(f"DATA_KEYS: key {name!r} is not base64") from None
        if len(key) != KEY_BYTES:
            raise EncryptionKeyMissing(f"DATA_KEYS: key {name!r} must be {KEY_BYTES} bytes")
        if any(name == other for other, _ in keys):
            raise EncryptionKeyMissing(f"DATA_KEYS: key id {name!r} appears twice")
        keys.append((name, key))
    if not keys:
        raise EncryptionKeyMissing("DATA_KEYS holds no key")
    return KeyRing(tuple(keys))


def generate_entry(kek_id: str | None = None) -> str:
    """A new DATA_KEYS entry (`id:base64key`)."""
    name = kek_id or f"k{secrets.token_hex(4)}"
    if not _KEK_ID.match(name):
        raise EncryptionKeyMissing("a key id is 1-32 of A-Z a-z 0-9 _.-")
    return f"{name}:{base64.b64encode(new_key()).decode()}"
