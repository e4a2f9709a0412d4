"""Uploaded files on disk, under settings.files.uploads_dir, one file per document named by its id.

Each file is sealed (AES-GCM) under its owner's data key and bound to its document id: the
disk, and any backup of it, holds no document in clear. The user's file name never becomes a
path: it is kept (sealed) in the database only.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from pathlib import Path

from backend.core.crypto import aead, keyring
from backend.core.settings import settings

_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")
_MAX_NAME_CHARS = 255


def storage_name(document_id: str) -> str:
    """The file's name under uploads_dir (kept in documents.storage_path)."""
    # A document id is a UUID we generated; refuse anything else rather than build a path.
    return str(uuid.UUID(document_id))


def path_for(document_id: str) -> Path:
    return settings.files.uploads_dir / storage_name(document_id)


def _aad(document_id: str, owner: str) -> bytes:
    return f"uploads/{storage_name(document_id)}:{owner}".encode()


def save(document_id: str, data: bytes, *, owner: str) -> Path:
    """Seal and write the file atomically (temporary file, then rename), mode 0600."""
    sealed = aead.seal(keyring.data_key(owner, create=True), data, _aad(document_id, owner))
    target = path_for(document_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(sealed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def load(document_id: str, *, owner: str) -> bytes:
    """The stored file's content, opened with its owner's data key."""
    blob = path_for(document_id).read_bytes()
    return aead.unseal(keyring.data_key(owner, create=False), blob, _aad(document_id, owner))


def delete(document_id: str) -> None:
    path_for(document_id).unlink(missing_ok=True)


def display_name(filename: str | None) -> str:
    """The name to store for an upload: its last path part, without control characters."""
    name = _UNSAFE_NAME_CHARS.sub("", (filename or "").replace("\\", "/").rsplit("/", 1)[-1])
    return name.strip()[:_MAX_NAME_CHARS] or "document"
