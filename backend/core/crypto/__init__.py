"""Encryption at rest: AES-GCM with one data key per owner, wrapped by key-encryption keys.

- `aead`: the primitives (seal/open with AES-256-GCM, key-encryption keys from DATA_KEYS);
- `keyring`: each owner's data key in the `data_keys` table, wrapped by the newest
  key-encryption key, cached unwrapped per process (bounded), destroyed on erasure, re-wrapped
  by `python -m backend keys rotate`;
- `sealed`: the model attribute that stores a personal field encrypted under its row's owner.
"""

__all__ = ["aead", "keyring", "sealed"]
