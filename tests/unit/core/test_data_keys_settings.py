"""DATA_KEYS: parsed strictly, and required in production."""

from __future__ import annotations

import pytest

from backend.core.crypto import aead
from backend.core.errors import EncryptionKeyMissing
from backend.core.settings import AppSettings, AuthSettings, PrivacySettings, Settings


def test_production_refuses_to_start_without_data_keys() -> None:
    """A fatal check-config verdict for the API and workers (each process's start-up guard)."""
    from backend.core.security.config_check import Process, verdicts

    def data_key_verdicts(privacy: PrivacySettings) -> list[bool]:
        cfg = Settings(
            app=AppSettings(environment="production"),
            auth=AuthSettings(secret="x" * 40),
            privacy=privacy,
        )
        return [v.fatal for v in verdicts(cfg, [Process.API]) if v.setting == "DATA_KEYS"]

    assert data_key_verdicts(PrivacySettings(DATA_KEYS=None)) == [True]
    assert data_key_verdicts(PrivacySettings(DATA_KEYS=aead.generate_entry("k1"))) == []


@pytest.mark.parametrize("spec", ["", "k1", "k1:notbase64!", "k1:AAAA", "bad id:" + "A" * 44])
def test_malformed_data_keys_are_refused(spec: str) -> None:
    with pytest.raises(EncryptionKeyMissing):
        aead.parse_keys(spec)


def test_the_first_key_wraps_and_older_ones_still_unwrap() -> None:
    old, new = aead.generate_entry("old"), aead.generate_entry("new")
    kek_id, wrapped = aead.parse_keys(old).wrap(b"k" * 32, "alice")
    ring = aead.parse_keys(f"{new},{old}")
    assert ring.newest_id == "new" and ring.unwrap(kek_id, wrapped, "alice") == b"k" * 32
    with pytest.raises(Exception, match="authentication"):
        ring.unwrap(kek_id, wrapped, "bob")  # bound to its owner
