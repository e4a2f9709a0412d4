"""Portuguese labels of the codes the triage produces, shared by e-mails and reports."""

from __future__ import annotations

AREA_LABELS = {
    "trabalhista": "Trabalhista",
    "consumidor": "Consumidor",
    "familia": "Família",
    "previdenciario": "Previdenciário",
    "criminal": "Criminal",
    "civil": "Cível",
    "tributario": "Tributário",
    "empresarial": "Empresarial",
    "imobiliario": "Imobiliário",
    "administrativo": "Administrativo",
    "outro": "Outro",
}
URGENCY_LABELS = {"low": "baixa", "normal": "normal", "high": "alta", "critical": "crítica"}
