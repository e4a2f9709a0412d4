"""Recipient confirmation tokens: bound to the recipient row, the client, the address (in
any case) and the expiry; nothing else verifies."""

from __future__ import annotations

import time

import pytest

from backend.core.errors import InvalidConfirmation
from backend.core.security import confirmation

RID = "0b6f5c1e-3f0a-4c7e-9d1b-2a7c8e9f0a1b"
NOW = time.time()
LATER = int(NOW) + 3600


def check(token: str, owner: str = "alice", address: str = "Maria@Example.com") -> None:
    confirmation.verify(confirmation.parse(token), owner=owner, address=address, now=NOW)


def test_a_token_verifies_for_its_client_and_address_in_any_case() -> None:
    token = confirmation.sign(RID, "alice", "maria@example.com", LATER)
    check(token)
    check(token, address="  MARIA@example.COM ")
    assert "maria" not in token and "alice" not in token


@pytest.mark.parametrize(
    ("owner", "address"), [("bob", "maria@example.com"), ("alice", "mario@example.com")]
)
def test_another_client_or_address_does_not_verify(owner: str, address: str) -> None:
    token = confirmation.sign(RID, "alice", "maria@example.com", LATER)
    with pytest.raises(InvalidConfirmation):
        check(token, owner=owner, address=address)


def test_altered_or_expired_tokens_do_not_verify() -> None:
    token = confirmation.sign(RID, "alice", "maria@example.com", LATER)
    rid, expires, mac = token.split(".")
    other_id = RID.replace("0b6f", "0b70")
    for bad in (
        f"{rid}.{int(expires) + 1}.{mac}",
        f"{other_id}.{expires}.{mac}",
        f"{rid}.{expires}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        confirmation.sign(RID, "alice", "maria@example.com", int(NOW) - 1),
    ):
        with pytest.raises(InvalidConfirmation):
            check(bad)


@pytest.mark.parametrize("text", ["", "x", f"{RID}.1", f"{RID}.abc.{'A' * 43}", "a.b.c" * 50])
def test_malformed_tokens_are_refused_before_any_check(text: str) -> None:
    with pytest.raises(InvalidConfirmation):
        confirmation.parse(text)


def test_address_digests_are_keyed_per_client() -> None:
    one = confirmation.address_digest("alice", "Maria@example.com")
    assert one == confirmation.address_digest("alice", "maria@EXAMPLE.com ")
    assert one != confirmation.address_digest("bob", "maria@example.com")
