"""The pure half of LLM triage: the prompt, and the validation of the model's answer.

The model only proposes area, urgency, complexity, confidence, a summary and quoted reasons;
the answer is checked against `LLMTriage` (enums and ranges), reasons whose quote is not in the
client's text are dropped, and entities always come from the validated extractors.

The model sees the case with its personal data masked (backend/domain/masking.py: names,
CPFs, e-mail addresses, phones become placeholders); its quotes are checked against that text.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from backend.domain import triage_rules as rules
from backend.domain.entities import extract_entities
from backend.domain.masking import mask_personal
from backend.domain.triage import JsonValue, TriageResult

_FENCE_RE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_SPACE_RE = re.compile(r"\s+")
_MAX_REASONS = 8
_ALLOWED = {"area": rules.AREAS, "urgency": rules.URGENCIES}

URGENCY_DEFINITIONS = (
    "Urgência: classifique o que o texto diz, como um advogado cuidadoso o leria na data de "
    "envio, e não o quão dramático ele soa. Leia datas explícitas e relativas a partir da data "
    "de envio informada. "
    "low = informação ou planejamento: uma dúvida, um plano para o futuro, nada em disputa "
    "ainda. "
    "normal = disputa ou problema em curso, mas sem prazo próximo e sem dano grave acontecendo: "
    "pode esperar semanas sem prejuízo. "
    "high = prazo concreto em semanas (audiência, prazo legal ou vencimento em até ~30 dias) ou "
    "dano sério acontecendo agora que não atinge liberdade, vida ou moradia: sem renda, salário "
    "não pago, conta bloqueada, luz ou água cortada, benefício suspenso. "
    "critical = liberdade, vida, saúde ou moradia em jogo em horas ou dias: alguém preso ou "
    "prestes a ser, cirurgia ou remédio urgente negado, violência doméstica acontecendo ou "
    "ameaçada agora, despejo amanhã ou nesta semana, criança levada agora. "
    "Casos difíceis (exemplos curtos): "
    "palavras dramáticas sem evento concreto não elevam a urgência "
    '("SOCORRO, URGENTE, o INSS não analisa meu pedido há 8 meses" = normal); '
    "assunto grave no passado não é crítico "
    '("fui agredida em 2019, ele mora em outro estado, quero o divórcio" = normal); '
    'urgência negada não conta ("não é urgente, quero tirar meu nome do Serasa" = normal); '
    "urgência hipotética não conta "
    '("se um dia eu for despejado, quanto tempo tenho para sair?" = low); '
    "prazo já vencido não eleva "
    '("o prazo da defesa da multa era mês passado e eu perdi" = normal); '
    'audiência daqui a meses é normal ("audiência de conciliação marcada para daqui a 5 meses" '
    "= normal); prazo em semanas é high "
    '("recebi citação e tenho 15 dias para contestar" = high). '
)

AREA_RULES = (
    "Área: a do pedido principal (o que a pessoa pede ao escritório), mesmo quando o texto cita "
    "outras. Precedências: plano de saúde = consumidor; SUS, órgãos públicos, servidor público "
    "e concurso = administrativo; aluguel, despejo, compra e venda de imóvel e usucapião = "
    "imobiliario; herança, inventário, testamento e violência doméstica (Maria da Penha, "
    "medida protetiva) = familia; demais crimes e polícia = criminal; INSS = previdenciario. "
)

SYSTEM_PROMPT = (
    "Você é um assistente de triagem de um escritório de advocacia brasileiro. "
    + URGENCY_DEFINITIONS
    + AREA_RULES
    + "Classifique o caso do cliente e responda APENAS com um objeto JSON com as chaves: "
    f'"area" (uma de: {", ".join(rules.AREAS)}), '
    f'"urgency" (uma de: {", ".join(rules.URGENCIES)}), '
    '"complexity" (inteiro de 1 a 5), "confidence" (número de 0 a 1), '
    '"summary" (resumo de até 240 caracteres, sem inventar fatos) e '
    '"reasons" (lista de até 8 objetos {"field": "area" ou "urgency", "signal": o motivo, '
    '"quote": trecho copiado literalmente do texto do cliente}).'
)


class InvalidLLMReply(ValueError):
    """The model answered, but not with a usable triage; `reason` is a short code."""

    def __init__(self, reason: Literal["invalid_json", "invalid_schema"], message: str) -> None:
        super().__init__(message)
        self.reason = reason


class LLMReason(BaseModel):
    model_config = ConfigDict(extra="ignore")

    field: Literal["area", "urgency"]
    signal: str = Field(min_length=1, max_length=200)
    quote: str = Field(min_length=1, max_length=500)


class LLMTriage(BaseModel):
    """What the model must answer; anything else is refused and the rules engine answers."""

    model_config = ConfigDict(extra="ignore")

    area: str
    urgency: str
    complexity: int = Field(ge=1, le=5)
    confidence: float = Field(ge=0.0, le=1.0)
    summary: str = Field(min_length=1, max_length=1000)
    reasons: list[LLMReason] = Field(default_factory=list, max_length=20)

    @field_validator("area", "urgency")
    @classmethod
    def _known_value(cls, value: str, info: ValidationInfo) -> str:
        allowed = _ALLOWED[str(info.field_name)]
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value


def build_messages(
    title: str, description: str, *, submitted_at: date | None = None
) -> list[dict[str, str]]:
    """Chat messages for an OpenAI-compatible /chat/completions call.

    The submission date (default: today) goes with the case, so that the model reads dates
    such as "amanhã" or "dia 12" against it. Title and description go with their personal
    data masked.
    """
    sent = (submitted_at or date.today()).isoformat()
    title, description = mask_personal(title), mask_personal(description)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": f"Data de envio: {sent}\n\nTítulo: {title}\n\nDescrição:\n{description}",
        },
    ]


def reply_content(payload: Any) -> str:
    """The assistant's text in a chat-completions response body."""
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise InvalidLLMReply(
            "invalid_schema", "response has no choices[0].message.content"
        ) from None
    if not isinstance(content, str):
        raise InvalidLLMReply("invalid_schema", "message content is not text")
    return content


