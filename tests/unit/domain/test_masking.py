"""Masking of personal data in the LLM prompt: CPFs, e-mails, phones and people's names go,
the words triage reads (courts, agencies, places, the facts) stay."""

from __future__ import annotations

import pytest

from backend.domain.masking import mask_personal, name_spans


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Meu CPF é 111.444.777-35.", "Meu CPF é [CPF]."),
        ("CPF 11144477735, sem pontos", "CPF [CPF], sem pontos"),
        # A CPF-shaped number with a wrong check digit still points at someone.
        ("cpf 123.456.789-00", "cpf [CPF]"),
        ("escreva para maria.plantada@example.org hoje", "escreva para [E-MAIL] hoje"),
        ("ligue (11) 98765-4321 ou 21 3456-7890", "ligue [TELEFONE] ou [TELEFONE]"),
        ("Joana Plantada tem epilepsia", "[NOME] tem epilepsia"),
        ("Att., Dra. Luciana Prates Meirelles", "Att., Dra. [NOME]"),
        ("minha mãe, Dona Cida, 74 anos", "minha mãe, Dona [NOME], 74 anos"),
        ("o neto do seu Antônio Carlos, leito 7", "o neto do seu [NOME], leito 7"),
        ("Meu nome é Reinaldo, trabalho numa oficina", "Meu nome é [NOME], trabalho numa oficina"),
        ("me chamo Joana Batista Rodrigues", "me chamo [NOME]"),
        (
            "Os clientes, Sr. Jorge e Sra. Ana Lima, vieram",
            "Os clientes, Sr. [NOME] e Sra. [NOME], vieram",
        ),
        ("Cliente: Maria das Dores da Silva\nTelefone", "Cliente: [NOME]\nTelefone"),
    ],
)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask_personal(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "Fui ao Tribunal de Justiça de São Paulo e à Justiça do Trabalho; o INSS negou.",
        "Moro em Vitória da Conquista, perto de Santo Antônio de Jesus.",
        "Boa tarde, Dra. Ação de usucapião de imóvel em Belo Horizonte.",
        "meu filho João foi preso ontem",  # a given name alone identifies nobody
        "Processo 0001234-56.2024.8.26.0100, audiência dia 12/03/2026, R$ 1.500,00",
        "Preciso de ajuda URGENTE, Dr.",
    ],
)
def test_what_triage_reads_is_left_alone(text: str) -> None:
    assert mask_personal(text) == text


def test_a_name_never_runs_across_a_line_break() -> None:
    text = "Att., Rodrigo Siqueira\nVara Cível de Niterói"
    [(start, end)] = name_spans(text)
    assert text[start:end] == "Rodrigo Siqueira"
