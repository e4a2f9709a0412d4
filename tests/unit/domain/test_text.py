from backend.domain.text import (
    compile_phrase,
    find_phrase,
    is_negated,
    normalise,
    quote_around,
    stem,
    strip_accents,
    tokenize,
)


def test_normalise_lowercases_strips_accents_and_collapses_space() -> None:
    assert normalise("  Ação   de\tDESPEJO\n já ") == "acao de despejo ja"
    assert strip_accents("ÇÃÉÍÕÜ") == "CAEIOU"


def test_stem_folds_inflections_of_one_word() -> None:
    forms = ["demitido", "demitida", "demissão", "demitiram", "Demitir", "demissões"]
    assert {stem(form) for form in forms} == {"demit"}
    assert stem("urgência") == stem("urgente") == stem("urgentemente")
    assert stem("preso") == stem("presa") == stem("presos")
    assert stem("prisão") == stem("prisões")


def test_stem_keeps_short_words_and_unrelated_words_apart() -> None:
    assert stem("sem") == "sem"
    assert stem("casamento") != stem("caso")


def test_tokens_keep_offsets_into_original_text() -> None:
    text = "Fui demitida ontem"
    tokens = tokenize(text)
    assert [text[t.start : t.end] for t in tokens] == ["Fui", "demitida", "ontem"]
    assert tokens[1].norm == "demitida"
    assert tokens[1].stem == "demit"


def _negated(text: str, cue: str) -> list[bool]:
    return [m.negated for m in find_phrase(tokenize(text), compile_phrase(cue))]


def test_negation_within_window() -> None:
    assert _negated("Não é urgente", "urgente") == [True]
    assert _negated("caso sem urgência", "urgente") == [True]
    assert _negated("nao tem pressa nenhuma", "pressa") == [True]
    assert _negated("Eu não fui preso", "preso") == [True]
    assert _negated("Meu filho foi preso ontem", "preso") == [False]


def test_negation_stops_at_clause_boundary_and_window() -> None:
    assert _negated("Não tenho dinheiro, meu filho foi preso", "preso") == [False]
    assert _negated("não sei o que fazer mas é urgente", "urgente") == [False]
    assert _negated("não tenho como saber se algum dia é urgente", "urgente") == [False]


def test_is_negated_on_first_token_is_false() -> None:
    assert not is_negated(tokenize("urgente"), 0)


def test_phrase_with_prefix_term_and_quote() -> None:
    text = "Estou aposentado há dois anos e o INSS cortou o benefício."
    tokens = tokenize(text)
    matches = find_phrase(tokens, compile_phrase("aposent*"))
    assert len(matches) == 1
    assert quote_around(text, tokens, matches[0]) == "Estou aposentado há dois anos"
    assert find_phrase(tokens, compile_phrase("cortou o benefício"))[0].negated is False


def test_phrase_does_not_span_clauses() -> None:
    assert find_phrase(tokenize("plano. de saúde"), compile_phrase("plano de saúde")) == []
    assert len(find_phrase(tokenize("plano de saúde"), compile_phrase("plano de saúde"))) == 1


def test_words_are_the_tokens_normal_forms() -> None:
    from backend.domain.text import tokenize, words

    text = "Ação de DESPEJO: não pagou o aluguel, João!\nPrazo 15 dias; citação em 12/03."
    assert words(text) == [token.norm for token in tokenize(text)]
