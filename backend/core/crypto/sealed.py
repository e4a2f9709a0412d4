"""`Sealed`: a model attribute whose column holds the value encrypted under its row's owner.

    class Case(Base):
        owner: Mapped[str] = ...
        _title: Mapped[bytes | None] = mapped_column("title_sealed", LargeBinary)
        title = Sealed[str]("_title", "cases.title")

Reading `case.title` opens the column with the owner's data key; assigning seals it. The
owner must be set first (constructors pass `owner=` before personal fields). The associated
data names the column and the owner, so a ciphertext moved elsewhere does not open. JSON
values (`Sealed[dict]`, `json=True`) are stored as their JSON text.
"""

from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

from backend.core.crypto import aead

T = TypeVar("T")


class Sealed(Generic[T]):
    def __init__(self, column_attr: str, place: str, *, json: bool = False) -> None:
        self.column_attr = column_attr
        self.place = place
        self.json = json

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def aad(self, owner: str) -> bytes:
        return f"{self.place}:{owner}".encode()

    def __get__(self, obj: Any, objtype: Any = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]
        blob = getattr(obj, self.column_attr)
        if blob is None:
            return None  # type: ignore[return-value]
        return self.decode(obj.owner, bytes(blob))

    def __set__(self, obj: Any, value: T) -> None:
        if value is None:
            setattr(obj, self.column_attr, None)
            return
        owner = getattr(obj, "owner", None)
        if not owner:
            raise ValueError(f"{type(obj).__name__}.owner must be set before {self.name}")
        setattr(obj, self.column_attr, self.encode(owner, value))

    def encode(self, owner: str, value: T) -> bytes:
        from backend.core.crypto.keyring import data_key

        raw = json_bytes(value) if self.json else str(value).encode()
        return aead.seal(data_key(owner, create=True), raw, self.aad(owner))

    def decode(self, owner: str, blob: bytes) -> T:
        from backend.core.crypto.keyring import data_key

        raw = aead.unseal(data_key(owner, create=False), blob, self.aad(owner))
        value: Any = json.loads(raw) if self.json else raw.decode()
        return value  # type: ignore[no-any-return]


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
