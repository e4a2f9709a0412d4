"""E-mail content for the product's notifications, rendered from Jinja2 templates.

Templates live in templates/email/<kind>.{subject.txt,txt,html}; HTML is autoescaped and a
missing context variable raises jinja2.UndefinedError instead of rendering an empty string.

Text that came from the submitter (a summary of the case, a file name) never goes into a
subject, and goes into a body only through `quoted`: control characters removed, whitespace
collapsed, links defused, cut to a short length (and escaped in HTML like everything else), so
that nobody can use our mail to send their own message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from backend.domain.labels import AREA_LABELS, URGENCY_LABELS

EMAIL_KINDS = (
    "triage_completed",
    "document_analysed",
    "report_ready",
    "task_failed",
    "batch_completed",
    "recipient_confirmation",  # carries no submitter text at all: only our own link
)

_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "email"
_SPACE_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_LINK_RE = re.compile(r"(?i)\b(https?|ftp)://|\bwww\.")
QUOTE_MAX = 200


def quoted(value: object, limit: int = QUOTE_MAX) -> str:
    """Submitter text fit for a body: one line, no control or direction characters, links
    defused (`https://x` becomes `https[:]//x`), at most `limit` characters."""
    text = _SPACE_RE.sub(" ", _CONTROL_RE.sub(" ", str(value))).strip()
    text = _LINK_RE.sub(
        lambda m: m.group(0).replace("://", "[:]//").replace("www.", "www[.]"), text
    )
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_DOC_TYPE_LABELS = {
    "peticao_inicial": "petição inicial",
    "contestacao": "contestação",
    "sentenca": "sentença",
    "acordao": "acórdão",
    "contrato": "contrato",
    "procuracao": "procuração",
    "boletim_ocorrencia": "boletim de ocorrência",
    "laudo_medico": "laudo médico",
    "comprovante": "comprovante",
    "outro": "outro",
}


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """A ready-to-send message: one-line subject, plain-text body and HTML body."""

    subject: str
    text: str
    html: str


def _label(labels: Mapping[str, str]) -> Callable[[object], str]:
    def to_label(code: object) -> str:
        return labels.get(str(code), str(code))

    return to_label


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(_TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["area_label"] = _label(AREA_LABELS)
    environment.filters["urgency_label"] = _label(URGENCY_LABELS)
    environment.filters["doc_type_label"] = _label(_DOC_TYPE_LABELS)
    environment.filters["quoted"] = quoted
    return environment


_ENVIRONMENT = _environment()


def _check_link(context: Mapping[str, object]) -> None:
    # A link is put in an href: anything but http(s) (javascript:, data:) would be a hazard.
    link = context.get("link")
    if link is not None and not str(link).startswith(("https://", "http://")):
        raise ValueError("link must be an http(s) URL")


def render_email(kind: str, context: Mapping[str, object]) -> RenderedEmail:
    """Render the e-mail of `kind` (one of EMAIL_KINDS) with `context`.

    Raises ValueError for an unknown kind or a non-http(s) link, and jinja2.UndefinedError
    when the context lacks a variable the templates use.
    """
    if kind not in EMAIL_KINDS:
        raise ValueError(f"unknown e-mail kind: {kind!r}")
    _check_link(context)
    values = dict(context)
    subject = _ENVIRONMENT.get_template(f"{kind}.subject.txt").render(values)
    return RenderedEmail(
        subject=_SPACE_RE.sub(" ", subject).strip(),
        text=_ENVIRONMENT.get_template(f"{kind}.txt").render(values),
        html=_ENVIRONMENT.get_template(f"{kind}.html").render(values),
    )
