import json

import pytest

from backend.domain.documents import DOCUMENT_TYPES, analyse_text, classify_document, language_hint

SAMPLES = {
    "peticao_inicial": (
        "EXCELENTÍSSIMO SENHOR DOUTOR JUIZ DE DIREITO DA 2ª VARA CÍVEL DA COMARCA DE SÃO PAULO. "
        "MARIA DA SILVA vem, respeitosamente, propor AÇÃO DE INDENIZAÇÃO. Dos fatos... "
        "Dos pedidos: requer a citação do réu. Dá-se à causa o valor de R$ 10.000,00."
    ),
    "contestacao": (
        "Excelentíssimo Senhor Doutor Juiz de Direito. BANCO X S.A., nos autos da ação, vem "
        "apresentar CONTESTAÇÃO. Preliminarmente, impugna o valor da causa. Requer a improcedência."
    ),
    "sentenca": (
        "Vistos. Trata-se de ação de cobrança. É o relatório. Fundamento e decido. "
        "DISPOSITIVO. Ante o exposto, JULGO PROCEDENTE o pedido. Publique-se. Intimem-se."
    ),
    "acordao": (
        "EMENTA: APELAÇÃO CÍVEL. ACÓRDÃO. Vistos, relatados e discutidos estes autos, ACORDAM os "
        "Desembargadores da 5ª Câmara em negar provimento ao recurso. Relator: Des. Fulano."
    ),
    "contrato": (
        "CONTRATO DE PRESTAÇÃO DE SERVIÇOS. CONTRATANTE: Empresa A. CONTRATADA: Empresa B. "
        "Cláusula primeira - do objeto. Cláusula segunda - da vigência."
    ),
    "procuracao": (
        "PROCURAÇÃO AD JUDICIA. OUTORGANTE: João Souza. OUTORGADO: Dr. Pedro, OAB/SP 123.456, "
        "a quem confere amplos poderes para o foro em geral."
    ),
    "boletim_ocorrencia": (
        "SECRETARIA DA SEGURANÇA PÚBLICA - BOLETIM DE OCORRÊNCIA nº 1234/2024. Delegacia: 3º DP. "
        "Natureza da ocorrência: furto. Comunicante: Ana Lima."
    ),
    "laudo_medico": (
        "LAUDO MÉDICO. Atesto que o paciente José apresenta lombalgia crônica, CID M54.5, "
        "com incapacidade para o trabalho. Dr. Carlos, CRM 12345."
    ),
    "comprovante": (
        "RECIBO. Recebi de Paulo Mendes a importância de R$ 1.500,00 referente ao aluguel de "
        "março de 2024."
    ),
    "outro": "Lista de compras: arroz, feijão, café e pão.",
}


@pytest.mark.parametrize(("expected", "text"), list(SAMPLES.items()))
def test_classify_document(expected: str, text: str) -> None:
    assert classify_document(text) == expected


def test_samples_cover_every_type() -> None:
    assert set(SAMPLES) == set(DOCUMENT_TYPES)


def test_comprovante_de_pagamento() -> None:
    assert classify_document("Comprovante de transferência PIX. Valor pago: R$ 50,00") == (
        "comprovante"
    )


def test_empty_text_is_outro() -> None:
    assert classify_document("") == "outro"


def test_language_hint() -> None:
    assert language_hint("O réu não pagou a dívida de aluguel e os juros da multa.") == "pt"
    assert language_hint("The defendant did not pay the rent and the fees of the lease.") == "en"
    assert language_hint("12345") == "unknown"


def test_analyse_text() -> None:
    text = SAMPLES["procuracao"] + " Nos termos da lei, para que produza os efeitos de direito."
    analysis = analyse_text(text)
    assert analysis.doc_type == "procuracao"
    assert analysis.char_count == len(text)
    assert analysis.word_count == len(text.split())
    assert analysis.language == "pt"
    assert [(e.type, e.value) for e in analysis.entities] == [("oab", "123456/SP")]
    data = analysis.to_dict()
    assert json.loads(json.dumps(data)) == data
    start = text.index("OAB/SP")
    assert data["entities"] == [
        {"type": "oab", "value": "123456/SP", "start": start, "end": start + len("OAB/SP 123.456")}
    ]
