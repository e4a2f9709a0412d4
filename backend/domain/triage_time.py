"""Time expressions in a case, normalised to a signed offset in days from the submission date.

"hoje" is 0, "amanhã" +1, "ontem" -1, "semana que vem" +7, "em 15 dias" +15, "há 2 anos" -730,
"dia 12" and "12/03" the nearest sensible 12th, "sexta" the next or the last Friday depending on
the verbs around it. Every reference keeps its offsets, so it can be quoted verbatim.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from backend.domain.text import strip_accents

# How sure a reference's date is: "exact" (a calendar date or hoje/amanhã), "weekday" (tense
# inferred from the verbs), "approx" (semana que vem, mês que vem, durations in months).
EXACT, INFERRED, APPROX = "exact", "inferred", "approx"

MONTHS = {
    "janeiro": 1,
    "fevereiro": 2,
    "marco": 3,
    "abril": 4,
    "maio": 5,
    "junho": 6,
    "julho": 7,
    "agosto": 8,
    "setembro": 9,
    "outubro": 10,
    "novembro": 11,
    "dezembro": 12,
}
WEEKDAYS = {
    "segunda": 0,
    "terca": 1,
    "quarta": 2,
    "quinta": 3,
    "sexta": 4,
    "sabado": 5,
    "domingo": 6,
}
NUMBER_WORDS = {
    "um": 1,
    "uma": 1,
    "dois": 2,
    "duas": 2,
    "tres": 3,
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "sete": 7,
    "oito": 8,
    "nove": 9,
    "dez": 10,
    "onze": 11,
    "doze": 12,
    "quinze": 15,
    "vinte": 20,
    "trinta": 30,
    "quarenta": 40,
    "sessenta": 60,
    "noventa": 90,
}
_UNIT_DAYS = {"hora": 0, "horas": 0, "h": 0, "dia": 1, "semana": 7, "mes": 30, "ano": 365}
# Business days: a term of N of them ends about 7/5 N calendar days later.
_BUSINESS_FACTOR = 1.4

_NUM = r"(\d{1,3}|" + "|".join(NUMBER_WORDS) + r")"
_UNIT = r"(horas?|h|dias?|semanas?|mes(?:es)?|anos?)"
_UTEIS = r"(\s+uteis)?"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that put an undated weekday, day of the month or month in the past or in the future.
_PAST_WORDS = _words(
    "desde ultimo ultima ultimos ultimas passado passada passados passadas foi fui foram fomos "
    "era eram estava estavam tinha tinham havia veio vieram teve tive tiveram houve fez fiz "
    "fizeram deu dei disse disseram ontem anteontem naquele naquela epoca atras ia"
)
_FUTURE_WORDS = _words(
    "proximo proxima proximos proximas vem partir vai vao vou vamos ira irao sera serao "
    "marcado marcada marcados marcadas agendado agendada agendados agendadas designado "
    "designada designadas previsto prevista programado programada termina vence acaba "
    "dessa desta nesta nessa neste nesse e pra para pro tem tenho temos precisa preciso "
    "dura comeca volta chega ate"
)
# Words ending like a past tense that are not one.
_NOT_VERBS = _words(
    "vou sou estou tou dou ou meu seu teu eu reu ceu chapeu museu europeu judeu sei lei rei "
    "aqui ali daqui dali possui inclui contribui constitui distribui conclui"
)
_PRETERITE_RE = re.compile(
    r"\w{2,}(?:ou|eu|iu|aram|eram|iram|ei|avam|ava|di|bi|vi|ri|ti|gi|ci|ui)$"
)
_TOKEN_RE = re.compile(r"\w+")

_DATE_FULL_RE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{2,4})(?![\d/])")
_DATE_SHORT_RE = re.compile(r"(?<![\d/.,])(\d{1,2})/(\d{1,2})(?![\d/]|\.\d|,\d)")
_DATE_WRITTEN_RE = re.compile(
    r"\b(?:dia\s+)?(\d{1,2})(?:o|º|°)?\s+de\s+("
    + "|".join(MONTHS)
    + r")(?:\s+(?:de\s+)?(\d{4}))?\b"
)
_MONTH_YEAR_RE = re.compile(r"\b(" + "|".join(MONTHS) + r")\s*(?:/|de)\s*(\d{4})\b")
_MONTH_ALONE_RE = re.compile(
    r"\b(em|de|ate|desde|pra|para|no mes de|so em|e em)\s+(" + "|".join(MONTHS) + r")\b"
)
_DAY_OF_MONTH_RE = re.compile(
    r"\bdia\s+(\d{1,2})(?!\s*(?:/|de\s+(?:" + "|".join(MONTHS) + r")))"
    r"(\s+(?:d[oe]ste|d[oe]sse|do)\s+mes(?:\s+(?:passado|que vem|q vem))?|\s+do\s+proximo\s+mes)?"
)
_WEEKDAY_RE = re.compile(
    r"\b(segunda|terca|quarta|quinta|sexta|sabado|domingo)(\s*-?\s*feiras?)?\b"
)
_WEEKDAY_LEAD_RE = re.compile(
    r"\b(na|no|nesta|nessa|neste|nesse|desta|dessa|deste|desse|ate|desde|ultima|ultimo|proxima|"
    r"proximo|toda|todo|pra|para|partir de|e|ou|foi|veio|volta|vem|chega|de|sexta|sabado|"
    r"domingo|segunda|terca|quarta|quinta)\s*$"
)
_YEAR_RE = re.compile(r"\b(?:em|de|desde|ate|ano de|no ano de|a|e)\s+((?:19|20)\d{2})\b")
_AGO_RE = re.compile(
    r"\b(?:ha|faz|fazem|ja faz)\s+(?:uns\s+|umas\s+|mais de\s+|quase\s+|cerca de\s+)?"
    + _NUM
    + r"\s+"
    + _UNIT
    + r"\b"
)
_AGO_AFTER_RE = re.compile(r"\b" + _NUM + r"\s+" + _UNIT + r"\s+atras\b")
_TERM_RE = re.compile(
    r"\b(em|daqui a|daqui|dentro de|prazo de|prazo e de|de|tenho|tem|temos|mais|faltam|falta|"
    r"ate|proximos|proximas|por|so tem pra mais|so tem para mais)\s+"
    r"(?:ate\s+|uns\s+|umas\s+|no maximo\s+)?"
    + _NUM
    + r"(?:\s+ou\s+\d{1,2})?\s+"
    + _UNIT
    + _UTEIS
    + r"\b"
)
# "ela faz 65 anos em fevereiro": from this many years on, "faz N anos" is an age.
_AGE_MIN_YEARS = 30
_WEAK_LEADS = frozenset({"de", "por", "tem", "tenho", "temos"})
_BARE_TERM_RE = re.compile(r"\b" + _NUM + r"\s+" + _UNIT + _UTEIS + r"\s+(?:pra|para|p/)\b")
_RELATIVE: tuple[tuple[re.Pattern[str], int, str], ...] = tuple(
    (re.compile(pattern), days, certainty)
    for pattern, days, certainty in (
        (r"\bdepois de amanha\b", 2, EXACT),
        (r"\bamanha\b", 1, EXACT),
        (r"\banteontem\b", -2, EXACT),
        (r"\bontem\b", -1, EXACT),
        (r"\b(?:hoje|hj)\b", 0, EXACT),
        (
            r"\b(?:agora mesmo|neste momento|nesse momento|acabou de|acabaram de|agorinha)\b",
            0,
            EXACT,
        ),
        (r"\ba qualquer momento\b", 0, APPROX),
        (r"\b(?:semana que vem|semana q vem|proxima semana)\b", 7, APPROX),
        (r"\b(?:esta|essa|nesta|nessa|desta|dessa) semana\b", 3, APPROX),
        (r"\b(?:semana passada|ultima semana)\b", -7, APPROX),
        (r"\b(?:mes que vem|mes q vem|proximo mes)\b", 30, APPROX),
        (r"\b(?:mes passado|ultimo mes)\b", -30, APPROX),
        (r"\b(?:ano que vem|ano q vem|proximo ano)\b", 365, APPROX),
        (r"\bano passado\b", -365, APPROX),
        (r"\b(?:semestre que vem|proximo semestre|segundo semestre)\b", 120, APPROX),
        (r"\b(?:nos proximos dias|em poucos dias|em breve)\b", 5, APPROX),
    )
)


@dataclass(frozen=True, slots=True)
class TimeRef:
    """A time expression: `days` from the submission date (negative = past), with its quote."""

    days: int
    start: int
    end: int
    text: str
    kind: str
    certainty: str

    @property
    def tense(self) -> str:
        return "past" if self.days < 0 else "present" if self.days == 0 else "future"


# Bounded: any text may bring new characters.
@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    low = strip_accents(ch.lower())
    return low if len(low) == 1 else ch


def fold(text: str) -> str:
    """Lowercase without accents, one output character per input character (offsets kept)."""
    return "".join(map(_fold_char, text))


def _number(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return NUMBER_WORDS.get(word)


def _unit_days(unit: str) -> int:
    base = unit.rstrip("s") if unit not in {"mes", "meses"} else "mes"
    return _UNIT_DAYS.get(base, _UNIT_DAYS.get(unit, 1))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _sentence_bounds(folded: str, start: int, end: int) -> tuple[int, int]:
    left = max(folded.rfind(ch, 0, start) for ch in ".!?;\n")
    rights = [i for i in (folded.find(ch, end) for ch in ".!?;\n") if i != -1]
    return left + 1, min(rights) if rights else len(folded)


_WEAK_MARKERS = _words(
    "pra para pro e ate tem tenho temos precisa preciso essa esta dessa desta nesta nessa"
)
_WEAK_PENALTY = 2


def is_preterite(word: str) -> bool:
    """Whether a folded word looks like a past-tense verb (demitiu, pagaram, neguei)."""
    return len(word) > 4 and word not in _NOT_VERBS and bool(_PRETERITE_RE.match(word))


def _tense_of(word: str, *, months: bool) -> bool | None:
    """True for a past marker, False for a future one, None for neither."""
    if word in _PAST_WORDS:
        return True
    if word in _FUTURE_WORDS and not (months and word in _WEAK_MARKERS):
        return False
    if word not in _NOT_VERBS and _PRETERITE_RE.match(word):
        return True
    return None


def leans_past(
    folded: str, start: int, end: int, *, default: bool | None = False, months: bool = False
) -> bool:
    """Whether the words around [start, end) put an undated day in the past rather than ahead.

    The nearest tense marker wins, looking a few words back and ahead ("desde sábado", "foi
    preso terça" are past; "na sexta vai ter", "marcada para quinta", "é sábado" are future);
    weak markers ("pra", "até", "é") count as farther away. With no marker near, `default`,
    or if it is None, whether the sentence has any past marker at all.
    """
    left, right = _sentence_bounds(folded, start, end)
    before = [m.group() for m in _TOKEN_RE.finditer(folded, left, start)]
    after = [m.group() for m in _TOKEN_RE.finditer(folded, end, right)]
    # "dei entrada no dia 20/03 e até hoje nada": what runs "até hoje" began in the past.
    if after[:2] in (["ate", "hoje"], ["ate", "agora"], ["e", "ate"]) and "hoje" in after[:3]:
        return True
    best: tuple[int, bool] | None = None
    for distance, word in [
        *((i + 1, w) for i, w in enumerate(reversed(before[-7:]))),
        *((i + 1, w) for i, w in enumerate(after[:4])),
    ]:
        tense = _tense_of(word, months=months)
        if tense is None:
            continue
        rank = distance + (_WEAK_PENALTY if word in _WEAK_MARKERS else 0)
        if best is None or rank < best[0]:
            best = (rank, tense)
    if best is not None:
        return best[1]
    if default is None:
        return any(_tense_of(w, months=True) for w in before + after)
    return default


def _nearest_year_date(submitted: date, month: int, day: int, past: bool | None) -> date | None:
    """The occurrence of day/month closest to the submission date, or the one the tense wants."""
    options = [
        d for d in (_safe_date(submitted.year + k, month, day) for k in (-1, 0, 1)) if d is not None
    ]
    if not options:
        return None
    if past is True:
        earlier = [d for d in options if d <= submitted]
        if earlier and (submitted - max(earlier)).days <= 300:
            return max(earlier)
    if past is False:
        later = [d for d in options if d >= submitted]
        if later and (min(later) - submitted).days <= 300:
            return min(later)
    return min(options, key=lambda d: abs((d - submitted).days))


def _add(
    found: list[TimeRef], text: str, start: int, end: int, days: int, kind: str, certainty: str
) -> None:
    if any(start < ref.end and ref.start < end for ref in found):
        return
    found.append(TimeRef(days, start, end, " ".join(text[start:end].split()), kind, certainty))


def _explicit_dates(text: str, folded: str, submitted: date, found: list[TimeRef]) -> None:
    for m in _DATE_FULL_RE.finditer(folded):
        day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        year += 2000 if year < 100 else 0
        when = _safe_date(year, month, day)
        if when:
            _add(found, text, m.start(), m.end(), (when - submitted).days, "date", EXACT)
    for m in _DATE_WRITTEN_RE.finditer(folded):
        day, month = int(m.group(1)), MONTHS[m.group(2)]
        if m.group(3):
            when = _safe_date(int(m.group(3)), month, day)
        else:
            when = _nearest_year_date(submitted, month, day, leans_past(folded, m.start(), m.end()))
        if when:
            _add(found, text, m.start(), m.end(), (when - submitted).days, "date", EXACT)
    for m in _DATE_SHORT_RE.finditer(folded):
        day, month = int(m.group(1)), int(m.group(2))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            continue
        when = _nearest_year_date(submitted, month, day, leans_past(folded, m.start(), m.end()))
        if when:
            _add(found, text, m.start(), m.end(), (when - submitted).days, "date", EXACT)
    for m in _MONTH_YEAR_RE.finditer(folded):
        month, year = MONTHS[m.group(1)], int(m.group(2))
        when = date(year, month, 15)
        _add(found, text, m.start(), m.end(), (when - submitted).days, "month", APPROX)


def _shift_month(submitted: date, months: int, day: int) -> date | None:
    index = submitted.year * 12 + submitted.month - 1 + months
    year, month = divmod(index, 12)
    return _safe_date(year, month + 1, min(day, calendar.monthrange(year, month + 1)[1]))


def _days_of_month(text: str, folded: str, submitted: date, found: list[TimeRef]) -> None:
    for m in _DAY_OF_MONTH_RE.finditer(folded):
        day = int(m.group(1))
        if not 1 <= day <= 31:
            continue
        tail = m.group(2) or ""
        if "passado" in tail:
            when = _shift_month(submitted, -1, day)
        elif "que vem" in tail or "q vem" in tail or "proximo" in tail:
            when = _shift_month(submitted, 1, day)
        elif tail:
            when = _shift_month(submitted, 0, day)
        elif day >= submitted.day:
            past = leans_past(folded, m.start(), m.end()) and day > submitted.day
            when = _shift_month(submitted, -1 if past else 0, day)
        else:
            past = leans_past(folded, m.start(), m.end())
            when = _shift_month(submitted, 0 if past else 1, day)
        if when:
            _add(found, text, m.start(), m.end(), (when - submitted).days, "date", INFERRED)


def _weekdays(text: str, folded: str, submitted: date, found: list[TimeRef]) -> None:
    for m in _WEEKDAY_RE.finditer(folded):
        name, feira = m.group(1), m.group(2)
        before = folded[max(0, m.start() - 12) : m.start()]
        after = folded[m.end() : m.end() + 12]
        # "segunda vez", "a quinta parte", "a segunda mulher": ordinals, not days. A bare name
        # is a day only after a word that introduces one ("na", "até", "desde", "é", ...).
        if not feira and (
            re.match(r"\s*(vez|via|instancia|fase|parte|serie|opcao|geracao|turma|vara)", after)
            or not (
                _WEEKDAY_LEAD_RE.search(before)
                or re.match(r"\s*(dia \d|de manha|a noite|a tarde|passad|que vem|q vem)", after)
            )
        ):
            continue
        target = WEEKDAYS[name]
        ahead = (target - submitted.weekday()) % 7
        if leans_past(folded, m.start(), m.end()):
            days = -((submitted.weekday() - target) % 7 or 7)
        else:
            days = ahead or 7
            if re.search(r"\b(proxim[oa]|que vem)\s*$", before) and days < 3:
                days += 7
        _add(found, text, m.start(), m.end(), days, "weekday", INFERRED)


def _durations(text: str, folded: str, found: list[TimeRef]) -> None:
    for m in _AGO_RE.finditer(folded):
        count = _number(m.group(1))
        # "ela faz 65 anos em fevereiro" is a birthday, not a time ago.
        if (
            m.group().startswith("faz")
            and m.group(2).startswith("ano")
            and (count or 0) >= _AGE_MIN_YEARS
            and re.match(r"\s+(em|no|de idade|agora|mes)\b", folded[m.end() :])
        ):
            continue
        if count is not None:
            days = max(1, count * _unit_days(m.group(2)))
            _add(found, text, m.start(), m.end(), -days, "ago", APPROX)
    for m in _AGO_AFTER_RE.finditer(folded):
        count = _number(m.group(1))
        if count is not None:
            days = max(1, count * _unit_days(m.group(2)))
            _add(found, text, m.start(), m.end(), -days, "ago", APPROX)
    for pattern in (_TERM_RE, _BARE_TERM_RE):
        for m in pattern.finditer(folded):
            groups = m.groups()
            count_word, unit, uteis = groups[-3], groups[-2], groups[-1]
            count = _number(count_word)
            if count is None or count == 0:
                continue
            lead = groups[0] if pattern is _TERM_RE else ""
            # "o prazo de recurso administrativo é de 5 dias úteis": the term names its word.
            before = folded[max(0, m.start() - 50) : m.start()]
            after = folded[m.end() : m.end() + 8]
            # "de 20 dias de uso", "tem 2 anos": a length or an age, unless a term is meant.
            if lead in _WEAK_LEADS and not (
                "prazo" in before or re.match(r"\s*(pra|para|p/)\b", after)
            ):
                continue
            unit_days = _unit_days(unit)
            days = count * unit_days if unit_days else -(-count // 24)
            if uteis:
                days = round(days * _BUSINESS_FACTOR)
            _add(
                found,
                text,
                m.start(),
                m.end(),
                max(days, 0 if unit_days == 0 else 1),
                "term",
                APPROX,
            )


# Spans read against the calendar: "esse mês" and "fim do mês" end with the month, "fim do
# ano" in December.
_THIS_MONTH_RE = re.compile(
    r"\b(?:(?:n|d)?(?:esse|este) mes|(?:no |ate o )?(?:fim|final) (?:do|deste|desse) mes)\b"
)
_END_OF_YEAR_RE = re.compile(r"\b(?:fim|final) (?:do|deste|desse) ano\b")


def _relatives(text: str, folded: str, submitted: date, found: list[TimeRef]) -> None:
    for pattern, days, certainty in _RELATIVE:
        for m in pattern.finditer(folded):
            _add(found, text, m.start(), m.end(), days, "relative", certainty)
    for m in _THIS_MONTH_RE.finditer(folded):
        # "não caiu esse mês" is now; "acaba esse mês" is by the month's end.
        days = 0 if leans_past(folded, m.start(), m.end()) else max(1, end_of_month(submitted))
        _add(found, text, m.start(), m.end(), days, "relative", APPROX)
    for m in _END_OF_YEAR_RE.finditer(folded):
        days = (date(submitted.year, 12, 15) - submitted).days
        _add(found, text, m.start(), m.end(), max(1, days), "relative", APPROX)


def _months_and_years(text: str, folded: str, submitted: date, found: list[TimeRef]) -> None:
    for m in _MONTH_ALONE_RE.finditer(folded):
        month = MONTHS[m.group(2)]
        start = m.start(2)
        year_hint = re.match(r"\s+(?:do|de)\s+ano\s+(passado|que vem|q vem)", folded[m.end() :])
        if year_hint:
            shift = -1 if year_hint.group(1) == "passado" else 1
            days = (date(submitted.year + shift, month, 15) - submitted).days
            _add(found, text, start, m.end() + year_hint.end(), days, "month", APPROX)
            continue
        if month == submitted.month:
            days = 0
        else:
            past = m.group(1) not in {"so em", "pra", "para"} and leans_past(
                folded, start, m.end(), default=None, months=True
            )
            year = submitted.year
            if past and month > submitted.month:
                year -= 1
            elif not past and month < submitted.month:
                year += 1
            days = (date(year, month, 15) - submitted).days
        _add(found, text, start, m.end(), days, "month", APPROX)
    for m in _YEAR_RE.finditer(folded):
        year = int(m.group(1))
        if year == submitted.year:
            continue
        days = (date(year, 7, 1) - submitted).days
        _add(found, text, m.start(1), m.end(), days, "year", APPROX)


def find_time_refs(text: str, submitted_at: date) -> list[TimeRef]:
    """Every time expression in the text, as days from `submitted_at`, in order of position."""
    folded = fold(text)
    found: list[TimeRef] = []
    _explicit_dates(text, folded, submitted_at, found)
    _days_of_month(text, folded, submitted_at, found)
    _weekdays(text, folded, submitted_at, found)
    _months_and_years(text, folded, submitted_at, found)
    _durations(text, folded, found)
    _relatives(text, folded, submitted_at, found)
    return sorted(found, key=lambda ref: ref.start)


def horizon(expression: str, submitted_at: date) -> int | None:
    """Days from `submitted_at` to the first time expression in `expression`, if any."""
    refs = find_time_refs(expression, submitted_at)
    return refs[0].days if refs else None


def end_of_month(submitted_at: date) -> int:
    """Days left in the submission's month."""
    last = calendar.monthrange(submitted_at.year, submitted_at.month)[1]
    return (date(submitted_at.year, submitted_at.month, last) - submitted_at).days


__all__ = [
    "MONTHS",
    "WEEKDAYS",
    "TimeRef",
    "end_of_month",
    "find_time_refs",
    "fold",
    "horizon",
    "leans_past",
]
