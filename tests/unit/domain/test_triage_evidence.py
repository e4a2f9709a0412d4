from datetime import date

from backend.domain.triage import classify_case
from backend.domain.triage_evidence import Evidence, gather

SUBMITTED = date(2026, 3, 10)


def _states(ev: Evidence, kind: str) -> set[str]:
    return {h.state for h in ev.harms if h.kind == kind and h.who != "other"}


def test_arrest_yesterday_is_happening() -> None:
    ev = gather("Prisão", "Meu sobrinho foi preso ontem numa blitz em Santos.", SUBMITTED)
    assert _states(ev, "liberty") == {"happening"}


def test_eviction_on_a_date_is_threatened_with_its_days() -> None:
    ev = gather("Despejo", "O oficial avisou que o despejo será no dia 13/03.", SUBMITTED)
    home = [h for h in ev.harms if h.kind == "home"]
    assert {(h.state, h.days) for h in home} == {("threatened", 3)}


def test_violence_years_ago_is_past() -> None:
    text = "Em 2018 meu ex marido me agrediu. Hoje moro em outra cidade e estou bem."
    ev = gather("Divórcio", text, SUBMITTED)
    assert _states(ev, "life") == {"past"}


def test_hypothetical_and_negated_harms() -> None:
    hypothetical = gather("Dúvida", "Se um dia eu for despejado, tenho direito a prazo?", SUBMITTED)
    assert _states(hypothetical, "home") == {"hypothetical"}
    negated = gather("Depoimento", "Vou depor como testemunha, não fui preso.", SUBMITTED)
    assert _states(negated, "liberty") == {"negated"}


def test_wishing_someone_else_arrested_is_not_the_clients_harm() -> None:
    ev = gather("Golpe", "Caí num golpe e quero ver esse homem preso!", SUBMITTED)
    assert {h.who for h in ev.harms if h.kind == "liberty"} == {"other"}


def test_reported_conditional_threat_is_a_threat() -> None:
    text = "Hoje ele disse que se eu sair de casa ele me mata."
    assert _states(gather("Ameaça", text, SUBMITTED), "life") == {"happening"}


def test_lost_income_goes_on_from_a_past_date() -> None:
    text = "O benefício foi suspenso em dezembro e estou sem renda."
    assert _states(gather("BPC", text, SUBMITTED), "income") == {"happening"}


def test_lapsed_and_live_deadlines() -> None:
    lapsed = gather("Multa", "O prazo da defesa era até 20/02 e eu perdi.", SUBMITTED)
    assert all(e.days < 0 or e.lapsed for e in lapsed.events)
    live = gather("Citação", "Recebi a citação e tenho 15 dias para contestar.", SUBMITTED)
    assert [(e.kind, e.days) for e in live.events] == [("legal", 15)]


def test_urgency_follows_the_event_not_the_drama() -> None:
    dramatic = "SOCORRO!!! URGENTE!!! O INSS está demorando para analisar minha aposentadoria."
    assert classify_case("URGENTE", dramatic, submitted_at=SUBMITTED).urgency == "normal"
    past = "Fui assaltado em 2022 e queria saber se o inquérito andou. Estou bem."
    assert classify_case("Assalto", past, submitted_at=SUBMITTED).urgency == "normal"
    months = "Tenho audiência de conciliação marcada para 20/09 no juizado contra a loja."
    assert classify_case("Audiência", months, submitted_at=SUBMITTED).urgency == "normal"
    weeks = "Tenho audiência de conciliação marcada para 25/03 no juizado contra a loja."
    assert classify_case("Audiência", weeks, submitted_at=SUBMITTED).urgency == "high"
    eviction = "O oficial de justiça disse que o despejo é amanhã e não tenho para onde ir."
    result = classify_case("Despejo", eviction, submitted_at=SUBMITTED)
    assert result.urgency == "critical"
    signals = {r["signal"] for r in result.reasons if r["field"] == "urgency"}
    assert {"moradia", "prazo ou evento próximo"} <= signals


def test_a_threat_inside_a_condition_is_hypothetical() -> None:
    text = "Ele sumiu. Mas se ele voltar a me ameaçar, posso pedir medida protetiva?"
    assert _states(gather("Dúvida sobre medida protetiva", text, SUBMITTED), "life") == {
        "hypothetical"
    }


def test_a_harm_a_question_asks_about_is_hypothetical_a_told_one_is_not() -> None:
    asked = gather("Malha fina", "Caí na malha fina. Vou ser preso?", SUBMITTED)
    assert _states(asked, "liberty") == {"hypothetical"}
    hearsay = gather("Receita", "Minha vizinha falou que isso dá cadeia!!!", SUBMITTED)
    assert _states(hearsay, "liberty") == {"hypothetical"}
    told = gather("Prisão", "Meu irmão foi preso e agora, o que eu faço?", SUBMITTED)
    assert _states(told, "liberty") != {"hypothetical"}


def test_figurative_prison_is_no_harm_to_liberty() -> None:
    ev = gather("Carro", "To preso nesse carro, o vendedor não transfere o documento.", SUBMITTED)
    assert _states(ev, "liberty") == set()


def test_released_or_in_remission_is_past_even_today() -> None:
    released = gather("Defesa", "Réu solto desde a audiência de custódia em 2025.", SUBMITTED)
    assert _states(released, "liberty") == {"past"}
    cured = gather("Isenção", "Teve câncer, hoje está em remissão, sem tratamento.", SUBMITTED)
    assert _states(cured, "health") == {"past"}


def test_a_supply_that_runs_out_by_a_date_is_a_threat_to_health() -> None:
    text = "A farmácia do estado não entregou. Só tem comprimido até sexta."
    health = [h for h in gather("Remédio", text, SUBMITTED).harms if h.kind == "health"]
    assert health and all(h.state == "threatened" for h in health)


def test_a_term_written_with_the_word_prazo_is_a_legal_event() -> None:
    ev = gather("Ação penal", "Réu citado ontem. Prazo de 10 dias para resposta.", SUBMITTED)
    assert ("legal", 10) in [(e.kind, e.days) for e in ev.events]


def test_planning_questions_and_narrated_disputes_read_apart() -> None:
    question = gather("Dúvida", "Quero abrir um MEI. Preciso de contador? Quanto custa?", SUBMITTED)
    dispute = gather(
        "Demissão", "Me demitiram e não pagaram a rescisão. Fui cobrar e negaram.", SUBMITTED
    )
    assert question.questions > dispute.questions
    assert dispute.past_verbs > question.past_verbs
