import json
from typing import Any

import pytest

from backend.domain.triage_llm import InvalidLLMReply, build_messages, parse_reply, reply_content
from backend.domain.triage_rules import AREAS, URGENCIES

TITLE = "Demitido sem receber"
DESCRIPTION = (
    "Fui demitido semana passada e a empresa não pagou minhas verbas rescisórias. "
    "Meu CPF é 529.982.247-25."
)


def answer(**overrides: Any) -> str:
    body = {
        "area": "trabalhista",
        "urgency": "high",
        "complexity": 2,
        "confidence": 0.876,
        "summary": "Cliente demitido sem as verbas rescisórias.",
        "reasons": [
            {"field": "area", "signal": "demissão", "quote": "Fui demitido  semana passada"},
            {"field": "urgency", "signal": "inventado", "quote": "o juiz marcou audiência"},
        ],
    }
    body.update(overrides)
    return json.dumps(body)


def parse(content: str) -> Any:
    return parse_reply(content, title=TITLE, description=DESCRIPTION, engine="llm:test")


def test_valid_answer_becomes_a_triage_result_with_verified_quotes() -> None:
    result = parse(answer())
    assert (result.area, result.urgency, result.complexity) == ("trabalhista", "high", 2)
    assert result.confidence == 0.88 and result.engine == "llm:test"
    # The invented quote is dropped; the real one is kept whatever its spacing.
    assert [r["signal"] for r in result.reasons] == ["demissão"]
    assert result.reasons[0]["source"] == "description"
    # Entities come from the validated extractors, not from the model.
    assert [e["type"] for e in result.entities] == ["cpf"]
    assert set(result.to_dict()) >= {"area", "urgency", "complexity", "summary", "engine"}


def test_fenced_json_is_accepted() -> None:
    assert parse(f"```json\n{answer()}\n```").area == "trabalhista"


@pytest.mark.parametrize("content", ["not json", "{'area': 'civil'}", "", "```\n{broken\n```"])
def test_invalid_json_is_refused(content: str) -> None:
    with pytest.raises(InvalidLLMReply) as info:
        parse(content)
    assert info.value.reason == "invalid_json"


@pytest.mark.parametrize(
    "overrides",
    [
        {"area": "astrologia"},
        {"urgency": "amanhã"},
        {"complexity": 0},
        {"complexity": 6},
        {"complexity": 2.5},
        {"confidence": 1.5},
        {"summary": ""},
        {"reasons": [{"field": "cor", "signal": "x", "quote": "y"}]},
        {"area": None},
    ],
)
def test_answers_outside_the_schema_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidLLMReply) as info:
        parse(answer(**overrides))
    assert info.value.reason == "invalid_schema"


def test_a_json_list_is_not_an_answer() -> None:
    with pytest.raises(InvalidLLMReply):
        parse("[1, 2]")


def test_reply_content_reads_the_first_choice() -> None:
    payload = {"choices": [{"message": {"role": "assistant", "content": "{}"}}]}
    assert reply_content(payload) == "{}"
    for bad in ({}, {"choices": []}, {"choices": [{"message": {"content": 3}}]}, None):
        with pytest.raises(InvalidLLMReply):
            reply_content(bad)


def test_prompt_names_every_area_and_urgency_and_carries_the_case() -> None:
    system, user = build_messages(TITLE, DESCRIPTION)
    assert system["role"] == "system" and user["role"] == "user"
    assert all(area in system["content"] for area in AREAS)
    assert all(level in system["content"] for level in URGENCIES)
    assert TITLE in user["content"]
    assert DESCRIPTION.replace("529.982.247-25", "[CPF]") in user["content"]


def test_prompt_states_urgency_definitions_and_carries_the_submission_date() -> None:
    from datetime import date

    system, user = build_messages(TITLE, DESCRIPTION, submitted_at=date(2026, 3, 10))
    assert "Data de envio: 2026-03-10" in user["content"]
    for words in ("horas ou dias", "semanas", "planejamento", "hipotética", "já vencido"):
        assert words in system["content"]


def test_the_prompt_carries_no_personal_data_and_quotes_of_it_still_count() -> None:
    title = "Demissão de Joana Plantada"
    description = (
        "Meu CPF é 111.444.777-35, e-mail joana@example.org, telefone (11) 98765-4321. "
        "Fui demitida grávida."
    )
    _, user = build_messages(title, description)
    for value in ("Joana", "Plantada", "111.444.777-35", "joana@example.org", "98765-4321"):
        assert value not in user["content"]
    assert "Demissão de [NOME]" in user["content"] and "Fui demitida grávida." in user["content"]
    reply = (
        '{"area": "trabalhista", "urgency": "high", "complexity": 2, "confidence": 0.8,'
        ' "summary": "Demissão de gestante.", "reasons": ['
        '{"field": "area", "signal": "demissão", "quote": "Demissão de [NOME]"},'
        '{"field": "urgency", "signal": "gestante", "quote": "Fui demitida grávida"}]}'
    )
    result = parse_reply(reply, title=title, description=description, engine="llm:x")
    assert [r["source"] for r in result.reasons] == ["title", "description"]
    # Entities still come from the real text (they stay with the case, sealed).
    assert {e["type"] for e in result.entities} >= {"cpf", "email", "phone"}
