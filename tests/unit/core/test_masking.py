"""Finding 9: the masking corpus. Every true positive is masked (no miss), every true negative
is left as it was (no false alarm), in plain strings and nested fields."""

from __future__ import annotations

import pytest
from validate_docbr import CNPJ, CPF

from backend.core.masking import mask_value, scrub

_cpf = CPF().generate()  # 11 digits with valid check digits
_cnpj = CNPJ().generate()
_f = f"{_cpf[:3]}.{_cpf[3:6]}.{_cpf[6:9]}-{_cpf[9:]}"

POSITIVES = [
    # CPF: formatted, spaced, bare (check digits valid)
    (f"cpf {_f}", "<cpf>"),
    (f"cpf {_cpf[:3]} {_cpf[3:6]} {_cpf[6:9]} {_cpf[9:]}", "<cpf>"),
    (f"cpf {_cpf[:3]} {_cpf[3:6]} {_cpf[6:9]}-{_cpf[9:]}", "<cpf>"),
    (f"documento={_cpf}", "<cpf>"),
    # CNPJ
    (f"{_cnpj[:2]}.{_cnpj[2:5]}.{_cnpj[5:8]}/{_cnpj[8:12]}-{_cnpj[12:]}", "<cnpj>"),
    (f"empresa {_cnpj}", "<cnpj>"),
    # RG
    ("RG 12.345.678-9", "<rg>"),
    ("rg: MG-12.345.678", "<rg>"),
    ("RG nº 1234567", "<rg>"),
    ("identidade 12.345.678-X", "<rg>"),
    ("RG: SP 3.456.789-0", "<rg>"),
    # CNJ case numbers
    ("processo 0001234-08.2023.8.26.0100", "<cnj>"),
    ("processo 00012340820238260100", "<cnj>"),
    # e-mails in many spellings
    ("maria.silva@gmail.com", "<email>"),
    ("MARIA+triagem@empresa.com.br", "<email>"),
    ("contato: joao_2@adv.oab.org.br.", "<email>"),
    ("maria [at] gmail [dot] com", "<email>"),
    ("maria arroba gmail ponto com", "<email>"),
    ("to=<ana@exemplo.io>", "<email>"),
    # phones
    ("(11) 98765-4321", "<phone>"),
    ("(11)98765-4321", "<phone>"),
    ("11 98765-4321", "<phone>"),
    ("+55 11 98765-4321", "<phone>"),
    ("+5511987654321", "<phone>"),
    ("tel 11987654321", "<phone>"),
    ("(21) 3456-7890", "<phone>"),
    ("98765-4321", "<phone>"),
    ("21.98765.4321", "<phone>"),
]

NEGATIVES = [
    "received 10737418240 bytes",
    "size_bytes=52428800",
    "took 1234 ms",
    "at 1764480000",  # epoch seconds
    "at 1764480000123",  # epoch milliseconds
    "worker@node1.prod",
    "celery@host-7.internal",
    "worker@ip-10-0-0-12.ec2.internal",
    "/tmp/ltq-tests-abc123/run-12345678",
    "/var/lib/ltq/uploads/1764480000/file.pdf",
    "6f1d0c53-3b0e-4a53-9a57-3c1f2f1f7a10",
    "task 9d4e1c2b-0a3f-4b1e-9c77-123456789012 done",
    "redis://127.0.0.1:6379/0",
    "version 1.20.1, python 3.11.9",
    "2026-11-30T05:21:08.123456+00:00",
    "queue depth 12345678901 messages",  # 11 digits, not a CPF and not a mobile
    "attempt 3 of 5, backoff 2.5s",
    "port 5555",
    "sha256 0123456789abcdef0123456789abcdef",
]


@pytest.mark.parametrize(("text", "kind"), POSITIVES)
def test_every_true_positive_is_masked(text: str, kind: str) -> None:
    masked = scrub(text)
    assert kind in masked, masked
    assert not any(ch.isdigit() for ch in masked.split(kind)[0][-3:] + masked.split(kind)[-1][:3])


@pytest.mark.parametrize("text", NEGATIVES)
def test_no_true_negative_is_touched(text: str) -> None:
    assert scrub(text) == text


def test_nested_fields_are_masked() -> None:
    event = {
        "user": {"email": "maria.silva@gmail.com", "phones": ["(11) 98765-4321"]},
        "args": [f"{_f}", 42, {"deep": [{"cnj": "0001234-08.2023.8.26.0100"}]}],
        "bytes": 10737418240,
        "host": "worker@node1.prod",
    }
    assert mask_value(event) == {
        "user": {"email": "<email>", "phones": ["<phone>"]},
        "args": ["<cpf>", 42, {"deep": [{"cnj": "<cnj>"}]}],
        "bytes": 10737418240,
        "host": "worker@node1.prod",
    }
