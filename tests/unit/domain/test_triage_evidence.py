from datetime import date

from backend.domain.triage import classify_case
from backend.domain.triage_evidence import Evidence, gather
from backend.domain.triage_model import features
from backend.domain.triage_time import find_time_refs

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


def test_a_notice_received_today_does_not_hide_the_term_it_gives() -> None:
    text = "Hoje chegou uma notificação do condomínio: tenho 12 dias pra retirar a placa."
    feats = features(gather("Notificação", text, SUBMITTED), "imobiliario")
    assert "legal_event:weeks" in feats


def test_a_programme_that_ends_on_a_date_is_a_legal_event() -> None:
    ev = gather("ICMS", "O parcelamento especial termina dia 25/03 e quero aderir.", SUBMITTED)
    assert {(e.kind, e.days) for e in ev.events} >= {("legal", 15)}


def test_this_month_and_end_of_year_are_read_against_the_calendar() -> None:
    refs = {r.text: r.days for r in find_time_refs("acaba esse mês; sai no fim do ano", SUBMITTED)}
    assert refs == {"esse mês": 21, "fim do ano": 280}


def test_until_today_puts_a_bare_date_in_the_past() -> None:
    refs = find_time_refs("Pedi o benefício no dia 02/03 e até hoje nada.", SUBMITTED)
    assert [r.days for r in refs if r.text == "02/03"] == [-8]


def test_no_income_said_in_other_words_is_income_lost_now() -> None:
    for text in (
        "Estou sem nenhuma renda desde que saí.",
        "A empresa não pagou a rescisão e estamos vivendo da ajuda da igreja.",
        "O banco avisou que R$ 30 mil foram bloqueados na conta da loja.",
    ):
        assert _states(gather("Renda", text, SUBMITTED), "income") == {"happening"}, text


def test_auxiliaries_do_not_break_a_negation() -> None:
    ev = gather("Aluguel", "Não tô sendo despejado, só quero discutir o reajuste.", SUBMITTED)
    assert _states(ev, "home") == {"negated"}


def test_scare_quotes_and_figures_of_speech_are_no_harm() -> None:
    quoted = gather("Franquia", 'A rede disse que vai nos "despejar" do shopping.', SUBMITTED)
    assert _states(quoted, "home") == set()
    for text in ("A restituição está presa na malha fina.", "Parece que estou numa prisão."):
        assert _states(gather("IR", text, SUBMITTED), "liberty") == set(), text


def test_asking_for_a_remedy_after_a_but_is_hypothetical_despite_today() -> None:
    text = "Hoje ele não me procura, mas se ele voltar, posso pedir medida protetiva?"
    assert _states(gather("Dúvida", text, SUBMITTED), "life") == {"hypothetical"}


def test_nothing_done_yet_reads_as_no_conflict_and_a_refusal_as_dispute() -> None:
    calm = gather("Dúvida", "Ainda não pedi nada ao INSS, é só uma curiosidade.", SUBMITTED)
    assert calm.cue("no_conflict")
    opposed = gather("Inventário", "Um dos irmãos se opõe à venda e não assina.", SUBMITTED)
    assert opposed.cue("dispute")


def test_a_term_whose_word_stands_farther_back_is_still_a_term() -> None:
    text = "O resultado saiu ontem e o prazo do recurso administrativo é de 5 dias úteis."
    feats = features(gather("Concurso", text, SUBMITTED), "administrativo")
    assert "legal_event:soon" in feats


def test_this_month_in_the_past_tense_is_now() -> None:
    refs = find_time_refs("O benefício não caiu esse mês.", SUBMITTED)
    assert [r.days for r in refs] == [0]


def test_eviction_from_a_platform_is_no_home_and_locked_accounts_are_income() -> None:
    ev = gather("Loja", "Fomos despejados da plataforma sem aviso.", SUBMITTED)
    assert _states(ev, "home") == set()
    text = "Meu sócio trocou as senhas da conta e não consigo acessar."
    locked = gather("Sócio", text, SUBMITTED)
    assert _states(locked, "income") == {"happening"}
