from datetime import date

import pytest

from backend.domain.triage_time import find_time_refs, horizon

# A Tuesday.
SUBMITTED = date(2026, 3, 10)


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        ("hoje", 0),
        ("hj à tarde", 0),
        ("amanhã cedo", 1),
        ("depois de amanhã", 2),
        ("ontem à noite", -1),
        ("esta semana", 3),
        ("semana que vem", 7),
        ("semana passada", -7),
        ("em 15 dias", 15),
        ("daqui a dois meses", 60),
        ("faltam dez dias", 10),
        ("prazo de 5 dias úteis", 7),
        ("em até 48 horas", 2),
        ("há 10 dias", -10),
        ("faz 3 anos", -1095),
        ("mês que vem", 30),
        ("ano passado", -365),
        ("audiência dia 12", 2),
        ("audiência 12/03", 2),
        ("audiência em 12/03/2026", 2),
        ("marcada para 2 de abril", 23),
        ("o despejo é na sexta", 3),
        ("a perícia ficou marcada para quinta-feira", 2),
        ("em 2019", (date(2019, 7, 1) - SUBMITTED).days),
    ],
)
def test_expressions_become_days_from_the_submission(expression: str, days: int) -> None:
    assert horizon(expression, SUBMITTED) == days


def test_weekday_tense_follows_the_verbs() -> None:
    assert horizon("ele foi levado na sexta", SUBMITTED) == -4
    assert horizon("internada desde sábado", SUBMITTED) == -3
    assert horizon("a reintegração vai ser na sexta", SUBMITTED) == 3


def test_day_of_month_before_today_is_past_or_next_month() -> None:
    assert horizon("recebi a carta no dia 5", SUBMITTED) == -5
    assert horizon("a audiência é dia 5", SUBMITTED) == 26
    assert horizon("pagou dia 24 do mês passado", SUBMITTED) == -14


def test_month_names_read_with_the_verbs() -> None:
    assert horizon("dei entrada em outubro", SUBMITTED) == (date(2025, 10, 15) - SUBMITTED).days
    assert horizon("audiência só em agosto", SUBMITTED) == (date(2026, 8, 15) - SUBMITTED).days


def test_dates_without_year_are_read_around_the_submission() -> None:
    late = date(2026, 12, 20)
    assert horizon("audiência em 05/01", late) == 16
    assert horizon("a liminar saiu em 18/12", late) == -2


@pytest.mark.parametrize(
    "text",
    ["tenho 58 anos", "com 20 dias de uso", "pela segunda vez", "a segunda mulher dele"],
)
def test_ages_lengths_and_ordinals_are_not_dates(text: str) -> None:
    assert find_time_refs(text, SUBMITTED) == []


def test_references_keep_their_quote() -> None:
    text = "O oficial disse que o despejo é amanhã, 11/03."
    refs = find_time_refs(text, SUBMITTED)
    assert [(r.days, r.text) for r in refs] == [(1, "amanhã"), (1, "11/03")]
    assert all(text[r.start : r.end] == r.text for r in refs)