def _flat(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip().casefold()


def _quoted_reasons(
    reasons: list[LLMReason], title: str, description: str
) -> list[dict[str, JsonValue]]:
    """Reasons whose quote really is in the client's text as the model saw it (masked), or
    as it is (a model may invent one)."""
    kept: list[dict[str, JsonValue]] = []
    titles = (_flat(title), _flat(mask_personal(title)))
    descriptions = (_flat(description), _flat(mask_personal(description)))
    for reason in reasons:
        quote = _flat(reason.quote)
        source = (
            "title"
            if any(quote in text for text in titles)
            else "description"
            if any(quote in text for text in descriptions)
            else ""
        )
        if source and len(kept) < _MAX_REASONS:
            kept.append(
                {
                    "field": reason.field,
                    "signal": reason.signal,
                    "quote": reason.quote.strip(),
                    "source": source,
                }
            )
    return kept


def parse_reply(content: str, *, title: str, description: str, engine: str) -> TriageResult:
    """Validate the model's text into a TriageResult; raises InvalidLLMReply."""
    text = content.strip()
    fenced = _FENCE_RE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        raw = json.loads(text)
    except ValueError:
        raise InvalidLLMReply("invalid_json", "the model did not answer with JSON") from None
    try:
        answer = LLMTriage.model_validate(raw)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "root" for e in exc.errors()})
        raise InvalidLLMReply(
            "invalid_schema", f"answer does not match the schema ({', '.join(fields)})"
        ) from None
    return TriageResult(
        area=answer.area,
        urgency=answer.urgency,
        complexity=answer.complexity,
        confidence=round(answer.confidence, 2),
        summary=answer.summary.strip(),
        reasons=_quoted_reasons(answer.reasons, title, description),
        entities=[entity.to_dict() for entity in extract_entities(f"{title}\n{description}")],
        engine=engine,
    )
