import json

import pytest

from backend.domain.triage import TriageResult, classify_case, urgency_to_priority
from backend.domain.triage_rules import AREAS, URGENCIES


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_arrest_is_critical_criminal_and_quoted() -> None:
    description = "Socorro, meu filho foi preso ontem e não sabemos para onde levaram."
    result = classify_case("Preciso de advogado", description)
    assert (result.area, result.urgency) == ("criminal", "critical")
    top_urgency = next(r for r in result.reasons if r["field"] == "urgency")
    assert top_urgency["signal"] == "prisão"
    assert isinstance(top_urgency["quote"], str)
    assert "filho foi preso ontem" in top_urgency["quote"]
    assert top_urgency["quote"] in description


def test_every_reason_quotes_the_original_text() -> None:
    title = "Plano de saúde negou cirurgia"
    description = "Minha mãe precisa de cirurgia urgente e o convênio negou. Ela está internada."
    result = classify_case(title, description)
    assert result.reasons
    for reason in result.reasons:
        source = title if reason["source"] == "title" else description
        assert isinstance(reason["quote"], str)
        assert reason["quote"] in _flat(source)


def test_negated_urgency_does_not_count() -> None:
    text = "Quero revisar o valor da minha aposentadoria no INSS. Não é urgente, sem pressa."
    assert classify_case("Revisão", text).urgency in {"low", "normal"}
    # LABELS.md: urgency words alone raise nothing; only a concrete event and its time do.
    urgent = "Quero revisar o valor da minha aposentadoria no INSS. É urgente, preciso logo."
    assert classify_case("Revisão", urgent).urgency in {"low", "normal"}
    assert classify_case("Benefício", "Planejo me aposentar. Sem pressa.").urgency == "low"


def test_negated_arrest_is_not_critical() -> None:
    text = "Fui chamado para depor como testemunha. Não fui preso nem sou investigado."
    assert classify_case("Intimação", text).urgency != "critical"


def test_title_cues_weigh_more_than_description() -> None:
    description = "O banco cobrou uma tarifa e depois fui demitido sem receber as verbas."
    assert classify_case("Horas extras e rescisão", description).area == "trabalhista"
    assert classify_case("Tarifa bancária indevida", description).area == "consumidor"


def test_informal_writing_without_accents() -> None:
    text = "o inss cortou meu beneficio, nao tenho outra renda e vc sabe q o aluguel vence"
    result = classify_case("beneficio cortado", text)
    assert (result.area, result.urgency) == ("previdenciario", "high")


def test_area_precedence_from_definitions() -> None:
    assert classify_case("Convênio negou exame", "O plano de saúde negou meu exame.").area == (
        "consumidor"
    )
    assert (
        classify_case("SUS", "O SUS não marca minha consulta há um ano.").area == "administrativo"
    )
    assert classify_case("Despejo", "O proprietário quer me despejar do imóvel.").area == (
        "imobiliario"
    )
    assert classify_case("Herança", "Meu avô faleceu e queremos fazer o inventário.").area == (
        "familia"
    )


def test_two_named_precedence_rules_the_title_names_the_main_request() -> None:
    text = "Meu tio morreu e deixou um terreno com contrato de compra e venda. Um primo mora lá."
    result = classify_case("Inventário do meu tio", text)
    assert result.area == "familia"
    assert str(result.reasons[0]["signal"]).startswith("precedência")
    # Without the title naming it, the property's purchase contract decides.
    assert classify_case("Terreno do meu tio", text).area == "imobiliario"


def test_alimony_arrest_and_guardianship_authority_are_family_matters() -> None:
    text = "Meu filho deve três meses da pensão alimentícia e saiu a prisão civil dele ontem."
    assert classify_case("Pensão atrasada", text).area == "familia"
    taken = "O conselho tutelar levou minha sobrinha pro acolhimento ontem, quero a guarda."
    assert classify_case("Sobrinha levada", taken).area == "familia"


def test_stated_deadline_makes_case_high() -> None:
    text = "Recebi um auto de infração de ICMS e o prazo para impugnação termina em 12 dias."
    assert classify_case("Auto de infração", text).urgency == "high"
    past = "Recebi um auto de infração de ICMS há 12 dias e quero discutir a multa."
    assert classify_case("Auto de infração", past).urgency == "normal"


def test_unrecognised_text_is_outro_low_with_zero_confidence() -> None:
    result = classify_case("Oi", "Tudo bem? Bom dia.")
    assert (result.area, result.urgency, result.confidence) == ("outro", "low", 0.0)


def test_result_shape_and_json() -> None:
    description = (
        "Fui demitido por justa causa em 05/03/2024 sem receber R$ 3.500,00 de salário. "
        "Quero reverter a justa causa. " + "Trabalhei muitos anos lá. " * 30
    )
    result = classify_case("Justa causa", description)
    assert isinstance(result, TriageResult)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["engine"] == "rules-v5"
    assert result.area in AREAS
    assert result.urgency in URGENCIES
    assert 1 <= result.complexity <= 5
    assert 0.0 <= result.confidence <= 1.0
    assert len(result.summary) <= 240
    assert result.summary.startswith("Fui demitido por justa causa")
    assert {e["type"] for e in result.entities} == {"date", "money"}


def test_classification_is_deterministic() -> None:
    args = ("Pensão atrasada", "O pai não paga a pensão alimentícia há meses, sem renda.")
    assert classify_case(*args) == classify_case(*args)


@pytest.mark.parametrize(
    ("urgency", "priority"),
    [("low", "LOW"), ("normal", "NORMAL"), ("high", "HIGH"), ("critical", "CRITICAL")],
)
def test_urgency_to_priority(urgency: str, priority: str) -> None:
    assert urgency_to_priority(urgency) == priority


def test_urgency_to_priority_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown urgency"):
        urgency_to_priority("urgentíssimo")


def test_figurative_prison_counts_for_no_area() -> None:
    stuck = classify_case("Estou preso a um contrato", "A academia cobra multa pra eu cancelar.")
    assert stuck.area != "criminal" and stuck.urgency != "critical"
    assert classify_case("Meu filho foi preso", "Ele foi preso ontem em flagrante.").area == (
        "criminal"
    )
