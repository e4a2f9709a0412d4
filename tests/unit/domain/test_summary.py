from backend.domain.summary import summarise


def test_short_text_is_kept_with_whitespace_collapsed() -> None:
    assert summarise("  Fui   demitido.\nQuero ajuda. ") == "Fui demitido. Quero ajuda."


def test_keeps_whole_leading_sentences_within_limit() -> None:
    text = "Primeira frase curta. Segunda frase também curta. " + "Terceira muito longa " * 20
    assert summarise(text, limit=60) == "Primeira frase curta. Segunda frase também curta."


def test_cuts_a_single_long_sentence_at_a_word() -> None:
    text = "palavra " * 100
    summary = summarise(text, limit=50)
    assert len(summary) <= 50
    assert summary.endswith("palavra…")
