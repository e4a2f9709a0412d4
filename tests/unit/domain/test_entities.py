from typing import Any

import pytest
from validate_docbr import CNPJ, CPF

from backend.domain.entities import Entity, cnj_check_digits, extract_entities


def _valid_cnj(sequence: str = "0801234", year: str = "2023", tr: str = "26") -> str:
    check = cnj_check_digits(sequence, year, "8", tr, "0100")
    return f"{sequence}-{check}.{year}.8.{tr}.0100"


def _wrong_check(number: str, start: int, end: int) -> str:
    digits = number[start:end]
    wrong = f"{(int(digits) + 1) % 100:02d}"
    return number[:start] + wrong + number[end:]


def _of_type(text: str, kind: str) -> list[str]:
    return [e.value for e in extract_entities(text) if e.type == kind]


def test_cpf_valid_masked_and_labelled_bare() -> None:
    masked = CPF().generate(mask=True)
    bare = CPF().generate()
    text = f"Meu CPF é {masked}; o dele, CPF nº {bare}."
    assert _of_type(text, "cpf") == [masked.replace(".", "").replace("-", ""), bare]


def test_cpf_invalid_check_digit_and_repeated_digits_not_reported() -> None:
    assert _of_type("CPF 111.444.777-36", "cpf") == []
    assert _of_type("CPF 111.444.777-35", "cpf") == ["11144477735"]
    assert _of_type("CPF 111.111.111-11", "cpf") == []


def test_bare_eleven_digits_without_label_are_not_a_cpf() -> None:
    assert _of_type(f"protocolo {CPF().generate()}", "cpf") == []


def test_cnpj_valid_and_invalid() -> None:
    masked = CNPJ().generate(mask=True)
    assert _of_type(f"empresa CNPJ {masked}", "cnpj") == [
        masked.replace(".", "").replace("/", "").replace("-", "")
    ]
    assert _of_type("CNPJ 11.222.333/0001-81", "cnpj") == ["11222333000181"]
    assert _of_type("CNPJ 11.222.333/0001-82", "cnpj") == []


def test_cnj_check_digits_follow_mod_97_rule() -> None:
    number = _valid_cnj()
    digits = number.replace("-", "").replace(".", "")
    # ISO 7064 mod 97-10: the number with its check digits in place leaves remainder 1.
    assert int(digits[:7] + digits[9:] + digits[7:9]) % 97 == 1


def test_cnj_valid_reported_invalid_dropped() -> None:
    number = _valid_cnj()
    assert _of_type(f"Processo nº {number}.", "cnj") == [number]
    assert _of_type(f"Processo nº {_wrong_check(number, 8, 10)}.", "cnj") == []


def test_cnj_number_is_not_also_reported_as_dates_or_phones() -> None:
    entities = extract_entities(f"autos {_valid_cnj()}")
    assert [e.type for e in entities] == ["cnj"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Dr. Silva, OAB/SP 123.456", "123456/SP"),
        ("advogada inscrita na OAB 12345/RJ", "12345/RJ"),
        ("OAB-MG nº 98765", "98765/MG"),
    ],
)
def test_oab(text: str, value: str) -> None:
    assert _of_type(text, "oab") == [value]


def test_oab_with_unknown_state_is_dropped() -> None:
    assert _of_type("OAB/XX 123.456", "oab") == []


def test_dates_numeric_and_written_invalid_dropped() -> None:
    text = (
        "Assinado em 05/01/2023, audiência em 12 de março de 2024;"
        " vence 31/02/2024 ou 1º de maio de 2024."
    )
    assert _of_type(text, "date") == ["2023-01-05", "2024-03-12", "2024-05-01"]
    assert _of_type("30 de fevereiro de 2024 e 45 de maio de 2024", "date") == []


def test_money() -> None:
    text = "Devo R$ 1.234,56, mais R$500 e R$ 2,5 e um acordo de R$ 10 mil."
    assert _of_type(text, "money") == ["1234.56", "500.00", "2.50", "10000.00"]


def test_email_and_phone() -> None:
    text = "Contato: Maria.Souza@exemplo.com.br, (11) 98765-4321, 21 3456-7890 ou +55 31 912345678."
    assert _of_type(text, "email") == ["maria.souza@exemplo.com.br"]
    assert _of_type(text, "phone") == ["11987654321", "2134567890", "31912345678"]


def test_phone_with_unknown_area_code_is_dropped() -> None:
    assert _of_type("ligue (10) 98765-4321", "phone") == []


def test_entity_offsets_and_dict() -> None:
    text = "pagar R$ 1.000,00 até 10/10/2024"
    money = extract_entities(text)[0]
    assert text[money.start : money.end] == "R$ 1.000,00"
    assert money.to_dict() == {"type": "money", "value": "1000.00", "start": 6, "end": 17}
    assert isinstance(money, Entity)


def test_plain_text_has_no_entities() -> None:
    assert extract_entities("fui demitido sem justa causa e não recebi nada") == []


def test_overlap_resolution_matches_the_pairwise_rule_on_a_long_text() -> None:
    """Bisection keeps exactly what comparing each entity with every kept one would keep."""
    from backend.domain.entities import _EXTRACTORS

    text = (
        "CPF 529.982.247-25, CNPJ 11.222.333/0001-81, processo 0001234-55.2023.8.26.0100, "
        "OAB/SP 123.456, em 12/03/2026, R$ 1.500,00, fulano@example.com, (11) 98765-4321. "
    ) * 300
    expected: list[Any] = []
    for extractor in _EXTRACTORS:
        for entity in extractor(text):
            if not any(entity.start < k.end and k.start < entity.end for k in expected):
                expected.append(entity)
    expected.sort(key=lambda e: (e.start, e.end))
    assert extract_entities(text) == expected
    assert len(expected) > 1000


def _first_come_reference(text: str) -> list[tuple[str, str, int, int]]:
    """The rule, spelled out quadratically: an entity stays unless it overlaps one kept before."""
    from backend.domain import entities

    kept: list[entities.Entity] = []
    for extractor in entities._EXTRACTORS:
        for entity in extractor(text):
            if not any(entity.start < k.end and k.start < entity.end for k in kept):
                kept.append(entity)
    return [(e.type, e.value, e.start, e.end) for e in sorted(kept, key=lambda e: e.start)]


def test_overlaps_resolve_as_first_come_on_a_long_document() -> None:
    # CNJ numbers hold date-like and CPF-like digits, money holds digits, phones and CPFs
    # compete for eleven digits: many overlapping candidates, repeated across a long text.
    block = (
        "Processo 0001234-56.2024.8.26.0100, autor CPF 52998224725 e 111.444.777-35, "
        "audiência em 12/03/2026 às 14h, R$ 1.500,00 de multa, contato (11) 98765-4321, "
        "e-mail autor@example.org, CNPJ 11.222.333/0001-81, OAB/SP 123.456, "
        "12 de março de 2026; telefone 11987654321.\n"
    )
    text = block * 300
    found = [(e.type, e.value, e.start, e.end) for e in extract_entities(text)]
    assert found == _first_come_reference(text)
    assert len(found) == 300 * len(extract_entities(block))
