"""Data keys on the real database: sealed rows, rotation under a new key-encryption key while
the data stays readable, and a destroyed key making the owner's ciphertext unreadable."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

from backend.core.crypto import aead, keyring
from backend.core.db.models import Case, DataKey
from backend.core.db.session import session_scope
from backend.core.errors import DataKeyDestroyed, SealBroken
from backend.core.settings import ROOT_DIR


def _case(owner: str, description: str) -> str:
    with session_scope() as session:
        case = Case(owner=owner, title="t", description=description)
        session.add(case)
        session.flush()
        return case.id


def test_rotation_rewraps_every_key_and_the_data_stays_readable() -> None:
    old = keyring.key_ring()
    case_id = _case("rotation-owner", "segredo de família")
    new_entry = aead.generate_entry("rot2")
    old_entry = ",".join(f"{k}:{__import__('base64').b64encode(v).decode()}" for k, v in old.keys)
    both = aead.parse_keys(f"{new_entry},{old_entry}")
    counts = keyring.rotate(both)
    assert counts["rotated"] >= 1 and counts.get(f"wrapped_by:{old.newest_id}", 0) == 0
    with session_scope() as session:
        assert session.get(DataKey, "rotation-owner").kek_id == "rot2"  # type: ignore[union-attr]
    keyring.forget_cached()
    # The CLI with the new key first reads the case back; rotating again changes nothing.
    script = (
        "from backend.core.db.models import Case; "
        "from backend.core.db.session import session_scope; "
        f"s = session_scope().__enter__(); print(s.get(Case, '{case_id}').description)"
    )
    env_cmd = [sys.executable, "-c", script]
    import os

    env = {**os.environ, "DATA_KEYS": f"{new_entry},{old_entry}"}
    out = subprocess.run(env_cmd, capture_output=True, text=True, env=env, cwd=ROOT_DIR)
    assert out.stdout.strip() == "segredo de família", out.stderr[-1500:]
    rotate = subprocess.run(
        [sys.executable, "-m", "backend", "keys", "rotate"],
        capture_output=True, text=True, env=env, cwd=ROOT_DIR,
    )  # fmt: skip
    assert rotate.returncode == 0 and '"rotated": 0' in rotate.stdout, rotate.stderr[-1500:]
    # Only the new key: still readable (every data key was re-wrapped).
    alone = {**os.environ, "DATA_KEYS": new_entry}
    out = subprocess.run(env_cmd, capture_output=True, text=True, env=alone, cwd=ROOT_DIR)
    assert out.stdout.strip() == "segredo de família", out.stderr[-1500:]
    # Put back under the run's key for the other tests.
    keyring.rotate(aead.parse_keys(f"{old_entry},{new_entry}"))


def test_a_destroyed_key_leaves_the_ciphertext_unreadable() -> None:
    case_id = _case("shredded-owner", "texto sensível")
    with session_scope() as session:
        blob = session.execute(
            text("SELECT description_sealed FROM cases WHERE id = :id"), {"id": case_id}
        ).scalar_one()
    assert b"sens" not in blob
    assert keyring.destroy("shredded-owner")
    with pytest.raises(DataKeyDestroyed), session_scope() as session:
        _ = session.get(Case, case_id).description  # type: ignore[union-attr]
    # A ciphertext moved to another owner's row does not open either.
    other = _case("other-owner", "x")
    with session_scope() as session:
        session.execute(
            text("UPDATE cases SET description_sealed = :b WHERE id = :id"),
            {"b": blob, "id": other},
        )
    with pytest.raises(SealBroken), session_scope() as session:
        _ = session.get(Case, other).description  # type: ignore[union-attr]
